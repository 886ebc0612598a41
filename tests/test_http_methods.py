"""OPTIONS, PUT, PATCH and DELETE on every URL of the portal, as every persona.

The URLs come from the resolver (every pattern, named or not, Django's admin excepted: it has its
own staff login and method handling), each converter filled with a real object of the test data.
No answer is a 500; a method a view does not serve is a 405 (anonymous visitors are sent to log
in first, and an outsider gets the same answer under a project as for a project that does not
exist). The JSON API answers an anonymous caller 401 instead of a redirect (its schema and docs are
public), and any other address under it 404, whatever the method.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from .conftest import PERSONAS

LOGIN = "/accounts/login/"
METHODS = ("OPTIONS", "PUT", "PATCH", "DELETE")
# Open to anonymous visitors: LoginRequiredMiddleware lets them through to the view.
PUBLIC = {"accounts/login/", "healthz", "csp-report/"}
API = "api/v1/"
API_PUBLIC = {"api/v1/schema/", "api/v1/docs/"}
API_ANY_OTHER = "api/v1/^.*$"  # the API's catch-all: a problem 404 for every method
PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<key>[^>]+)>")


def _routes(patterns=None, prefix: str = ""):
    """Every route of the URL configuration, as path() strings, admin's pages excepted."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


ROUTES = sorted(set(_routes()))


def _fill(route: str, world: dict) -> str:
    return "/" + PARAM.sub(lambda m: str(world[m["key"]]), route)


def test_every_route_can_be_filled(world):
    unknown = sorted({m["key"] for route in ROUTES for m in PARAM.finditer(route)} - set(world))
    assert not unknown, f"Give these URL parameters a value in the world fixture: {unknown}"
    assert "projects/<slug:slug>/hpo-jobs/create/" in ROUTES and "" in ROUTES


def _send(client, method: str, url: str):
    return client.generic(method, url, data="{}", content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("route", ROUTES, ids=[r or "/" for r in ROUTES])
def test_unserved_methods_are_405_never_500(route, method, persona, persona_clients, world):
    client = persona_clients[persona]
    response = _send(client, method, _fill(route, world))
    status = response.status_code
    assert status < 500, (route, method, persona, status)

    if route == API_ANY_OTHER:
        assert status == 404 and response["Content-Type"] == "application/problem+json", (method, persona, status)
        return
    if persona == "anonymous" and route.startswith(API) and route not in API_PUBLIC:
        assert status == 401, (route, method, status)
        return
    if persona == "anonymous" and route not in PUBLIC | API_PUBLIC:
        assert status == 302 and response["Location"].startswith(LOGIN), (route, method, status)
        return
    if persona == "outsider" and route.startswith("projects/<slug:slug>/"):
        elsewhere = _send(client, method, _fill(route, {**world, "slug": "no-such-project"}))
        assert status in {404, 405} and status == elsewhere.status_code, (route, method, status)
        return
    if method == "OPTIONS":
        # A class-based view answers OPTIONS itself, naming what it serves; other views refuse it.
        assert status in {200, 405}, (route, persona, status)
        if status == 200:
            assert {"PUT", "PATCH", "DELETE"}.isdisjoint(m.strip() for m in response["Allow"].split(","))
        return
    assert status == 405, (route, method, persona, status)
    assert method not in response["Allow"]


@pytest.mark.django_db
def test_options_on_the_create_and_clone_pages_is_not_a_500(alice_client, world):
    for route in ("projects/<slug:slug>/hpo-jobs/create/", "projects/<slug:slug>/hpo-jobs/<name:name>/clone/"):
        response = alice_client.options(_fill(route, world))
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD, POST"
