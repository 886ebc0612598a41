"""The API tokens page: make, name and revoke a personal token; staff see and revoke everyone's."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from hpo_jobs.api.models import ApiToken

pytestmark = pytest.mark.django_db

URL = "/account/tokens/"


def _secret(response) -> str:
    match = re.search(r'id="new-token">(hpo_[^<]+)<', response.content.decode())
    assert match, "the new token is shown"
    return match.group(1)


def test_a_new_token_is_shown_once_and_works_as_its_user(bob_client, bob, project):
    response = bob_client.post(URL, {"name": "laptop", "days": "30"})
    assert response.status_code == 200
    secret = _secret(response)
    token = ApiToken.objects.get()
    assert token.user == bob and token.name == "laptop" and token.digest != secret
    assert abs(token.expires_at - timezone.now() - timedelta(days=30)) < timedelta(minutes=1)
    again = bob_client.get(URL).content.decode()
    assert secret not in again and "laptop" in again and f"hpo_{token.key_id}_…" in again
    projects = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/projects/").json()
    assert [p["slug"] for p in projects] == ["demo"]


def test_the_expiry_defaults_to_90_days(bob_client):
    assert 'value="90"' in bob_client.get(URL).content.decode()


@pytest.mark.parametrize("data,field_message", [
    ({"name": "", "days": "30"}, "This field is required."),
    ({"name": "   ", "days": "30"}, "This field is required."),
    ({"name": "x", "days": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"name": "x", "days": "366"}, "Ensure this value is less than or equal to 365."),
    ({"name": "x", "days": "soon"}, "Enter a whole number."),
    ({"name": "x" * 101, "days": "30"}, "Ensure this value has at most 100 characters"),
])
def test_bad_input_is_a_message_next_to_its_field_and_saves_nothing(bob_client, data, field_message):
    response = bob_client.post(URL, data)
    assert response.status_code == 400
    assert field_message in response.content.decode().replace("&#x27;", "'")
    assert not ApiToken.objects.exists()


def test_a_user_revokes_their_own_token_and_it_stops_working(bob_client, bob, project):
    token, secret = ApiToken.issue(bob, "ci", 90)
    response = bob_client.post(f"{URL}{token.pk}/revoke/")
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/projects/").status_code == 401
    assert "revoked" in bob_client.get(URL).content.decode()


def test_nobody_sees_or_revokes_another_users_token(bob_client, alice, charlie_client):
    token, _ = ApiToken.issue(alice, "alices-secret-name", 90)
    assert "alices-secret-name" not in bob_client.get(URL).content.decode()
    assert charlie_client.post(f"{URL}{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_staff_see_and_revoke_everyones_tokens(admin_client_, alice):
    token, _ = ApiToken.issue(alice, "alices-laptop", 90)
    page = admin_client_.get(URL).content.decode()
    assert "alices-laptop" in page and "alice" in page
    assert admin_client_.post(f"{URL}{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_staff_revoke_from_the_admin_too(admin_client_, alice):
    token, _ = ApiToken.issue(alice, "old", 90)
    response = admin_client_.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_nav_links_to_the_tokens_page(bob_client, project):
    assert 'href="/account/tokens/"' in bob_client.get("/projects/").content.decode()
