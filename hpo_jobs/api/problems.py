"""Errors as RFC 9457 problem details (``application/problem+json``), for every API error."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Problem types with their own meaning; any other error is "about:blank" (its HTTP status says it all).
INVALID_REQUEST = "urn:hpo-portal:problem:invalid-request"
NAME_TAKEN = "urn:hpo-portal:problem:name-taken"
IDEMPOTENCY_CONFLICT = "urn:hpo-portal:problem:idempotency-key-reused"
JOB_ENDED = "urn:hpo-portal:problem:job-ended"


class Problem(exceptions.APIException):
    """An API error with a problem type and, for a refused request, each problem at its JSON path."""

    def __init__(self, status_code: int, detail: str, *, type: str = "about:blank",
                 errors: list[dict[str, str]] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.type = type
        self.errors = errors


def refused(errors: list[tuple[str, str]], detail: str | None = None) -> Problem:
    """422: the request breaks the import page's rules; ``errors`` are (JSON path, message) pairs."""
    items = [{"path": path, "message": message} for path, message in errors]
    return Problem(status.HTTP_422_UNPROCESSABLE_ENTITY,
                   detail or f"The request was refused: {len(items)} problem{'s' if len(items) != 1 else ''}.",
                   type=INVALID_REQUEST, errors=items)


def _flatten(data: Any, path: str = "") -> list[dict[str, str]]:
    """DRF's nested validation errors as a flat list of {path, message}."""
    if isinstance(data, dict):
        out = []
        for key, value in data.items():
            key_path = path if key in ("non_field_errors", "detail") else (f"{path}.{key}" if path else str(key))
            out.extend(_flatten(value, key_path))
        return out
    if isinstance(data, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in data):
            return [{"path": path, "message": str(item)} for item in data]
        out = []
        for index, item in enumerate(data):
            out.extend(_flatten(item, f"{path}[{index}]"))
        return out
    return [{"path": path, "message": str(data)}]


def exception_handler(exc: Exception, context: dict[str, Any]):
    """DRF's handler, with its response turned into a problem details document."""
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = response.status_code
    title = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": code}
    if isinstance(exc, Problem):
        body["type"] = exc.type
        body["detail"] = str(exc.detail)
        if exc.errors is not None:
            body["errors"] = exc.errors
    elif isinstance(exc, exceptions.ValidationError):
        body["type"] = INVALID_REQUEST
        body["errors"] = _flatten(response.data)
        body["detail"] = "; ".join(f"{e['path']}: {e['message']}" if e["path"] else e["message"]
                                   for e in body["errors"]) or "The request is not valid."
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        body["detail"] = str(detail) if detail else title
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response
