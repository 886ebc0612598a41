"""The portal's API over httpx, with every failure turned into one clear sentence (no traceback)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

TIMEOUT_S = 30


class CliError(Exception):
    """A failure to show as is: a bad token, an unknown job, a refused request, the portal unreachable."""

    def __init__(self, message: str, problems: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.problems = problems or []


class Portal:
    """The portal's API at ``url``, called with a personal token."""

    def __init__(self, url: str, token: str, *, transport: httpx.BaseTransport | None = None):
        if not url:
            raise CliError("No portal address: run `hpo login` first (or set HPO_URL).")
        if not token:
            raise CliError("No API token: run `hpo login` first (or set HPO_TOKEN).")
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=f"{self.url}/api/v1/", timeout=TIMEOUT_S, transport=transport,
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})

    # -- paths --
    @staticmethod
    def job_path(project: str, name: str) -> str:
        return f"projects/{quote(project, safe='')}/jobs/{quote(name, safe='')}/"

    # -- calls --
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; CliError for any answer but a success."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise CliError(f"The portal at {self.url} did not answer within {TIMEOUT_S} s.") from None
        except httpx.HTTPError as exc:
            raise CliError(f"Cannot reach the portal at {self.url}: {exc}") from None
        if response.is_success:
            return response
        raise self._error(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v not in (None, "")}).json()

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.request("POST", path, json=body if body is not None else {}, headers=headers).json()

    def _error(self, response: httpx.Response) -> CliError:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = str(problem.get("detail") or response.reason_phrase or f"HTTP {response.status_code}")
        if response.status_code == 401:
            return CliError(f"The portal refused the token: {detail} Run `hpo login` with a valid token.")
        if response.status_code == 403:
            return CliError(f"Not allowed: {detail}")
        if response.status_code == 404:
            return CliError(f"Not found: {detail}.")
        errors = problem.get("errors") if isinstance(problem.get("errors"), list) else []
        return CliError(detail, [e for e in errors if isinstance(e, dict)])
