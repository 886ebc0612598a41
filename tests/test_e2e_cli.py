"""End to end: the `hpo` command against a live portal with a real Celery worker on the local
engine: create --wait, watch, best, the CSV, and stop."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpo_cli.main import EXIT_CODES, app
from hpo_jobs.api.models import ApiToken
from hpo_jobs.backends import get_backend
from hpo_jobs.local_engine.demo_data import write_demo_datasets
from hpo_jobs.models import HpoJob

from .factories import local_request
from .waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def engine_dir(settings, tmp_path):
    """A fresh local engine folder for this test, for the portal and its worker alike."""
    settings.HPO_LOCAL_ENGINE_DIR = tmp_path / "engine"
    return settings.HPO_LOCAL_ENGINE_DIR


@pytest.fixture
def hpo(tmp_path, monkeypatch, live_server, alice, project):
    for name in ("HPO_URL", "HPO_TOKEN", "HPO_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    _token, text = ApiToken.issue(alice, "e2e", 1)
    assert run("login", "--url", live_server.url, "--token", text, "--project", "demo").exit_code == 0
    return run


def _request_file(tmp_path: Path, settings, name: str, max_jobs: int) -> Path:
    root = get_backend("local").data_folders("demo")[0] / "e2e-cli"  # the demo project's own data folder
    write_demo_datasets(root)
    request = local_request(root / "breast-cancer", name)
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = max_jobs
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(request))
    return path


def test_create_wait_watch_best_and_csv(engine_dir, hpo, celery_worker_process, tmp_path, settings):
    result = hpo("jobs", "create", "--file", str(_request_file(tmp_path, settings, "cli-e2e", 4)),
                 "--wait", "--interval", "0.5", "--timeout", "300")
    log = celery_worker_process.log_path.read_text(errors="replace")[-4000:]
    job = HpoJob.objects.get(name="cli-e2e")
    assert result.exit_code == 0, (result.output, job.status, job.failure_reason, log)
    assert "Created job cli-e2e in demo" in result.output and "cli-e2e ended Completed" in result.output

    watched = hpo("jobs", "watch", "cli-e2e")
    assert watched.exit_code == 0 and "4/4" in watched.output
    best_value = job.best_training_job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert f"best validation:auc: {best_value:.6g}" in watched.output

    best = json.loads(hpo("jobs", "best", "cli-e2e", "--json").stdout)
    assert best["name"] == job.best_training_job["TrainingJobName"] and best["value"] == pytest.approx(best_value)
    assert best["tuned_hyperparameters"] == job.best_training_job["TunedHyperParameters"]
    shown = hpo("jobs", "best", "cli-e2e").output
    assert best["name"] in shown and "max_depth" in shown and "num_round" in shown

    exported = hpo("training-jobs", "cli-e2e", "--csv")
    assert exported.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted(r["training_job_name"] for r in rows) == sorted(job.training_jobs.values_list("name", flat=True))
    assert len(rows) == 4 and {"eta", "max_depth"} <= set(rows[0])


def test_stop_then_watch_exits_with_the_stopped_code(engine_dir, hpo, celery_worker_process, tmp_path, settings):
    created = hpo("jobs", "create", "--file", str(_request_file(tmp_path, settings, "cli-stop", 200)))
    assert created.exit_code == 0, created.output
    # Stop it once it runs (a stop racing the launch is the services' concern, tested there).
    wait_until(lambda: HpoJob.objects.get(name="cli-stop").status == HpoJob.Status.IN_PROGRESS, timeout=120,
               describe=lambda: celery_worker_process.log_path.read_text(errors="replace")[-4000:])
    stopped = hpo("jobs", "stop", "cli-stop")
    assert stopped.exit_code == 0 and ("Stopping" in stopped.output or "Stopped" in stopped.output)
    watched = hpo("jobs", "watch", "cli-stop", "--interval", "0.5", "--timeout", "240")
    job = HpoJob.objects.get(name="cli-stop")
    assert watched.exit_code == EXIT_CODES["Stopped"], (watched.output, job.status, job.failure_reason)
    assert "cli-stop ended Stopped" in watched.output
    assert job.status == HpoJob.Status.STOPPED and job.training_jobs.count() < 200
