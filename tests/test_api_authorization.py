"""Every API route, from the URL resolver, as every persona: with a token, with the session, with
no credentials, and with an expired or a revoked token.

The API follows the pages' access rules (projects/access.py): an outsider gets 404 for anything of
a project, staff read every project but create and clone only where they are members. Where the
pages send an anonymous visitor to log in, the API answers 401.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from hpo_jobs.api.models import ApiToken

from .conftest import PERSONAS

READ = {"owner": 200, "member": 200, "outsider": 404, "anonymous": 401, "admin": 200}
EVERYONE_SIGNED_IN = {"owner": 200, "member": 200, "outsider": 200, "anonymous": 401, "admin": 200}
PUBLIC = {persona: 200 for persona in PERSONAS}

# URL name: [(method, {persona: status})]. The matrix job is in progress and alice (owner) made it.
EXPECTED: dict[str, list[tuple[str, dict[str, int]]]] = {
    "api:projects": [("GET", EVERYONE_SIGNED_IN)],
    "api:jobs": [
        ("GET", READ),
        # An empty body is refused (400) where creating is allowed at all.
        ("POST", {"owner": 400, "member": 400, "outsider": 404, "anonymous": 401, "admin": 403}),
    ],
    "api:job": [("GET", READ)],
    # bob is a member who did not create the job: he may not stop it.
    "api:job_stop": [("POST", {"owner": 202, "member": 403, "outsider": 404, "anonymous": 401, "admin": 202})],
    "api:job_clone": [("GET", {"owner": 200, "member": 200, "outsider": 404, "anonymous": 401, "admin": 403})],
    "api:job_request": [("GET", READ)],
    "api:training_jobs": [("GET", READ)],
    "api:training_jobs_csv": [("GET", READ)],
    "api:training_job": [("GET", READ)],
    "api:catalogue": [("GET", EVERYONE_SIGNED_IN)],
    "api:schema": [("GET", PUBLIC)],
    "api:docs": [("GET", PUBLIC)],
}
UNAUTHENTICATED_ROUTES = {"api:schema", "api:docs"}  # no credentials read or needed


def _api_patterns(entries=None, prefix: str = "", namespace: str | None = None):
    for entry in entries if entries is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern) and entry.name and namespace == "api":
            yield f"api:{entry.name}", prefix + str(entry.pattern)


API_ROUTES = sorted(dict(_api_patterns()).items())
CASES = [(name, route, method, expected) for name, route in API_ROUTES for method, expected in EXPECTED.get(name, [])]


def test_every_api_route_has_expectations():
    missing = [name for name, _ in API_ROUTES if name not in EXPECTED]
    assert API_ROUTES and not missing, f"Add these API routes to EXPECTED: {missing}"


@pytest.fixture
def world(project, make_job, alice, bob, charlie, admin_user):
    job = make_job("matrix-job", children=1, status="InProgress", launch_attempts=1)
    return {
        "slug": project.slug,
        "name": job.name,
        "training_job_name": job.training_jobs.get().name,
        "users": {"owner": alice, "member": bob, "outsider": charlie, "anonymous": None, "admin": admin_user},
    }


def _url(route: str, name: str, world: dict) -> str:
    kwargs = {key: world[key] for key in ("slug", "name", "training_job_name") if f":{key}>" in route}
    return reverse(name, kwargs=kwargs)


def _call(client: Client, method: str, url: str):
    if method == "POST":
        return client.post(url, "{}", content_type="application/json")
    return client.get(url)


def _token_client(user, **fields) -> Client:
    token, text = ApiToken.issue(user, "matrix", 90)
    if fields:
        ApiToken.objects.filter(pk=token.pk).update(**fields)
    return Client(HTTP_AUTHORIZATION=f"Bearer {text}")


@pytest.mark.django_db
@pytest.mark.parametrize("credentials", ["token", "session"])
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name,route,method,expected", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_access(name, route, method, expected, persona, credentials, world):
    user = world["users"][persona]
    if user is None:
        client = Client()
    elif credentials == "token":
        client = _token_client(user)
    else:
        client = Client()
        client.force_login(user)
    response = _call(client, method, _url(route, name, world))
    assert response.status_code == expected[persona], (name, method, persona, credentials, response.content[:300])
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
    if persona == "anonymous" and name not in UNAUTHENTICATED_ROUTES:
        assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["expired", "revoked"])
@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "anonymous"])
@pytest.mark.parametrize("name,route,method,expected", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_an_expired_or_revoked_token_opens_nothing(name, route, method, expected, persona, state, world):
    fields = ({"expires_at": timezone.now() - timedelta(minutes=1)} if state == "expired"
              else {"revoked_at": timezone.now()})
    response = _call(_token_client(world["users"][persona], **fields), method, _url(route, name, world))
    if name in UNAUTHENTICATED_ROUTES:
        assert response.status_code == 200
    else:
        assert response.status_code == 401, (name, method, persona, state)
        assert response.json()["detail"] in ("This API token has expired; create a new one.",
                                             "This API token has been revoked.")


@pytest.mark.django_db
def test_an_outsider_cannot_tell_a_project_exists(world):
    client = _token_client(world["users"]["outsider"])
    hidden = client.get("/api/v1/projects/demo/jobs/")
    absent = client.get("/api/v1/projects/no-such-project/jobs/")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json() == absent.json()


@pytest.mark.django_db
def test_a_token_acts_with_its_users_rights_only(world):
    """A member's token cannot stop someone else's job, even though the owner's session could."""
    bob_token = _token_client(world["users"]["member"])
    assert bob_token.post("/api/v1/projects/demo/jobs/matrix-job/stop/").status_code == 403
    from hpo_jobs.models import HpoJob

    assert HpoJob.objects.get(name="matrix-job").status == "InProgress"
