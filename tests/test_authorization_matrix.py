"""Every URL pattern of the portal, requested as every persona.

The patterns come from the URL resolver, not a hand-kept list: a new view must get a row in
EXPECTED below, and the generic rules (anonymous users are sent to log in; outsiders get 404
under /projects/<slug>/) are checked for it whatever the row says.
"""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .conftest import PERSONAS

LOGIN = "/accounts/login/"

# name: (method, {persona: expected status}); 302 means "redirected" (to the page or to log in).
EXPECTED: dict[str, tuple[str, dict[str, int]]] = {
    "login": ("GET", {"owner": 302, "member": 302, "outsider": 302, "anonymous": 200, "admin": 302}),
    "logout": ("POST", {"owner": 302, "member": 302, "outsider": 302, "anonymous": 302, "admin": 302}),
    "healthz": ("GET", {"owner": 200, "member": 200, "outsider": 200, "anonymous": 200, "admin": 200}),
    # Browsers post CSP violation reports from any page, the login page included.
    "csp_report": ("POST", {"owner": 204, "member": 204, "outsider": 204, "anonymous": 204, "admin": 204}),
    "site_settings": ("GET", {"owner": 403, "member": 403, "outsider": 403, "anonymous": 302, "admin": 200}),
    "projects:list": ("GET", {"owner": 200, "member": 200, "outsider": 200, "anonymous": 302, "admin": 200}),
    "projects:create": ("GET", {"owner": 200, "member": 200, "outsider": 200, "anonymous": 302, "admin": 200}),
    "projects:detail": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "projects:member_add": ("POST", {"owner": 400, "member": 403, "outsider": 404, "anonymous": 302, "admin": 400}),
    "projects:member_role": ("POST", {"owner": 302, "member": 403, "outsider": 404, "anonymous": 302, "admin": 302}),
    "projects:member_remove": ("POST", {"owner": 302, "member": 403, "outsider": 404, "anonymous": 302, "admin": 302}),
    "hpo_jobs:list": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    # Staff read every project but create jobs only where they are members.
    "hpo_jobs:create": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 403}),
    "hpo_jobs:import": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 403}),
    "hpo_jobs:detail": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    # The job was created by alice (owner): bob, a member who did not create it, may not stop it.
    "hpo_jobs:stop": ("POST", {"owner": 302, "member": 403, "outsider": 404, "anonymous": 302, "admin": 302}),
    "hpo_jobs:clone": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 403}),
    # No job named: the page says how to choose some (a named job the persona may not see is a 404).
    "hpo_jobs:compare": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    # The matrix job has too few evaluated training jobs for narrowed ranges: back to its insights tab.
    "hpo_jobs:clone_narrowed": ("GET", {"owner": 302, "member": 302, "outsider": 404, "anonymous": 302, "admin": 403}),
    "hpo_jobs:request_json": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "hpo_jobs:training_jobs_csv": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "hpo_jobs:training_job": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "hpo_jobs:job_header_part": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "hpo_jobs:job_overview_part": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "hpo_jobs:training_jobs_part": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "hpo_jobs:job_charts_part": ("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 302, "admin": 200}),
    "api_tokens": ("GET", {"owner": 200, "member": 200, "outsider": 200, "anonymous": 302, "admin": 200}),
    # The token is dave's: only staff may revoke someone else's (others cannot tell it exists).
    "api_token_revoke": ("POST", {"owner": 404, "member": 404, "outsider": 404, "anonymous": 302, "admin": 302}),
}


def _patterns(resolvers=None, prefix: str = "", namespace: str | None = None):
    """Yield (qualified name, route) for every named pattern, admin's own pages excepted."""
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns == "admin":
                continue  # Django's admin has its own staff check; tested once below
            if ns == "api":
                continue  # the JSON API answers 401, not a login page: tests/test_api_authorization.py
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern) and entry.name:
            qualified = f"{namespace}:{entry.name}" if namespace else entry.name
            yield qualified, prefix + str(entry.pattern)


ALL_PATTERNS = sorted(dict(_patterns()).items())


def test_every_url_pattern_has_expectations():
    missing = [name for name, _ in ALL_PATTERNS if name not in EXPECTED]
    assert not missing, f"Add these URL names to EXPECTED (with their access rules): {missing}"


def _url(name: str, route: str, world: dict) -> str:
    from django.urls import get_resolver

    kwargs = {key: world[key] for key in world if f"<{key}>" in route or f":{key}>" in route}
    return reverse(name, kwargs=kwargs)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name,route", ALL_PATTERNS, ids=[n for n, _ in ALL_PATTERNS])
def test_access(name, route, persona, persona_clients, world):
    method, expected = EXPECTED[name]
    url = _url(name, route, world)
    client = persona_clients[persona]
    response = client.post(url, {}) if method == "POST" else client.get(url)

    # The generic rules hold for every page, whatever EXPECTED says.
    if persona == "anonymous" and name not in {"login", "healthz", "logout", "csp_report"}:
        assert response.status_code == 302 and response["Location"].startswith(LOGIN), (name, response.status_code)
    if persona == "outsider" and route.startswith("projects/<slug:slug>/"):
        assert response.status_code == 404, (name, response.status_code)
    assert response.status_code == expected[persona], (name, persona, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("persona,status", [("owner", 302), ("member", 302), ("outsider", 302), ("anonymous", 302), ("admin", 200)])
def test_django_admin_is_staff_only(persona, status, persona_clients):
    response = persona_clients[persona].get("/admin/")
    assert response.status_code == status
    if status == 302:
        assert "/login/" in response["Location"]


@pytest.mark.django_db
def test_outsider_cannot_tell_a_project_exists(persona_clients, project):
    hidden = persona_clients["outsider"].get(f"/projects/{project.slug}/")
    absent = persona_clients["outsider"].get("/projects/no-such-project/")
    assert hidden.status_code == absent.status_code == 404
    assert project.name.encode() not in hidden.content


@pytest.mark.django_db
def test_project_list_shows_only_my_projects(persona_clients, project):
    from projects.models import Project

    Project.objects.create(name="Secret", slug="secret")
    assert b"Demo" in persona_clients["member"].get("/projects/").content
    assert b"Secret" not in persona_clients["member"].get("/projects/").content
    outsider = persona_clients["outsider"].get("/projects/").content
    assert b"Demo" not in outsider and b"Secret" not in outsider
    staff = persona_clients["admin"].get("/projects/").content
    assert b"Demo" in staff and b"Secret" in staff
