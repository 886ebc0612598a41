"""Through the portal: a job created in the wizard runs on the local engine under a real Celery
worker, and its details page shows the best training job; a job warm started in the wizard from an
earlier one runs too, and shows the overall best training job of it and its parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_jobs.backends import get_backend
from hpo_jobs.local_engine.demo_data import write_demo_datasets
from hpo_jobs.models import HpoJob

from .waiting import wait_until
from .wizard_helpers import fill_channels, start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _create_in_the_wizard(client, root: Path, name: str, **job_fields) -> HpoJob:
    """An XGBoost job on the demo's breast-cancer data, created through the wizard's pages."""
    page = start(client).next(job__name=name, **job_fields)
    assert page.step == "definitions", page.errors()
    num_round = page.hp_index("num_round")
    page = page.next({
        **fill_channels(page, root / "breast-cancer"),
        f"def-hp-{num_round}-kind": "Static", f"def-hp-{num_round}-value": "10",
        f"def-hp-{page.hp_index('objective')}-value": "binary:logistic",
        "def-objective_metric": "validation:auc",
    })
    assert page.step == "resources", page.errors()
    page = page.next(resources__max_parallel="2", resources__max_jobs="3")
    assert page.step == "review", page.errors()
    response = page.submit().response
    job = HpoJob.objects.get(name=name)
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    return job


def _wait_for_the_end(job: HpoJob, worker) -> None:
    def ended() -> bool:
        job.refresh_from_db()
        return job.is_terminal

    wait_until(ended, timeout=300, interval=0.5, gives_up=lambda: worker.poll() is not None,
               describe=lambda: f"{job.name} to end (it is {job.status})")
    log = worker.log_path.read_text(errors="replace")[-4000:]
    assert job.status == HpoJob.Status.COMPLETED, (job.status, job.failure_reason, job.engine_error, log)


def test_a_job_warm_started_in_the_wizard_runs_and_shows_its_overall_best_training_job(
    celery_worker_process, alice_client, project, settings
):
    root = get_backend("local").data_folders("demo")[0] / "e2e-warm"  # the demo project's own data folder
    write_demo_datasets(root)
    parent = _create_in_the_wizard(alice_client, root, "warm-parent")
    _wait_for_the_end(parent, celery_worker_process)

    child = _create_in_the_wizard(alice_client, root, "warm-child", job__warm_start_type="IdenticalDataAndAlgorithm",
                                  job__warm_start_parents=["warm-parent"])
    assert "TrainingJobDefinition" in child.request  # the single-algorithm form, which warm starts
    assert child.request["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": "warm-parent"}]
    _wait_for_the_end(child, celery_worker_process)

    overall = child.overall_best_training_job
    assert overall is not None, child.last_describe
    values = [tj.objective_value for job in (parent, child) for tj in job.training_jobs.all()
              if tj.objective_value is not None]
    assert overall["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(max(values))
    assert overall["TuningJobName"] in ("warm-parent", "warm-child")
    html = alice_client.get(child.get_absolute_url()).content.decode()
    assert "Overall best training job" in html and overall["TrainingJobName"] in html


def test_a_wizard_job_runs_on_the_local_engine_and_shows_its_best_training_job(
    celery_worker_process, alice_client, project, settings
):
    root = get_backend("local").data_folders("demo")[0] / "e2e-local"  # the demo project's own data folder
    write_demo_datasets(root)

    page = start(alice_client).next(job__name="xgb-e2e-local")
    assert page.step == "definitions", page.errors()
    assert page.value("def-algorithm") == "xgboost"
    num_round = page.hp_index("num_round")
    page = page.next({
        **fill_channels(page, root / "breast-cancer"),
        f"def-hp-{num_round}-kind": "Static", f"def-hp-{num_round}-value": "20",
        f"def-hp-{page.hp_index('objective')}-value": "binary:logistic",
        "def-objective_metric": "validation:auc",
    })
    assert page.step == "resources", page.errors()
    page = page.next(resources__max_parallel="2", resources__max_jobs="4")
    assert page.step == "review", page.errors()
    response = page.submit().response
    job = HpoJob.objects.get(name="xgb-e2e-local")
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()

    def ended() -> bool:
        job.refresh_from_db()
        return job.is_terminal

    wait_until(ended, timeout=300, interval=0.5, gives_up=lambda: celery_worker_process.poll() is not None,
               describe=lambda: f"{job.name} to end (it is {job.status})")
    log = celery_worker_process.log_path.read_text(errors="replace")[-4000:]
    assert job.status == HpoJob.Status.COMPLETED, (job.status, job.failure_reason, job.engine_error, log)
    assert job.training_jobs.count() == 4
    assert job.best_training_job is not None

    best = job.best_training_job
    html = alice_client.get(job.get_absolute_url()).content.decode()
    assert best["TrainingJobName"] in html
    value = best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert 0.5 < value <= 1.0
    assert job.best_objective_value == pytest.approx(value)
    assert max(job.training_jobs.values_list("objective_value", flat=True)) == pytest.approx(value)
    for name, tuned in best["TunedHyperParameters"].items():
        assert name in html and tuned in html
