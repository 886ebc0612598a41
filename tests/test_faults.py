"""The faults the portal must survive, each with nothing lost and nothing duplicated."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from botocore.exceptions import EndpointConnectionError
from django.core import mail
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from hpo_jobs import services, tasks
from hpo_jobs.backends import QuotaError, TransientBackendError
from hpo_jobs.models import HpoJob, TrainingJob
from tests.aws_fakes import WorkerKilled
from tests.factories import make_request

Status = HpoJob.Status

TRANSIENT_FAULTS = [
    pytest.param({"code": "ThrottlingException", "status": 400}, id="throttling"),
    pytest.param({"code": "InternalFailure", "status": 500}, id="500"),
    pytest.param({"code": "ServiceUnavailable", "status": 503}, id="503"),
    pytest.param({"exception": EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com")},
                 id="no-connection"),
]


def _snapshot(job: HpoJob) -> dict:
    job.refresh_from_db()
    return {
        "status": job.status, "engine_status": job.engine_status, "arn": job.arn,
        "counters": job.training_job_status_counters, "best": job.best_training_job,
        "last_describe": job.last_describe, "fingerprint": job.children_fingerprint,
        "last_synced_at": job.last_synced_at, "children": sorted(job.training_jobs.values_list("name", "status")),
    }


def _launch(fake_sagemaker, queued_tasks, submit, name: str = "tune-a", children: int = 0) -> HpoJob:
    job = submit(make_request(name))
    queued_tasks.run()
    if children:
        fake_sagemaker.job(name).add_children(children)
    services.sync_job(job.pk)
    job.refresh_from_db()
    return job


def _hold_passes(job: HpoJob) -> None:
    HpoJob.objects.filter(pk=job.pk).update(sync_claimed_until=timezone.now() - timedelta(seconds=1))


# --- create -------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
def test_a_transient_error_on_create_leaves_the_job_pending_and_is_retried(fake_sagemaker, queued_tasks, submit, fault):
    job = submit(make_request("tune-a"))
    fake_sagemaker.fail("CreateHyperParameterTuningJob", **fault)
    with pytest.raises(TransientBackendError):
        services.launch_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.arn, job.launched_at) == (Status.PENDING, "", None)
    assert job.engine_error
    assert not fake_sagemaker.jobs

    # The Celery task retries it (eagerly here; with backoff and jitter on a worker).
    fake_sagemaker.fail("CreateHyperParameterTuningJob", **fault, times=2)
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS and job.engine_error == ""
    assert len(fake_sagemaker.jobs) == 1
    assert fake_sagemaker.calls["CreateHyperParameterTuningJob"] == 4


@pytest.mark.django_db
def test_a_validation_error_on_create_fails_the_job_with_sagemakers_message(fake_sagemaker, queued_tasks, submit):
    message = "The objective metric validation:auc is not defined for the algorithm in definition xgb."
    fake_sagemaker.fail("CreateHyperParameterTuningJob", "ValidationException", message=message)
    job = submit(make_request("tune-a"))
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.failure_reason == f"ValidationException: {message}"
    assert job.ended_at is not None and job.arn == ""
    assert fake_sagemaker.calls["CreateHyperParameterTuningJob"] == 1  # not retried
    assert len(mail.outbox) == 1 and message in mail.outbox[0].body


@pytest.mark.django_db
def test_a_limit_exceeded_on_create_keeps_the_job_pending_with_the_message(fake_sagemaker, queued_tasks, submit):
    # A quota is not the request's fault: the job waits (the launch task retries with backoff, then the sweep).
    fake_sagemaker.fail("CreateHyperParameterTuningJob", "ResourceLimitExceeded",
                        message="The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is 100.")
    job = submit(make_request("tune-a"))
    queued_tasks.run()  # the first attempt meets the limit, the task's retry goes through
    job.refresh_from_db()
    assert (job.status, job.failure_reason, job.engine_error) == (Status.IN_PROGRESS, "", "")
    assert job.launch_attempts == 2

    fake_sagemaker.fail("CreateHyperParameterTuningJob", "ResourceLimitExceeded", times=1000,
                        message="The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is 100.")
    job = submit(make_request("tune-b"))
    with pytest.raises(QuotaError):
        queued_tasks.run()  # every retry meets the limit: the job waits for the sweep
    job.refresh_from_db()
    assert (job.status, job.failure_reason) == (Status.PENDING, "")
    assert "service limit" in job.engine_error


# --- describe and list --------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
def test_a_transient_error_on_describe_changes_nothing_and_backs_off(fake_sagemaker, queued_tasks, submit,
                                                                     settings, fault):
    job = _launch(fake_sagemaker, queued_tasks, submit, children=5)
    before = _snapshot(job)
    fake_sagemaker.job("tune-a").add_children(3)
    fake_sagemaker.fail("DescribeHyperParameterTuningJob", **fault)
    # The hold is a delay from the moment of the failure: bounded by the clock read around the call.
    poll = timedelta(seconds=settings.HPO_POLL_INTERVAL_S)
    called = timezone.now()
    assert services.sync_job(job.pk) is False
    returned = timezone.now()
    assert _snapshot(job) == before
    assert job.engine_error and job.engine_error_count == 1
    assert called + poll / 2 <= job.sync_claimed_until <= returned + poll

    # Beats during the backoff leave the job alone.
    fake_sagemaker.reset_counts()
    assert services.sync_active_jobs()["jobs"] == 0
    assert fake_sagemaker.calls == {}

    # A second failure in a row waits longer (exponential backoff with jitter).
    _hold_passes(job)
    fake_sagemaker.fail("DescribeHyperParameterTuningJob", **fault)
    called = timezone.now()
    services.sync_active_jobs()
    returned = timezone.now()
    job.refresh_from_db()
    assert job.engine_error_count == 2 and called + poll <= job.sync_claimed_until <= returned + 2 * poll
    assert _snapshot(job) == before

    _hold_passes(job)
    services.sync_active_jobs()
    job.refresh_from_db()
    assert (job.engine_error, job.engine_error_count, job.sync_claimed_until) == ("", 0, None)
    assert job.training_jobs.count() == 8


@pytest.mark.django_db
@pytest.mark.parametrize("fault", TRANSIENT_FAULTS[:2])
def test_a_transient_error_while_listing_changes_nothing_and_the_next_sync_lists_again(
        fake_sagemaker, queued_tasks, submit, fault):
    job = _launch(fake_sagemaker, queued_tasks, submit)
    fake_sagemaker.job("tune-a").add_children(750)
    before = _snapshot(job)
    fake_sagemaker.reset_counts()
    fake_sagemaker.after("ListTrainingJobsForHyperParameterTuningJob", lambda params: None)
    fake_sagemaker.after("ListTrainingJobsForHyperParameterTuningJob",
                         lambda params: fake_sagemaker.fail("ListTrainingJobsForHyperParameterTuningJob", **fault))
    assert services.sync_job(job.pk) is False  # pages 1 and 2 answered, page 3 failed
    assert fake_sagemaker.calls["ListTrainingJobsForHyperParameterTuningJob"] == 3
    assert _snapshot(job) == before

    _hold_passes(job)
    assert services.sync_job(job.pk) is True
    assert job.training_jobs.count() == 750
    assert fake_sagemaker.calls["ListTrainingJobsForHyperParameterTuningJob"] == 3 + 8


# --- the broker ---------------------------------------------------------------------------------
@pytest.mark.django_db
def test_with_the_broker_down_the_job_is_saved_and_launched_once_it_is_back(fake_sagemaker, queued_tasks, submit):
    queued_tasks.broker_down = True
    job = submit(make_request("tune-a"))  # the user's request succeeds
    job.refresh_from_db()
    assert (job.status, job.launch_queued_at) == (Status.PENDING, None)

    services.sweep_jobs()  # still down: nothing lost, nothing queued
    assert queued_tasks.sent == []

    queued_tasks.broker_down = False
    HpoJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    services.sweep_jobs()
    services.sweep_jobs()  # queued once, not on every sweep
    assert queued_tasks.sent == [("launch_job", (job.pk,))]
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS
    assert len(fake_sagemaker.jobs) == 1


@pytest.mark.django_db
def test_with_the_broker_down_the_beat_syncs_every_batch_itself(fake_sagemaker, queued_tasks, submit, settings):
    settings.HPO_SYNC_BATCH_SIZE = 2
    jobs = [_launch(fake_sagemaker, queued_tasks, submit, f"tune-{i}") for i in range(5)]
    HpoJob.objects.update(sync_claimed_until=None, last_synced_at=None)
    queued_tasks.broker_down = True
    assert tasks.sync_active_jobs.apply().get() == {"jobs": 5, "queued": 0, "synced": 5, "skipped": 0, "errors": 0}
    assert queued_tasks.sent == []
    assert HpoJob.objects.filter(pk__in=[job.pk for job in jobs], last_synced_at__isnull=False,
                                 sync_claimed_until__isnull=True).count() == 5


# --- a worker killed ----------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_worker_killed_between_create_and_the_database_update_is_carried_on(
        fake_sagemaker, queued_tasks, submit, settings):
    job = submit(make_request("tune-a"))

    def killed(params):
        raise WorkerKilled

    fake_sagemaker.after("CreateHyperParameterTuningJob", killed)
    with pytest.raises(WorkerKilled):
        queued_tasks.run()
    job.refresh_from_db()
    assert (job.status, job.arn, job.launch_attempts) == (Status.PENDING, "", 1)
    assert list(fake_sagemaker.jobs) == ["tune-a"]  # it does exist in SageMaker

    # The message is redelivered (acks late) or the sweep queues it again: either way, launch again.
    HpoJob.objects.filter(pk=job.pk).update(
        launch_queued_at=timezone.now() - timedelta(seconds=settings.HPO_RELAUNCH_AFTER_S + 1))
    services.sweep_jobs()
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS
    assert job.arn.endswith("hyper-parameter-tuning-job/tune-a")
    assert list(fake_sagemaker.jobs) == ["tune-a"]
    assert fake_sagemaker.calls["CreateHyperParameterTuningJob"] == 2
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.last_synced_at is not None


# --- two syncs at once --------------------------------------------------------------------------
def _in_thread(fn, results: list, index: int) -> threading.Thread:
    def run():
        try:
            results[index] = fn()
        except BaseException as exc:  # reported by the test
            results[index] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db
def test_a_batch_lost_with_its_worker_is_synced_once_its_claim_lapses_and_never_twice(
        fake_sagemaker, queued_tasks, submit, settings):
    settings.HPO_SYNC_BATCH_SIZE = 2
    jobs = [_launch(fake_sagemaker, queued_tasks, submit, f"tune-{i}") for i in range(3)]
    HpoJob.objects.update(last_synced_at=None)
    assert tasks.sync_active_jobs.apply().get()["queued"] == 1
    lost = list(queued_tasks.sent)
    queued_tasks.sent.clear()  # the worker that took the batch was killed
    assert jobs[2].pk not in services.due_job_ids()  # its job is held by the claim, not lost
    _hold_passes(jobs[2])  # the claim lapses
    settings.HPO_SYNC_BATCH_SIZE = 5
    fake_sagemaker.reset_counts()
    assert tasks.sync_active_jobs.apply().get() == {"jobs": 3, "queued": 0, "synced": 3, "skipped": 0, "errors": 0}
    # The lost batch delivered again late (its claim taken since by another sync): it syncs nothing.
    queued_tasks.sent.extend(lost)
    queued_tasks.run()
    assert fake_sagemaker.calls == {"DescribeHyperParameterTuningJob": 3}


@pytest.mark.django_db(transaction=True)
def test_two_syncs_at_once_sync_the_job_once(fake_sagemaker, queued_tasks, submit):
    job = _launch(fake_sagemaker, queued_tasks, submit)
    fake_sagemaker.job("tune-a").add_children(750)
    fake_sagemaker.reset_counts()
    first_is_describing, second_done = threading.Event(), threading.Event()

    def hold_the_first(params):
        first_is_describing.set()
        second_done.wait(10)

    fake_sagemaker.after("DescribeHyperParameterTuningJob", hold_the_first)
    results: list = [None, None]
    first = _in_thread(lambda: services.sync_job(job.pk), results, 0)
    assert first_is_describing.wait(10)
    second = _in_thread(lambda: services.sync_job(job.pk), results, 1)
    second.join(10)
    second_done.set()
    first.join(30)
    assert results == [True, False]
    assert fake_sagemaker.calls["DescribeHyperParameterTuningJob"] == 1
    assert TrainingJob.objects.filter(hpo_job=job).count() == 750


@pytest.mark.django_db(transaction=True)
def test_two_syncs_listing_at_once_never_duplicate_a_child(fake_sagemaker, queued_tasks, submit, monkeypatch):
    job = _launch(fake_sagemaker, queued_tasks, submit)
    fake_sagemaker.job("tune-a").add_children(750)
    fake_sagemaker.reset_counts()
    # As if the claim had lapsed under a slow sync: both syncs run in full, at the same time.
    monkeypatch.setattr(services, "_claim", lambda job_ids: (timezone.now() + services.SYNC_LEASE, job_ids))
    monkeypatch.setattr(services, "_claimed_jobs", lambda job_ids, until: list(HpoJob.objects.filter(pk__in=job_ids)))
    both_listing = threading.Barrier(2, timeout=10)
    for _ in range(2):
        fake_sagemaker.after("ListTrainingJobsForHyperParameterTuningJob", lambda params: both_listing.wait())
    results: list = [None, None]
    threads = [_in_thread(lambda: services.sync_job(job.pk), results, i) for i in range(2)]
    for thread in threads:
        thread.join(60)
    assert results == [True, True]
    assert fake_sagemaker.calls["ListTrainingJobsForHyperParameterTuningJob"] == 16
    names = list(TrainingJob.objects.filter(hpo_job=job).values_list("name", flat=True))
    assert len(names) == len(set(names)) == 750


@pytest.mark.django_db
def test_the_database_refuses_a_duplicate_child(make_job):
    job = make_job("tune-a", children=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingJob.objects.create(hpo_job=job, name=job.training_jobs.get().name, status="Completed")
