"""End to end: a job submitted through the web is launched and synced by a real Celery worker process (with embedded
beat) on the configured broker (Redis in CI, the filesystem transport otherwise) and the test
database, against AWS stubbed at the seam inside that worker (tests/stubbed_worker.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from hpo_jobs.models import HpoJob
from tests.factories import ROLE_ARN, make_request
from tests.waiting import wait_until
from tests.wizard_helpers import WizardPage
from tests.workers import purge_broker, start_worker, stop_process_group

pytestmark = pytest.mark.e2e


@pytest.fixture
def stubbed_worker(transactional_db, tmp_path, settings):
    """conftest's celery_worker_process, started through the stubbed-AWS wrapper, on the SageMaker engine."""
    settings.HPO_BACKEND = "sagemaker"
    purge_broker()
    env = {
        "HPO_BACKEND": "sagemaker",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }
    # No other credential source may leak in from the machine.
    unset = ("AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
             "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")
    # Threads, not processes: the tasks share the wrapper's in-memory stubbed AWS.
    proc = start_worker(["tests.stubbed_worker"], tmp_path, worker_args=("-P", "threads"),
                        env_overrides=env, env_unset=unset)
    yield proc
    stop_process_group(proc)
    purge_broker()


def _wait_for(predicate, worker, timeout: float = 60):
    wait_until(predicate, timeout=timeout, interval=0.3, gives_up=lambda: worker.poll() is not None,
               describe=lambda: "the worker; its log:\n" + Path(worker.log_path).read_text(errors="replace")[-6000:])


def test_a_job_submitted_through_the_web_is_launched_and_synced_by_the_worker(
        moto_aws, stubbed_worker, project, alice_client):
    # The web side: a member imports a request, reviews it in the wizard and creates the job. Its
    # name check asks this process's moto; the job itself goes to the worker's.
    project.sagemaker_role_arn = ROLE_ARN
    project.save()
    imported = alice_client.post("/projects/demo/hpo-jobs/import/",
                                 {"request_json": json.dumps(make_request("tune-e2e"))})
    assert imported.status_code == 302, imported.content.decode()[-2000:]
    review = WizardPage(alice_client, alice_client.get(imported["Location"]))
    assert review.step == "review", review.errors()
    created = review.submit().response
    job = HpoJob.objects.get(name="tune-e2e")
    assert created.status_code == 302 and created["Location"] == job.get_absolute_url()

    def finished() -> bool:
        job.refresh_from_db()
        return job.status == HpoJob.Status.COMPLETED and job.notified_at is not None

    _wait_for(finished, stubbed_worker)
    assert job.arn.endswith(":hyper-parameter-tuning-job/tune-e2e")
    assert job.launch_attempts == 1 and job.launched_at is not None and job.last_synced_at is not None
    assert job.engine_status == "Completed"
    assert job.training_job_status_counters["Completed"] == 1
    assert job.best_training_job["TrainingJobName"] == "FakeTrainingJobName"  # moto's describe
    assert [t.name for t in job.training_jobs.all()] == ["tune-e2e-001-9e3779b1"]  # the fake's listing
    assert job.training_jobs.get().objective_status == "Succeeded"
    detail = alice_client.get(job.get_absolute_url())
    assert detail.status_code == 200 and "Completed" in detail.content.decode()
    log = Path(stubbed_worker.log_path).read_text(errors="replace")
    assert "Job tune-e2e launched on sagemaker" in log
    assert "Traceback" not in log
