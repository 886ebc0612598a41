"""Web hardening: login lockout, secrets on the DEBUG error page, the Content-Security-Policy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from .conftest import PASSWORD

LOGIN = "/accounts/login/"


def _log_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def _logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/projects/"


# --- login lockout -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_user_out_with_a_clear_message(alice, bob):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = _log_in(client, "alice", "wrong")
        assert response.status_code == 200 and "enter a correct username and password" in response.content.decode()
    assert _log_in(client, "alice", "wrong").status_code == 429  # the fifth failure locks

    refused = _log_in(client, "alice", PASSWORD)
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "Too many failed logins for “alice” from your address" in text
    assert "Try again in 30 minutes" in text
    assert "ask a site admin (staff) to unlock you" in text
    assert "_auth_user_id" not in client.session

    # Another user at the same address is not locked out.
    assert _logged_in(_log_in(Client(), "bob", PASSWORD))


@pytest.mark.django_db
def test_a_success_before_the_limit_clears_the_count(alice):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(client, "alice", "wrong")
    assert _logged_in(_log_in(client, "alice", PASSWORD))
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(client, "alice", "wrong")
    assert _logged_in(_log_in(client, "alice", PASSWORD))


@pytest.mark.django_db
def test_the_lockout_is_per_address(alice):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(Client(REMOTE_ADDR="203.0.113.7"), "alice", "wrong")
    assert _log_in(Client(REMOTE_ADDR="203.0.113.7"), "alice", PASSWORD).status_code == 429
    assert _logged_in(_log_in(Client(REMOTE_ADDR="198.51.100.9"), "alice", PASSWORD))


@pytest.mark.django_db
def test_the_limit_comes_from_the_setting(alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    _log_in(client, "alice", "wrong")
    _log_in(client, "alice", "wrong")
    refused = _log_in(client, "alice", PASSWORD)
    assert refused.status_code == 429 and "(2 wrong passwords in a row)" in refused.content.decode()


@pytest.mark.django_db
def test_staff_unlock_with_the_management_command(alice):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, "alice", "wrong")
    assert _log_in(client, "alice", PASSWORD).status_code == 429

    call_command("axes_reset_username", "alice")
    assert _logged_in(_log_in(client, "alice", PASSWORD))


@pytest.mark.django_db
def test_staff_unlock_in_the_django_admin(alice, admin_client_):
    from axes.models import AccessAttempt

    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, "alice", "wrong")
    assert _log_in(client, "alice", PASSWORD).status_code == 429

    listing = admin_client_.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "alice" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="alice")
    response = admin_client_.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert _logged_in(_log_in(client, "alice", PASSWORD))


@pytest.mark.django_db
def test_members_cannot_see_or_clear_lockouts(alice_client):
    assert alice_client.get("/admin/axes/accessattempt/").status_code == 302


# --- the DEBUG error page ------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_debug_error_page_hides_passwords_inside_urls(alice, project, make_job, settings):
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = "redis://:broker-s3cret@redis.internal:6379/0"
    settings.DATABASE_URL = "postgres://hpo:db-s3cret@postgres.internal:5432/hpo"
    settings.SENTRY_DSN = "https://public@o0.ingest.example.com/1"
    make_job("boom")
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    with mock.patch("hpo_jobs.pages.views._get_job", side_effect=RuntimeError("kaboom")):
        # Under runserver the process environment is in the request's META.
        response = client.get("/projects/demo/hpo-jobs/boom/", REDIS_URL="redis://:env-s3cret@redis.internal:6379/1",
                              HTTP_ACCEPT="text/html")
    assert response.status_code == 500
    page = response.content.decode()
    assert "kaboom" in page and "CELERY_BROKER_URL" in page and "REDIS_URL" in page  # the technical page
    for secret in ("broker-s3cret", "db-s3cret", "env-s3cret", "o0.ingest.example.com"):
        assert secret not in page, secret
    assert "redis://:********************@redis.internal:6379/0" in page
    assert "postgres://hpo:********************@postgres.internal:5432/hpo" in page


def test_the_filter_leaves_urls_without_a_password_alone():
    from hpo_portal.debug import PortalExceptionReporterFilter

    cleanse = PortalExceptionReporterFilter().cleanse_setting
    assert cleanse("PORTAL_BASE_URL", "http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert cleanse("X", "see amqp://guest:pw@mq/vhost and s3://bucket/key") == (
        "see amqp://guest:********************@mq/vhost and s3://bucket/key")
    assert cleanse("BROKERS", {"a": ["redis://u:p@h/0"]}) == {"a": ["redis://u:********************@h/0"]}


# --- Content-Security-Policy ---------------------------------------------------------------------
@pytest.mark.django_db
def test_every_page_carries_a_strict_csp(alice_client, anon_client, project):
    for client, url in ((anon_client, LOGIN), (alice_client, "/projects/demo/")):
        policy = client.get(url)["Content-Security-Policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
        assert directives["default-src"] == ["'self'"]
        assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
        assert directives["report-uri"] == ["/csp-report/"]
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


TEMPLATES = Path(settings.BASE_DIR) / "templates"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_inline_script_handler_or_style(path):
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), "an inline <script>: move it to static/js/"
    assert not re.search(r"\son[a-z]+\s*=", text), "an on*= handler: attach it from static/js/"
    assert not re.search(r"\sstyle\s*=|<style", text), "an inline style: move it to static/css/portal.css"
    assert "javascript:" not in text


@pytest.mark.django_db
def test_the_report_endpoint_logs_a_violation(anon_client, caplog):
    report = {"csp-report": {"document-uri": "http://portal/projects/", "violated-directive": "script-src-elem",
                             "blocked-uri": "inline"}}
    with caplog.at_level("WARNING", logger="hpo_portal.csp"):
        response = anon_client.post("/csp-report/", json.dumps(report), content_type="application/csp-report")
    assert response.status_code == 204
    assert "CSP violation: script-src-elem blocked inline on http://portal/projects/" in caplog.text


@pytest.mark.django_db
def test_the_report_endpoint_shrugs_off_garbage(anon_client):
    for body in (b"", b"not json", b"[1, 2]", b'{"csp-report": "x"}', b"x" * 100_000):
        assert anon_client.post("/csp-report/", body, content_type="application/csp-report").status_code == 204
