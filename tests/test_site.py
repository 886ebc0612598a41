"""Site-wide behaviour: login required, /healthz, production settings, seed_demo, site settings."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest import mock

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from hpo_jobs.models import EngineHealth, HpoJob, SiteSettings
from projects.models import Membership, Project


@pytest.mark.django_db
def test_every_page_but_login_and_healthz_requires_login(anon_client):
    assert anon_client.get("/projects/").status_code == 302
    assert anon_client.get("/projects/")["Location"].startswith("/accounts/login/?next=/projects/")
    assert anon_client.get("/accounts/login/").status_code == 200
    assert anon_client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_to_staff(admin_client_):
    body = admin_client_.get("/healthz").json()
    assert body == {"status": "ok", "database": {"ok": True, "detail": "ok"}, "broker": {"ok": True, "detail": "ok"}}


@pytest.mark.django_db
def test_healthz_gives_anyone_else_the_status_only(anon_client, alice_client):
    from hpo_portal.celery import app

    assert anon_client.get("/healthz").json() == {"status": "ok"}
    assert alice_client.get("/healthz").json() == {"status": "ok"}
    with mock.patch.object(app, "connection_for_write", side_effect=OSError("Connection refused to redis:6379")):
        response = anon_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert b"redis" not in response.content and b"6379" not in response.content


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(admin_client_):
    from hpo_portal.celery import app

    with mock.patch.object(app, "connection_for_write", side_effect=OSError("Connection refused")):
        response = admin_client_.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["broker"]["ok"] is False
    assert "Connection refused" in body["broker"]["detail"]
    assert body["database"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_down(anon_client, caplog):
    from django.db import connection

    # With the database down no session can be read (a probe sends none); the detail goes to the log.
    with mock.patch.object(connection, "cursor", side_effect=OSError("db gone")), caplog.at_level("WARNING"):
        response = anon_client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert '"database": {"ok": false, "detail": "OSError: db gone"}' in caplog.text


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=settings.BASE_DIR, env=full_env, capture_output=True, text=True
    )


def test_production_settings_pass_check_deploy():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY="x" * 30 + "-production-like-secret-key-0123456789", ALLOWED_HOSTS="portal.example.com",
        SECURE_SSL_REDIRECT="1", SESSION_COOKIE_SECURE="1", CSRF_COOKIE_SECURE="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_settings_refuse_to_start_without_a_secret_key_in_production():
    result = _manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_fail_loudly_on_a_bad_value():
    result = _manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="refuses to run with DEBUG off"):
        call_command("seed_demo")
    assert not Project.objects.exists()


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_login(settings, tmp_path, capsys, django_user_model):
    settings.DEMO_PASSWORD = "s3cret-demo"
    settings.HPO_LOCAL_DATA_DIRS = [tmp_path]
    call_command("seed_demo", "--force")
    call_command("seed_demo", "--force")
    out = capsys.readouterr().out
    assert "s3cret-demo" in out and "alice" in out
    project = Project.objects.get(slug="demo")
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"alice": "owner", "bob": "member"}
    assert django_user_model.objects.get(username="admin").is_staff
    assert not Membership.objects.filter(user__username="charlie").exists()
    assert django_user_model.objects.get(username="alice").check_password("s3cret-demo")
    assert django_user_model.objects.count() == 4
    assert (tmp_path / "demo" / "breast-cancer" / "train").is_dir()


@pytest.mark.django_db
def test_staff_change_site_settings(admin_client_):
    response = admin_client_.post(
        "/settings/",
        {"ecr_enabled": "on", "ecr_allowed": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/\n",
         "instance_types": "ml.m5.large\nml.m5.large\nml.c5.xlarge"},
    )
    assert response.status_code == 302
    site = SiteSettings.load()
    assert site.ecr_enabled
    assert site.ecr_allowed_list == ["123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/"]
    assert site.instance_type_list == ["ml.m5.large", "ml.c5.xlarge"]


@pytest.mark.django_db
def test_site_settings_reject_bad_lines_next_to_the_field(admin_client_):
    response = admin_client_.post(
        "/settings/", {"ecr_enabled": "on", "ecr_allowed": "docker.io/evil", "instance_types": "big-machine"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not understood: docker.io/evil" in html
    assert "Not understood: big-machine" in html
    assert not SiteSettings.load().ecr_enabled


@pytest.mark.django_db
def test_staff_cannot_rewrite_a_jobs_stored_request_in_the_admin(admin_client_, make_job):
    job = make_job("admin-job")
    page = admin_client_.get(f"/admin/hpo_jobs/hpojob/{job.pk}/change/").content.decode()
    assert 'name="request"' not in page
    assert "HyperParameterTuningJobName" in page  # shown, read-only


@pytest.mark.django_db
def test_staff_cannot_change_a_jobs_status_in_the_admin(admin_client_, make_job):
    job = make_job("admin-status", status=HpoJob.Status.IN_PROGRESS, children=1)
    url = f"/admin/hpo_jobs/hpojob/{job.pk}/change/"
    page = admin_client_.get(url).content.decode()
    assert 'name="status"' not in page and 'name="_save"' not in page
    response = admin_client_.post(url, {
        "project": job.project_id, "created_by": job.created_by_id, "name": job.name, "backend": "local",
        "strategy": "Bayesian", "status": "Completed", "failure_reason": "edited", "completed_count": "99",
        "best_objective_value": "1.0", "launch_attempts": "0", "engine_error_count": "0", "request": "{}",
    })
    assert response.status_code == 403
    job.refresh_from_db()
    assert (job.status, job.failure_reason, job.completed_count, job.best_objective_value) == (
        HpoJob.Status.IN_PROGRESS, "", 0, None)
    assert job.request["HyperParameterTuningJobName"] == "admin-status"
    child = job.training_jobs.get()
    response = admin_client_.post(f"/admin/hpo_jobs/trainingjob/{child.pk}/change/", {
        "hpo_job": job.pk, "name": child.name, "status": "Failed", "objective_value": "0"})
    assert response.status_code == 403
    child.refresh_from_db()
    assert (child.status, child.objective_value) == ("Completed", 0.5)
    assert admin_client_.post("/admin/hpo_jobs/hpojob/add/", {"name": "forged"}).status_code == 403
    assert not HpoJob.objects.filter(name="forged").exists()


@pytest.mark.django_db
def test_the_admin_pages_answer(admin_client_, make_job):
    job = make_job("admin-pages", children=2)
    SiteSettings.load()
    EngineHealth.objects.create(backend="local", ok=True)
    for url in ("/admin/", "/admin/hpo_jobs/hpojob/", f"/admin/hpo_jobs/hpojob/{job.pk}/change/",
                "/admin/hpo_jobs/trainingjob/", f"/admin/hpo_jobs/trainingjob/{job.training_jobs.first().pk}/change/",
                "/admin/hpo_jobs/sitesettings/", "/admin/hpo_jobs/sitesettings/1/change/",
                "/admin/hpo_jobs/enginehealth/", "/admin/hpo_jobs/enginehealth/local/change/",
                "/admin/projects/project/", "/admin/hpo_jobs/hpojob/?status__exact=InProgress"):
        assert admin_client_.get(url).status_code == 200, url


@pytest.mark.django_db
def test_the_settings_page_saves_the_state_seed_demo_creates(admin_client_, django_user_model, settings, tmp_path):
    settings.HPO_LOCAL_DATA_DIRS = [tmp_path]
    call_command("seed_demo", "--force")
    admin_client_.force_login(django_user_model.objects.get(username="admin"))  # seed_demo set a new password
    site = SiteSettings.load()
    assert site.ecr_enabled and not site.ecr_allowed_list  # the seeded state: ECR on, no registries listed
    response = admin_client_.post("/settings/", {"ecr_enabled": "on", "ecr_allowed": "",
                                                 "instance_types": "ml.m5.large\nml.c5.xlarge"})
    assert response.status_code == 302 and response["Location"] == "/settings/", response.content.decode()
    site = SiteSettings.load()
    assert site.ecr_enabled and site.instance_type_list == ["ml.m5.large", "ml.c5.xlarge"]
    page = admin_client_.get("/settings/").content.decode()
    assert "No registry is listed" in page
