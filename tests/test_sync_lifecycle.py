"""Scripted lifecycles through botocore's Stubber: every AWS call the portal makes is listed here, in
order, with its exact parameters; an extra call (a listing when nothing changed) fails the test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from hpo_jobs import services
from hpo_jobs.models import HpoJob, TrainingJob
from tests.aws_fakes import T0, child_summary, describe_response, list_pages, tuning_job_arn
from tests.factories import make_request

pytestmark = pytest.mark.django_db

Status = HpoJob.Status
NAME = "tune-xgb"


def _children(done: int, running: int = 0, *, running_status: str = "InProgress") -> list[dict]:
    return [child_summary(NAME, i) for i in range(1, done + 1)] + [
        child_summary(NAME, i, status=running_status) for i in range(done + 1, done + running + 1)
    ]


def _expect_describe(stub, request, **kwargs) -> None:
    stub.add_response("describe_hyper_parameter_tuning_job", describe_response(request, **kwargs),
                      {"HyperParameterTuningJobName": NAME})


def _expect_pages(stub, children, count: int | None = None) -> None:
    pages = list_pages(NAME, children)
    for response, params in pages[:count]:
        stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", response, params)


def _launch(stub, queued_tasks, submit) -> tuple[HpoJob, dict]:
    request = make_request(NAME)
    stub.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": tuning_job_arn(NAME)},
                      request)
    job = submit(request)
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS
    return job, request


def test_a_job_runs_from_in_progress_through_750_children_on_8_pages_to_completed(
        sagemaker_stub, queued_tasks, submit):
    stub = sagemaker_stub
    job, request = _launch(stub, queued_tasks, submit)

    # First sync: nothing mirrored yet, so one (empty) page is read.
    _expect_describe(stub, request)
    _expect_pages(stub, [])
    assert services.sync_job(job.pk)
    # Nothing changed: one describe, no listing.
    _expect_describe(stub, request)
    assert services.sync_job(job.pk)
    stub.assert_no_pending_responses()

    # 310 children, 10 of them running: 4 pages, all needed.
    children = _children(300, 10)
    _expect_describe(stub, request, children=children, last_modified=T0 + timedelta(minutes=1))
    _expect_pages(stub, children)
    assert services.sync_active_jobs() == {"jobs": 1, "synced": 1, "skipped": 0, "errors": 0}
    stub.assert_no_pending_responses()
    job.refresh_from_db()
    assert job.training_jobs.count() == 310
    assert job.training_jobs.filter(status="InProgress", objective_status="Pending").count() == 10
    assert job.completed_count == 300 and job.status == Status.IN_PROGRESS

    # 610 children: the 10 that were running have finished. Newest first, the listing stops on the
    # page holding those 10 (page 4 of 7): the 300 older children are settled and cannot change.
    children = _children(600, 10)
    _expect_describe(stub, request, children=children, last_modified=T0 + timedelta(minutes=2))
    _expect_pages(stub, children, count=4)
    assert services.sync_job(job.pk)
    stub.assert_no_pending_responses()
    assert job.training_jobs.count() == 610
    assert not job.training_jobs.filter(name=child_summary(NAME, 305)["TrainingJobName"], status="InProgress").exists()

    # Completed with 750: the final listing reads all 8 pages (7 x 100 + 50).
    children = _children(750)
    _expect_describe(stub, request, status="Completed", children=children,
                     last_modified=T0 + timedelta(minutes=3), end_time=T0 + timedelta(hours=5))
    _expect_pages(stub, children)
    assert len(list_pages(NAME, children)) == 8
    assert services.sync_job(job.pk)
    stub.assert_no_pending_responses()

    job.refresh_from_db()
    assert job.status == Status.COMPLETED and job.engine_status == "Completed"
    assert job.training_jobs.count() == 750
    assert TrainingJob.objects.filter(hpo_job=job, status="Completed", objective_status="Succeeded").count() == 750
    assert job.completed_count == 750
    assert job.training_job_status_counters["Completed"] == 750
    assert job.objective_status_counters == {"Succeeded": 750, "Pending": 0, "Failed": 0}
    best = max(children, key=lambda c: c["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert job.best_training_job["TrainingJobName"] == best["TrainingJobName"]
    assert job.best_objective_value == best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert job.ended_at == T0 + timedelta(hours=5)
    assert job.completion_details == {"NumberOfTrainingJobsObjectiveNotImproving": 3}
    assert len(mail.outbox) == 1

    # Ended: the poller no longer asks about it.
    assert services.sync_active_jobs()["jobs"] == 0


def test_a_stopped_job_shows_stopping_until_sagemaker_says_stopped(
        sagemaker_stub, queued_tasks, submit, alice, django_capture_on_commit_callbacks):
    stub = sagemaker_stub
    job, request = _launch(stub, queued_tasks, submit)
    running = _children(10, 10)
    _expect_describe(stub, request, children=running, last_modified=T0 + timedelta(minutes=1))
    _expect_pages(stub, running)
    services.sync_job(job.pk)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.request_stop(job, alice)
    assert job.status == Status.STOPPING
    stub.add_response("stop_hyper_parameter_tuning_job", {}, {"HyperParameterTuningJobName": NAME})
    queued_tasks.run()
    stub.assert_no_pending_responses()

    # SageMaker has not moved yet: still shown Stopping, nothing listed.
    _expect_describe(stub, request, children=running, last_modified=T0 + timedelta(minutes=1))
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.engine_status) == (Status.STOPPING, "InProgress")

    stopping = _children(10, 10, running_status="Stopping")
    _expect_describe(stub, request, status="Stopping", children=stopping, last_modified=T0 + timedelta(minutes=2))
    _expect_pages(stub, stopping)
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.engine_status) == (Status.STOPPING, "Stopping")
    assert job.notified_at is None

    stopped = _children(10, 10, running_status="Stopped")
    _expect_describe(stub, request, status="Stopped", children=stopped, last_modified=T0 + timedelta(minutes=3),
                     end_time=T0 + timedelta(minutes=3))
    _expect_pages(stub, stopped)
    services.sync_job(job.pk)
    stub.assert_no_pending_responses()
    job.refresh_from_db()
    assert (job.status, job.engine_status) == (Status.STOPPED, "Stopped")
    assert job.training_job_status_counters["Stopped"] == 10
    assert job.training_jobs.filter(status="Stopped").count() == 10
    assert job.ended_at == T0 + timedelta(minutes=3)
    assert len(mail.outbox) == 1 and "Stopped" in mail.outbox[0].subject

    # Nothing to send again: the sweep's only call is its check of AWS access.
    stub.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []}, {"MaxResults": 1})
    services.sweep_jobs()
