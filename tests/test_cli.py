"""The `hpo` command against a live portal: login, projects, jobs, and clear errors (a bad token,
an unknown job, a refused request with every problem at its path, the portal unreachable)."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from hpo_cli import config as cli_config
from hpo_cli.main import app
from hpo_jobs.api.models import ApiToken
from hpo_jobs.models import HpoJob

from .factories import local_request
from .wizard_helpers import data_dir

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hpo(tmp_path, monkeypatch):
    """Run `hpo ARGS...` in-process with its own config folder; returns the result."""
    for name in ("HPO_URL", "HPO_TOKEN", "HPO_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "250")  # wide enough that no cell or message is wrapped
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


@pytest.fixture
def logged_in(hpo, live_server, alice, project):
    _token, text = ApiToken.issue(alice, "cli", 90)
    result = hpo("login", "--url", live_server.url, "--token", text, "--project", "demo")
    assert result.exit_code == 0, result.output
    return text


def test_login_keeps_url_token_and_project_in_a_private_file(hpo, logged_in, live_server, tmp_path):
    path = tmp_path / "config" / "hpo" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = cli_config.load()
    assert (saved.url, saved.token, saved.project) == (live_server.url, logged_in, "demo")


def test_login_with_a_bad_token_saves_nothing(hpo, live_server, project, tmp_path):
    result = hpo("login", "--url", live_server.url, "--token", "hpo_000000000000_nope")
    assert result.exit_code == 1
    assert "The portal refused the token: This API token is not valid." in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "config" / "hpo" / "config.json").exists()


def test_projects_and_jobs_list(hpo, logged_in, make_job):
    make_job("listed-job", status="Completed")
    result = hpo("projects")
    assert result.exit_code == 0 and "demo" in result.output and "owner" in result.output
    result = hpo("jobs", "list")
    assert result.exit_code == 0 and "listed-job" in result.output and "1 job" in result.output
    assert "listed-job" not in hpo("jobs", "list", "--status", "active").output


def test_an_unknown_job_is_a_clear_error(hpo, logged_in):
    for args in (("jobs", "best", "no-such-job"), ("jobs", "watch", "no-such-job"), ("jobs", "stop", "no-such-job"),
                 ("training-jobs", "no-such-job", "--csv")):
        result = hpo(*args)
        assert result.exit_code == 1, args
        assert "Not found: No such HPO job." in result.output and "Traceback" not in result.output


def test_a_refused_request_lists_every_problem_with_its_path(hpo, logged_in, tmp_path):
    request = local_request(data_dir())
    request["HyperParameterTuningJobConfig"]["Strategy"] = "Magic"
    request["TrainingJobDefinition"]["ResourceConfig"]["InstanceCount"] = 2**31
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    result = hpo("jobs", "create", "--file", str(path))
    assert result.exit_code == 1
    assert "The request was refused" in result.output
    assert "request.HyperParameterTuningJobConfig.Strategy" in result.output
    assert "request.TrainingJobDefinition.ResourceConfig.InstanceCount" in result.output
    assert not HpoJob.objects.exists()


def test_a_file_that_is_not_json_is_a_clear_error(hpo, logged_in, tmp_path):
    path = tmp_path / "request.json"
    path.write_text("{nope")
    result = hpo("jobs", "create", "--file", str(path))
    assert result.exit_code == 1 and "is not a JSON request" in result.output


def test_the_portal_unreachable_is_a_clear_error(hpo, logged_in, monkeypatch):
    monkeypatch.setenv("HPO_URL", "http://127.0.0.1:9")
    result = hpo("projects")
    assert result.exit_code == 1
    assert "Cannot reach the portal at http://127.0.0.1:9" in result.output and "Traceback" not in result.output


def test_no_login_and_no_project_say_what_to_do(hpo, live_server, alice, project):
    assert "run `hpo login` first" in hpo("projects").output
    _token, text = ApiToken.issue(alice, "cli", 90)
    assert hpo("login", "--url", live_server.url, "--token", text).exit_code == 0
    result = hpo("jobs", "list")
    assert result.exit_code == 1 and "Give --project SLUG" in result.output
    assert hpo("jobs", "list", "--project", "demo").exit_code == 0
