"""Through the portal: a job created in the wizard runs on the local engine under a real Celery
worker, and its details page shows the best training job."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hpo_jobs.local_engine.demo_data import write_demo_datasets
from hpo_jobs.models import HpoJob

from .wizard_helpers import fill_channels, start

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_wizard_job_runs_on_the_local_engine_and_shows_its_best_training_job(
    celery_worker_process, alice_client, project, settings
):
    root = Path(settings.HPO_LOCAL_DATA_DIRS[0]) / "e2e-local"
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

    deadline = time.monotonic() + 300
    while True:
        job.refresh_from_db()
        if job.is_terminal or time.monotonic() > deadline:
            break
        time.sleep(1)
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
