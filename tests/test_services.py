"""Services: create, launch, sync, stop, sweep and notify, against a scripted SageMaker at the seam."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hpo_jobs import services, tasks
from hpo_jobs.backends import TransientBackendError
from hpo_jobs.models import EngineHealth, HpoJob, TrainingJob
from tests.factories import make_request

pytestmark = pytest.mark.django_db

Status = HpoJob.Status


@pytest.fixture
def launched(fake_sagemaker, queued_tasks, submit):
    """Submit a job and run its launch: InProgress in the portal and in the fake SageMaker."""

    def do(name: str = "tune-xgb", **request_options):
        job = submit(make_request(name, **request_options))
        queued_tasks.run()
        job.refresh_from_db()
        assert job.status == Status.IN_PROGRESS
        return job

    return do


def _age(job: HpoJob, **fields_ago) -> None:
    """Move the job's timestamps into the past."""
    now = timezone.now()
    HpoJob.objects.filter(pk=job.pk).update(**{f: now - ago for f, ago in fields_ago.items()})


# --- create -------------------------------------------------------------------------------------
def test_create_stores_the_exact_request_pending_and_queues_the_launch(aws_env, queued_tasks, submit, alice, project):
    request = make_request("tune-a")
    job = submit(request)
    job.refresh_from_db()
    assert job.status == Status.PENDING
    assert job.request == make_request("tune-a")
    assert (job.project, job.created_by, job.backend) == (project, alice, "sagemaker")
    assert (job.strategy, job.max_training_jobs) == ("Bayesian", 750)
    assert queued_tasks.sent == [("launch_job", (job.pk,))]
    assert job.launch_queued_at is not None


def test_create_queues_nothing_until_the_transaction_commits(aws_env, queued_tasks, project, alice,
                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            services.create_job(project, alice, make_request("tune-a"))
            assert queued_tasks.sent == []
    assert len(callbacks) == 1
    assert queued_tasks.names() == ["launch_job"]


def test_a_taken_name_is_refused_case_insensitively_and_the_callers_transaction_survives(
        aws_env, queued_tasks, submit, project, alice):
    submit(make_request("Tune-A"))
    with transaction.atomic():
        with pytest.raises(services.JobNameTaken, match="already exists"):
            services.create_job(project, alice, make_request("tune-a"))
        assert HpoJob.objects.count() == 1  # the outer transaction is still usable
    assert queued_tasks.names() == ["launch_job"]


def test_grid_without_a_total_counts_the_combinations(aws_env, queued_tasks, submit):
    request = make_request("tune-grid", strategy="Grid", max_jobs=None)
    request["HyperParameterTuningJobConfig"]["ParameterRanges"] = {
        "CategoricalParameterRanges": [{"Name": "max_depth", "Values": ["3", "5", "7"]},
                                       {"Name": "eta", "Values": ["0.1", "0.3"]}],
    }
    assert submit(request).max_training_jobs == 6


# --- launch -------------------------------------------------------------------------------------
def test_launch_sends_the_stored_request_once(fake_sagemaker, queued_tasks, submit):
    job = submit(make_request("tune-a"))
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS
    assert job.arn.endswith(":hyper-parameter-tuning-job/tune-a")
    assert job.launched_at is not None and job.launch_attempts == 1
    assert fake_sagemaker.job("tune-a").request == make_request("tune-a")
    assert services.launch_job(job.pk) is False  # already launched: no second call
    assert fake_sagemaker.calls["CreateHyperParameterTuningJob"] == 1


def test_a_name_taken_by_someone_elses_job_fails_with_a_clear_reason(fake_sagemaker, queued_tasks, submit):
    fake_sagemaker.add_job(make_request("tune-a", role_arn="arn:aws:iam::123456789012:role/SomebodyElse"))
    job = submit(make_request("tune-a"))
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert "already exists in this AWS account" in job.failure_reason
    assert len(fake_sagemaker.jobs) == 1


def test_bad_credentials_keep_the_job_pending_with_a_clear_message(fake_sagemaker, queued_tasks, submit, admin_client_):
    fake_sagemaker.fail("CreateHyperParameterTuningJob", "UnrecognizedClientException",
                        message="The security token included in the request is invalid.")
    job = submit(make_request("tune-a"))
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.PENDING
    assert job.engine_error.startswith("AWS credentials are missing or invalid: The security token")
    health = admin_client_.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["aws"]["ok"] is False
    assert "AWS credentials are missing or invalid" in health["aws"]["detail"]

    # Fixed: the sweep's check clears /healthz, and the relaunch goes through.
    _age(job, launch_queued_at=timedelta(hours=1))
    services.sweep_jobs()
    assert admin_client_.get("/healthz").json()["aws"]["ok"] is True
    queued_tasks.run()
    job.refresh_from_db()
    assert (job.status, job.engine_error) == (Status.IN_PROGRESS, "")


# --- sync ---------------------------------------------------------------------------------------
def test_sync_mirrors_state_and_children(launched, fake_sagemaker):
    job = launched("tune-a")
    fake = fake_sagemaker.job("tune-a")
    fake.add_children(3)
    fake.add_children(2, status="InProgress")
    assert services.sync_job(job.pk) is True
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS and job.engine_status == "InProgress"
    assert job.training_job_status_counters == {"Completed": 3, "InProgress": 2, "RetryableError": 0,
                                                "NonRetryableError": 0, "Stopped": 0}
    assert job.completed_count == 3
    assert job.best_training_job["TrainingJobName"] == max(
        fake.children[:3], key=lambda c: c["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])["TrainingJobName"]
    assert isinstance(job.best_training_job["CreationTime"], str)  # JSON-safe
    assert job.best_objective_value == job.best_training_job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert job.last_describe["HyperParameterTuningJobStatus"] == "InProgress"
    assert job.started_at is not None and job.last_synced_at is not None and job.sync_claimed_until is None
    rows = {t.name: t for t in job.training_jobs.all()}
    assert len(rows) == 5
    first = rows[fake.children[0]["TrainingJobName"]]
    assert first.status == "Completed" and first.objective_status == "Succeeded"
    assert first.tuned_hyperparameters == fake.children[0]["TunedHyperParameters"]
    assert first.objective_value == fake.children[0]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert first.objective_metric_name == "validation:auc" and first.definition_name == "xgb"
    assert first.creation_time and first.start_time and first.end_time
    assert rows[fake.children[4]["TrainingJobName"]].objective_status == "Pending"


def test_unchanged_counters_mean_no_listing(launched, fake_sagemaker):
    job = launched("tune-a")
    fake_sagemaker.job("tune-a").add_children(5)
    services.sync_job(job.pk)
    fake_sagemaker.reset_counts()
    for _ in range(3):
        services.sync_job(job.pk)
    assert fake_sagemaker.calls == {"DescribeHyperParameterTuningJob": 3}


def test_new_children_are_listed_from_the_newest_page_only(launched, fake_sagemaker):
    job = launched("tune-a")
    fake = fake_sagemaker.job("tune-a")
    fake.add_children(450)
    services.sync_job(job.pk)
    fake.add_children(10, status="InProgress")
    fake_sagemaker.reset_counts()
    services.sync_job(job.pk)
    assert fake_sagemaker.calls["ListTrainingJobsForHyperParameterTuningJob"] == 1
    # The ten finish: they are the newest, so one page again.
    fake.finish_children()
    fake_sagemaker.reset_counts()
    services.sync_job(job.pk)
    assert fake_sagemaker.calls["ListTrainingJobsForHyperParameterTuningJob"] == 1
    assert TrainingJob.objects.filter(hpo_job=job).count() == 460
    assert not TrainingJob.objects.filter(hpo_job=job).exclude(status="Completed").exists()


def test_an_unknown_status_is_kept_and_logged_not_a_crash(launched, fake_sagemaker, caplog):
    job = launched("tune-a")
    fake_sagemaker.job("tune-a").status = "Hibernating"
    with caplog.at_level(logging.WARNING, logger="hpo_jobs.services"):
        assert services.sync_job(job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.engine_status) == (Status.UNKNOWN, "Hibernating")
    assert "unknown status 'Hibernating'" in caplog.text
    fake_sagemaker.job("tune-a").end("Completed")
    services.sync_active_jobs()  # Unknown is still followed
    job.refresh_from_db()
    assert job.status == Status.COMPLETED


def test_a_job_deleted_on_the_aws_side_shows_a_clear_state(launched, fake_sagemaker):
    job = launched("tune-a")
    services.sync_job(job.pk)
    del fake_sagemaker.jobs["tune-a"]
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.status == Status.DELETED
    assert "no longer exists in SageMaker" in job.failure_reason
    assert not job.is_active


def test_a_job_not_yet_visible_right_after_launch_is_not_deleted(launched, fake_sagemaker):
    job = launched("tune-a")
    del fake_sagemaker.jobs["tune-a"]
    assert services.sync_job(job.pk) is False
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS
    assert "not visible" in job.engine_error


def test_a_claimed_job_is_left_alone_by_an_overlapping_sync(launched, fake_sagemaker):
    job = launched("tune-a")
    HpoJob.objects.filter(pk=job.pk).update(sync_claimed_until=timezone.now() + timedelta(minutes=1))
    fake_sagemaker.reset_counts()
    assert services.sync_job(job.pk) is False
    assert services.sync_active_jobs()["jobs"] == 0
    assert fake_sagemaker.calls == {}
    # A claim whose worker died lapses.
    HpoJob.objects.filter(pk=job.pk).update(sync_claimed_until=timezone.now() - timedelta(seconds=1))
    assert services.sync_active_jobs()["synced"] == 1


# The describes of a cycle run in threads that make no database call: no test here needs to commit.
def test_one_failing_job_never_stops_the_others(launched, fake_sagemaker, monkeypatch, caplog):
    jobs = [launched(f"tune-{i}") for i in range(3)]
    real = services._sync_claimed

    def broken_for_the_first(job, until, answer):
        if job.name == "tune-0":
            raise RuntimeError("a bug")
        return real(job, until, answer)

    monkeypatch.setattr(services, "_sync_claimed", broken_for_the_first)
    del fake_sagemaker.jobs["tune-2"]  # not visible yet: an engine error, held for a backoff delay
    result = services.sync_active_jobs()
    assert result == {"jobs": 3, "synced": 1, "skipped": 1, "errors": 1}
    assert "a bug" in caplog.text
    synced = HpoJob.objects.filter(pk__in=[j.pk for j in jobs], last_synced_at__isnull=False)
    assert synced.count() == 1
    # The broken job's claim is released, not left to lapse.
    assert HpoJob.objects.get(name="tune-0").sync_claimed_until is None


def test_the_jobs_of_a_cycle_are_synced_side_by_side(launched, fake_sagemaker, settings):
    # Each describe waits until three are in flight at once: a cycle that synced one job after the
    # other would never get there, and the barrier's deadline would fail every sync.
    settings.HPO_SYNC_CONCURRENCY = 3
    jobs = [launched(f"tune-{i}") for i in range(3)]
    meeting = threading.Barrier(3, timeout=120)
    threads: set[str] = set()

    def meet(params):
        threads.add(threading.current_thread().name)
        meeting.wait()

    for _ in jobs:
        fake_sagemaker.after("DescribeHyperParameterTuningJob", meet)
    assert services.sync_active_jobs() == {"jobs": 3, "synced": 3, "skipped": 0, "errors": 0}
    assert len(threads) == 3
    assert HpoJob.objects.filter(last_synced_at__isnull=False).count() == 3


def test_an_unchanged_poll_is_a_few_queries_for_every_job_and_writes_no_child(launched, fake_sagemaker):
    jobs = [launched(f"tune-{i}") for i in range(12)]
    for job in jobs:
        fake_sagemaker.job(job.name).add_children(3)
    services.sync_active_jobs()  # the first mirror
    before = {row["pk"]: row for row in HpoJob.objects.values("pk", "updated_at", "last_synced_at")}
    fake_sagemaker.reset_counts()
    with CaptureQueriesContext(connection) as queries:
        assert services.sync_active_jobs() == {"jobs": 12, "synced": 12, "skipped": 0, "errors": 0}
    statements = [query["sql"] for query in queries.captured_queries]
    # The due jobs; the claim (a savepoint, SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, release); the
    # claimed jobs; one UPDATE noting the sync of all twelve. Not five queries a job.
    assert len(statements) <= 7, statements
    assert not [sql for sql in statements if TrainingJob._meta.db_table in sql]
    assert fake_sagemaker.calls == {"DescribeHyperParameterTuningJob": 12}
    for row in HpoJob.objects.values("pk", "updated_at", "last_synced_at", "sync_claimed_until"):
        assert row["updated_at"] == before[row["pk"]]["updated_at"]  # the row's state is not rewritten
        assert row["last_synced_at"] > before[row["pk"]]["last_synced_at"]
        assert row["sync_claimed_until"] is None

    # One job changes among them: it alone is written, with its two new children.
    fake_sagemaker.job("tune-7").add_children(2)
    services.sync_active_jobs()
    rewritten = HpoJob.objects.exclude(updated_at__in=[row["updated_at"] for row in before.values()])
    assert list(rewritten.values_list("name", flat=True)) == ["tune-7"]
    assert TrainingJob.objects.count() == 12 * 3 + 2


def test_the_beat_claims_a_cycle_in_batches_and_queues_all_but_the_first(
        launched, fake_sagemaker, queued_tasks, settings):
    settings.HPO_SYNC_BATCH_SIZE = 2
    jobs = [launched(f"tune-{i}") for i in range(5)]
    ids = [job.pk for job in jobs]
    fake_sagemaker.reset_counts()
    assert tasks.sync_active_jobs.apply().get() == {"jobs": 5, "queued": 3, "synced": 2, "skipped": 0, "errors": 0}
    assert [(name, args[0]) for name, args in queued_tasks.sent] == [("sync_jobs", ids[2:4]), ("sync_jobs", ids[4:])]
    # The queued jobs are claimed already: an overlapping beat neither syncs nor queues them again
    # (it syncs the two synced since, which are free).
    assert tasks.sync_active_jobs.apply().get() == {"jobs": 2, "queued": 0, "synced": 2, "skipped": 0, "errors": 0}
    assert len(queued_tasks.sent) == 2
    queued_tasks.run()  # the workers take the batches
    assert fake_sagemaker.calls == {"DescribeHyperParameterTuningJob": 5 + 2,
                                    "ListTrainingJobsForHyperParameterTuningJob": 5}
    assert HpoJob.objects.filter(last_synced_at__isnull=False, sync_claimed_until__isnull=True).count() == 5


def test_a_changed_poll_writes_only_the_children_that_changed(launched, fake_sagemaker, monkeypatch):
    job = launched("tune-many")
    fake_sagemaker.job("tune-many").add_children(250)
    services.sync_job(job.pk)
    assert TrainingJob.objects.filter(hpo_job=job).count() == 250

    written: list[int] = []
    real = TrainingJob.objects.bulk_create

    def counting(rows, *args, **kwargs):
        rows = list(rows)
        written.append(len(rows))
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(TrainingJob.objects, "bulk_create", counting)
    fake_sagemaker.job("tune-many").add_children(3, status="InProgress")
    services.sync_job(job.pk)
    assert sum(written) == 3  # the three new ones; the page they came on held others, unchanged
    assert TrainingJob.objects.filter(hpo_job=job).count() == 253

    written.clear()
    fake_sagemaker.job("tune-many").finish_children()
    services.sync_job(job.pk)
    assert sum(written) == 3  # the three that finished
    assert TrainingJob.objects.filter(hpo_job=job, status="Completed").count() == 253


# --- stop ---------------------------------------------------------------------------------------
def test_stop_shows_stopping_until_the_engine_says_stopped(launched, fake_sagemaker, queued_tasks, alice,
                                                           django_capture_on_commit_callbacks):
    job = launched("tune-a")
    fake_sagemaker.job("tune-a").add_children(4, status="InProgress")
    services.sync_job(job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.request_stop(job, alice) is True
    assert job.status == Status.STOPPING and job.stop_requested_at is not None
    assert queued_tasks.names() == ["stop_job"]
    services.sync_job(job.pk)  # the engine has not seen the stop yet
    job.refresh_from_db()
    assert (job.status, job.engine_status) == (Status.STOPPING, "InProgress")

    queued_tasks.run()
    assert fake_sagemaker.calls["StopHyperParameterTuningJob"] == 1
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.engine_status) == (Status.STOPPING, "Stopping")

    fake_sagemaker.job("tune-a").end("Stopped")
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.status == Status.STOPPED and job.ended_at is not None
    assert set(job.training_jobs.values_list("status", flat=True)) == {"Stopped"}
    assert len(mail.outbox) == 1
    assert services.request_stop(job, alice) is False  # already ended


def test_a_pending_job_never_sent_is_stopped_at_once(fake_sagemaker, queued_tasks, submit, alice):
    job = submit(make_request("tune-a"))
    assert services.request_stop(job, alice) is True
    assert job.status == Status.STOPPED
    queued_tasks.run()  # the queued launch finds it stopped
    assert fake_sagemaker.calls["CreateHyperParameterTuningJob"] == 0
    assert not fake_sagemaker.jobs


def test_a_pending_job_whose_launch_may_have_reached_aws_is_stopped_there(
        fake_sagemaker, queued_tasks, submit, alice, django_capture_on_commit_callbacks):
    job = submit(make_request("tune-a"))
    HpoJob.objects.filter(pk=job.pk).update(launch_attempts=1)  # a launch crashed: did it reach AWS?
    with django_capture_on_commit_callbacks(execute=True):
        assert services.request_stop(job, alice) is True
    assert job.status == Status.STOPPING
    queued_tasks.run()  # launch: skipped (Stopping); stop: SageMaker does not know it
    job.refresh_from_db()
    assert job.status == Status.STOPPED
    assert fake_sagemaker.calls["CreateHyperParameterTuningJob"] == 0


def test_a_stop_while_the_create_call_is_in_flight_stops_the_created_job(fake_sagemaker, queued_tasks, submit, alice):
    job = submit(make_request("tune-a"))
    fake_sagemaker.after("CreateHyperParameterTuningJob", lambda params: services.request_stop(job, alice))
    queued_tasks.run()  # launch; the stop arrives while SageMaker creates the job
    job.refresh_from_db()
    assert job.status == Status.STOPPING and job.arn
    queued_tasks.run()  # the stop queued by the launch
    assert fake_sagemaker.job("tune-a").status == "Stopping"
    fake_sagemaker.job("tune-a").end("Stopped")
    services.sync_active_jobs()
    job.refresh_from_db()
    assert job.status == Status.STOPPED


# --- sweep --------------------------------------------------------------------------------------
def test_sweep_requeues_lost_launches_only_after_the_delay(fake_sagemaker, queued_tasks, submit, settings):
    job = submit(make_request("tune-a"))
    queued_tasks.sent.clear()  # the message was lost
    services.sweep_jobs()
    assert queued_tasks.sent == []  # queued a moment ago: not lost yet
    _age(job, launch_queued_at=timedelta(seconds=settings.HPO_RELAUNCH_AFTER_S + 1))
    services.sweep_jobs()
    assert queued_tasks.sent == [("launch_job", (job.pk,))]
    queued_tasks.run()
    job.refresh_from_db()
    assert job.status == Status.IN_PROGRESS


def test_sweep_requeues_a_lost_stop(launched, fake_sagemaker, queued_tasks, alice, settings):
    job = launched("tune-a")
    services.request_stop(job, alice)  # outside a transaction the on-commit hook runs at once
    queued_tasks.sent.clear()
    _age(job, stop_queued_at=timedelta(seconds=settings.HPO_RELAUNCH_AFTER_S + 1))
    services.sweep_jobs()
    assert queued_tasks.names() == ["stop_job"]
    queued_tasks.run()
    assert fake_sagemaker.job("tune-a").status == "Stopping"


def test_sweep_fails_jobs_stuck_past_the_limit_with_a_reason(launched, fake_sagemaker, submit, settings):
    running = launched("tune-a")
    services.sync_job(running.pk)
    fresh = launched("tune-c")
    services.sync_job(fresh.pk)
    pending = submit(make_request("tune-b"))  # its launch never runs
    HpoJob.objects.filter(pk=pending.pk).update(engine_error="AWS credentials are missing or invalid: x")
    limit = timedelta(seconds=settings.HPO_STUCK_AFTER_S + 60)
    _age(running, last_synced_at=limit)
    _age(pending, created_at=limit)
    assert services.sweep_jobs()["stuck"] == 2
    running.refresh_from_db()
    pending.refresh_from_db()
    assert running.status == Status.FAILED and "No progress report from the engine" in running.failure_reason
    assert pending.status == Status.FAILED and "could not be launched" in pending.failure_reason
    assert "AWS credentials are missing" in pending.failure_reason
    assert HpoJob.objects.get(pk=fresh.pk).status == Status.IN_PROGRESS


# --- notify -------------------------------------------------------------------------------------
def test_the_creator_is_emailed_once_with_the_link_and_best_value(launched, fake_sagemaker, settings):
    settings.PORTAL_BASE_URL = "https://hpo.example.com"
    job = launched("tune-a")
    fake_sagemaker.job("tune-a").add_children(5)
    fake_sagemaker.job("tune-a").end("Completed")
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.status == Status.COMPLETED and job.notified_at is not None
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "tune-a" in message.subject and "Completed" in message.subject
    assert "https://hpo.example.com/projects/demo/hpo-jobs/tune-a/" in message.body
    assert f"validation:auc = {job.best_objective_value:g}" in message.body
    assert services.notify_job_ended(job) is False
    services.sweep_jobs()
    assert len(mail.outbox) == 1


def test_an_email_that_could_not_be_sent_is_retried_by_the_sweep(launched, fake_sagemaker):
    job = launched("tune-a")
    fake_sagemaker.job("tune-a").end("Failed", failure_reason="ClientError: no data in channel train")

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    with mock.patch.object(services, "send_mail", smtp_down):
        services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.status == Status.FAILED and job.notified_at is None
    services.sweep_jobs()
    assert len(mail.outbox) == 1
    assert "Reason: ClientError: no data in channel train" in mail.outbox[0].body


# --- /healthz -----------------------------------------------------------------------------------
def test_healthz_reports_aws_without_calling_it(aws_env, admin_client_, fake_sagemaker):
    body = admin_client_.get("/healthz").json()
    assert body["status"] == "ok" and body["aws"]["ok"] is True and "not checked yet" in body["aws"]["detail"]
    assert fake_sagemaker.calls == {}
    EngineHealth.objects.create(backend="sagemaker", ok=False, checked_at=timezone.now(),
                                detail="AWS credentials are missing or invalid: Unable to locate credentials")
    response = admin_client_.get("/healthz")
    assert response.status_code == 200
    assert response.json()["aws"] == {
        "ok": False,
        "detail": response.json()["aws"]["detail"],
    }
    assert response.json()["aws"]["detail"].startswith("AWS credentials are missing or invalid: Unable to locate")


def test_healthz_has_no_aws_line_with_the_local_engine(admin_client_, settings):
    settings.HPO_BACKEND = "local"
    assert "aws" not in admin_client_.get("/healthz").json()


# --- tasks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", [tasks.launch_job, tasks.sync_job, tasks.stop_job])
def test_tasks_retry_transient_errors_with_backoff_from_settings(task, settings):
    assert task.autoretry_for == (TransientBackendError,)
    assert task.retry_backoff is True and task.retry_jitter is True
    assert task.max_retries == settings.HPO_TASK_MAX_RETRIES
    assert task.retry_backoff_max == settings.HPO_TASK_RETRY_BACKOFF_MAX_S


def test_beat_names_the_tasks_that_exist(settings):
    from hpo_portal.celery import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
