"""The only code that changes an HPO job's state: create, launch, sync, stop, sweep, notify, and the
insights stored on a job (recomputed when its evaluated children change).

How nothing is lost or done twice:
- The database is the outbox. ``create_job`` stores the job Pending and queues its launch on
  commit; when the broker is down the job stays Pending and ``sweep_jobs`` queues it later.
- ``launch_job`` is idempotent on the job name: a name that already exists in the engine with our
  request (a worker killed after the create call) counts as launched.
- Every state change is a compare-and-set update (``filter(pk=..., status=old).update(...)``):
  of two racing writers, one wins and the other sees a row count of 0.
- A sync claims its jobs (``sync_claimed_until``, a batch in one query) so that overlapping beats
  never sync a job twice at once; the beat claims a batch before queueing it, so a queued job is
  never queued again, and a batch lost with its worker is synced again once its claim lapses.
  Children are upserted on the (job, name) unique constraint, so even two syncs at once cannot
  duplicate a row. After an engine error the claim is held for a backoff delay instead.
- A describe exactly equal to the stored one writes nothing but the sync's time (one UPDATE for a
  batch); the describes of a batch run in threads that never touch the database.
- The children are listed only when the describe response's counters, last-modified time or
  status differ from the last listing (``children_fingerprint``), newest first, and the listing
  stops as soon as every new or unfinished child has been seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .backends import (
    AlreadyExistsError,
    Backend,
    BackendError,
    CredentialsError,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    get_backend,
)
from .models import EngineHealth, HpoJob, TrainingJob
from .sagemaker import request as facts

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from projects.models import Project

log = logging.getLogger(__name__)

Status = HpoJob.Status

# The engine's HyperParameterTuningJobStatus values we know; anything else is kept as Unknown.
ENGINE_STATUSES: dict[str, str] = {
    "InProgress": Status.IN_PROGRESS,
    "Completed": Status.COMPLETED,
    "Failed": Status.FAILED,
    "Stopping": Status.STOPPING,
    "Stopped": Status.STOPPED,
    "Deleting": Status.DELETING,
    "DeleteFailed": Status.DELETE_FAILED,
}
# Launched jobs the poller follows. Deleting is followed too, so that it ends as Deleted.
SYNC_STATUSES = (Status.IN_PROGRESS, Status.STOPPING, Status.UNKNOWN, Status.DELETING)
# Jobs whose end the creator is told about by email.
NOTIFY_STATUSES = (Status.COMPLETED, Status.FAILED, Status.STOPPED)
# A child in one of these states whose objective is not Pending never changes again.
SETTLED_CHILD_STATUSES = facts.TRAINING_JOB_ENDED_STATUSES

# The job's fields a sync reads: a claim loads only these (not the request nor the stored answers).
SYNC_FIELDS = (
    "name", "backend", "status", "engine_status", "arn", "stop_requested_at", "children_fingerprint",
    "last_describe", "engine_error", "engine_error_count", "started_at", "ended_at", "launched_at",
    "last_synced_at", "sync_claimed_until",
)
PAGE_SIZE = 100  # ListTrainingJobsForHyperParameterTuningJob's maximum
MAX_CHILDREN = facts.MAX_TRAINING_JOBS_RANDOM  # Random search's raised quota: the most children a job has
# A claim lapses after this long, so a worker killed mid-sync holds its job back from the page for
# at most this. A sync that outlives it (a 10,000-child first listing) is still safe: upserts and the
# compare-and-set on status make a second, overlapping sync harmless, only wasteful.
SYNC_LEASE = timedelta(seconds=90)
# Right after a create, a describe may not find the job yet (eventual consistency): not Deleted.
NOT_FOUND_GRACE = timedelta(minutes=5)
# A job whose launch was never queued (broker down) is queued by the sweep after this long; the
# grace only avoids racing the web request that is publishing it right now.
NEVER_QUEUED_GRACE = timedelta(seconds=10)
# The sweep retries an unsent "job ended" email for this long.
NOTIFY_RETRY_WINDOW = timedelta(days=1)


class JobNameTaken(Exception):
    """A job with this name (case-insensitively) already exists in the portal."""

    def __init__(self, name: str):
        super().__init__(f"A tuning job named {name!r} already exists; choose another name.")
        self.name = name


# --- create -------------------------------------------------------------------------------------
def create_job(project: Project, user: AbstractBaseUser, request: dict[str, Any]) -> HpoJob:
    """Store a Pending job with the exact request and queue its launch once the transaction commits."""
    config = request["HyperParameterTuningJobConfig"]
    name = request["HyperParameterTuningJobName"]
    try:
        # A savepoint, so that a caller's own transaction survives the name clash.
        with transaction.atomic():
            job = HpoJob.objects.create(
                project=project,
                name=name,
                created_by=user,
                backend=settings.HPO_BACKEND,
                request=request,
                strategy=config["Strategy"],
                max_training_jobs=facts.max_training_jobs(request),
            )
            job_id = job.pk
            # robust: the job is committed whatever happens while queueing it (the sweep catches up).
            transaction.on_commit(lambda: _queue_launch(job_id), robust=True)
    except IntegrityError:
        if HpoJob.objects.filter(name__iexact=name).exists():
            raise JobNameTaken(name) from None
        raise
    log.info("Job %s (%s) created by %s in project %s", job.name, job.pk, user, project.slug)
    return job


def _queue_launch(job_id: int) -> bool:
    from . import tasks  # tasks imports this module

    try:
        tasks.launch_job.apply_async((job_id,))
    except Exception:
        # Broker down: the job is safe in the database, still Pending; the sweep queues it later.
        log.warning("Could not queue the launch of job %s; the sweep will queue it again", job_id, exc_info=True)
        return False
    HpoJob.objects.filter(pk=job_id, status=Status.PENDING).update(launch_queued_at=timezone.now())
    return True


# --- launch -------------------------------------------------------------------------------------
def launch_job(job_id: int) -> bool:
    """Send a Pending job's stored request to its engine; a job already there under our name counts as launched."""
    job = HpoJob.objects.filter(pk=job_id).first()
    # Counting the attempt is also the check that the job is still Pending (a stop may have won).
    if job is None or not HpoJob.objects.filter(pk=job_id, status=Status.PENDING).update(
        launch_attempts=F("launch_attempts") + 1
    ):
        log.info("Launch of job %s skipped: %s", job_id, "gone" if job is None else "no longer Pending")
        return False
    backend = get_backend(job.backend)
    try:
        arn = _create_or_adopt(backend, job)
    except CredentialsError as exc:
        # Not the job's fault: keep it Pending with the message; the sweep retries the launch.
        _note_engine_error(job, exc)
        _record_engine_health(job.backend, exc)
        return False
    except TransientBackendError as exc:
        _note_engine_error(job, exc)
        raise  # the task retries with backoff
    except BackendError as exc:
        log.info("Job %s failed at launch: %s", job.name, exc)
        now = timezone.now()
        if _cas(job.pk, Status.PENDING, status=Status.FAILED, failure_reason=str(exc),
                engine_error="", ended_at=now):
            notify_job_ended(job)
        return False

    now = timezone.now()
    launched = _cas(job.pk, Status.PENDING, status=Status.IN_PROGRESS, arn=arn, launched_at=now,
                    engine_error="", engine_error_count=0)
    if launched:
        log.info("Job %s launched on %s: %s", job.name, job.backend, arn)
        _record_engine_health(job.backend, None)
    else:
        _honour_stop_during_launch(job.pk, arn)
    return launched


def _create_or_adopt(backend: Backend, job: HpoJob) -> str:
    try:
        return backend.create_tuning_job(job.request)["HyperParameterTuningJobArn"]
    except AlreadyExistsError:
        pass
    # The name exists: either our own earlier attempt (a worker killed after the create call, or
    # two launches racing), or somebody else's job.
    try:
        described = backend.describe_tuning_job(job.name)
    except NotFoundError:
        raise TransientBackendError(f"{job.name} was reported to exist, then not found; retrying") from None
    if not _is_our_job(job.request, described):
        raise PermanentBackendError(
            f"A tuning job named {job.name} already exists in this AWS account and region with a different "
            "configuration. Clone this job under another name."
        )
    log.info("Job %s already existed in %s with our request: counted as launched", job.name, job.backend)
    return described["HyperParameterTuningJobArn"]


def _definition_keys(message: dict[str, Any]) -> list[tuple[str, str, str]]:
    keys = []
    for d in facts.definitions(message):
        algorithm = d.algorithm_specification
        keys.append((d.name, d.data.get("RoleArn") or "",
                     algorithm.get("TrainingImage") or algorithm.get("AlgorithmName") or ""))
    return sorted(keys)


def _is_our_job(request: dict[str, Any], described: dict[str, Any]) -> bool:
    """Whether the engine's job was created from our request (same strategy, roles, algorithms)."""
    ours = request["HyperParameterTuningJobConfig"].get("Strategy")
    theirs = (described.get("HyperParameterTuningJobConfig") or {}).get("Strategy")
    return (
        str(described.get("HyperParameterTuningJobName", "")).lower()
        == request["HyperParameterTuningJobName"].lower()
        and ours == theirs
        and _definition_keys(request) == _definition_keys(described)
    )


def _honour_stop_during_launch(job_id: int, arn: str) -> None:
    """The job left Pending while its create call was in flight: if a stop was asked, stop it there too."""
    job = HpoJob.objects.get(pk=job_id)
    if job.stop_requested_at and job.launched_at is None and job.status in (Status.STOPPED, Status.STOPPING):
        # It now exists in the engine: follow it as Stopping until the engine says Stopped.
        if _cas(job.pk, job.status, status=Status.STOPPING, arn=arn, launched_at=timezone.now(), ended_at=None):
            _queue_stop(job.pk)
    else:
        log.info("Job %s launched but was %s meanwhile", job.name, job.status)


# --- sync ---------------------------------------------------------------------------------------
def due_job_ids() -> list[int]:
    """The launched, unfinished jobs whose sync is due (no live claim), least recently synced first."""
    now = timezone.now()
    return list(
        HpoJob.objects.filter(status__in=SYNC_STATUSES, launched_at__isnull=False)
        .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lte=now))
        .order_by(F("last_synced_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )


def _batches(ids: list[int]) -> list[list[int]]:
    size = settings.HPO_SYNC_BATCH_SIZE
    return [ids[start:start + size] for start in range(0, len(ids), size)]


def sync_active_jobs(concurrency: int | None = None) -> dict[str, int]:
    """Sync every due job once, here, batch after batch (see ``sync_jobs``); one job's failure never
    stops the others."""
    ids = due_job_ids()
    result = {"jobs": len(ids), "synced": 0, "skipped": 0, "errors": 0}
    for batch in _batches(ids):
        for outcome, count in sync_jobs(batch, concurrency).items():
            result[outcome] += count
    return result


def fan_out_active_jobs() -> dict[str, int]:
    """The beat's poll: the due jobs are claimed batch by batch, and every batch but the first is
    queued as a ``sync_jobs`` task of its own, so that the workers sync a cycle's batches side by side;
    the first batch, and any batch that could not be queued (broker down), is synced here.

    The claim is taken before the batch is queued, so an overlapping beat never queues a job twice;
    a batch whose task is lost (a killed worker, an expired message) keeps its jobs only until the
    claim lapses (SYNC_LEASE), and the next beat then syncs them.
    """
    from . import tasks  # tasks imports this module

    ids = due_job_ids()
    result = {"jobs": len(ids), "queued": 0, "synced": 0, "skipped": 0, "errors": 0}
    here: list[tuple[list[int], datetime]] = []
    for number, batch in enumerate(_batches(ids)):
        until, claimed = _claim(batch)
        result["skipped"] += len(batch) - len(claimed)
        if not claimed:
            continue
        if number:
            try:
                tasks.sync_jobs.apply_async((claimed, until.isoformat()), expires=until)
            except Exception:
                log.warning("Could not queue a sync of %d jobs; syncing them here", len(claimed), exc_info=True)
            else:
                result["queued"] += len(claimed)
                continue
        here.append((claimed, until))
    for claimed, until in here:
        for outcome, count in sync_jobs(claimed, claimed_until=until).items():
            result[outcome] += count
    return result


def sync_jobs(job_ids: list[int], concurrency: int | None = None, *, claimed_until: datetime | None = None
              ) -> dict[str, int]:
    """Sync these jobs once: one claim for all of them (or the claim ``claimed_until`` the caller
    took), their describes side by side in up to HPO_SYNC_CONCURRENCY threads (a describe is mostly
    waiting on the engine, about 50 ms on AWS), and one write for every job whose describe is exactly
    the stored one.

    The threads only call the engine; every database read and write is made here, so the threads
    never queue for the database (SQLite takes one writer at a time). A job held by another sync is
    skipped; a job whose sync fails is counted as an error and released, never stopping the others.
    """
    if claimed_until is None:
        until, claimed = _claim(job_ids)
    else:
        until, claimed = claimed_until, job_ids
    jobs = _claimed_jobs(claimed, until)
    result = {"synced": 0, "skipped": len(set(job_ids)) - len(jobs), "errors": 0}
    if not jobs:
        return result
    workers = min(concurrency or settings.HPO_SYNC_CONCURRENCY, len(jobs))
    if workers <= 1:
        answers = [_describe(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hpo-sync") as pool:
            answers = list(pool.map(_describe, jobs))
    unchanged: list[HpoJob] = []
    for job, answer in zip(jobs, answers):
        outcome = _sync_isolated(job, until, answer)
        if outcome == "unchanged":
            unchanged.append(job)
            outcome = "synced"
        result[outcome] += 1
    _note_unchanged(unchanged, until)
    return result


def _describe(job: HpoJob) -> dict[str, Any] | Exception:
    """The engine's describe of the job, or the exception it raised (handled with the job's sync)."""
    try:
        return get_backend(job.backend).describe_tuning_job(job.name)
    except Exception as exc:
        return exc


def _sync_isolated(job: HpoJob, until: datetime, answer: dict[str, Any] | Exception) -> str:
    try:
        return "synced" if _sync_claimed(job, until, answer) else "unchanged"
    except BackendError as exc:
        _hold_after_error(job, until, exc)
        return "skipped"
    except Exception:
        log.exception("Sync of job %s failed", job.pk)
        _release(job.pk, until)
        return "errors"


def sync_job(job_id: int) -> bool:
    """Mirror one job from its engine (one describe, the children only when they changed); False if not done."""
    # Not done: another sync holds the job, or the engine could not be asked (the error is kept on
    # the job and the claim is held for a backoff delay, so the next beats are the retry).
    until, claimed = _claim([job_id])
    jobs = _claimed_jobs(claimed, until)
    if not jobs:
        return False
    (job,) = jobs
    try:
        if not _sync_claimed(job, until, _describe(job)):
            _note_unchanged([job], until)
    except BackendError as exc:
        _hold_after_error(job, until, exc)
        return False
    except BaseException:
        _release(job.pk, until)
        raise
    return True


def _claim(job_ids: list[int]) -> tuple[datetime, list[int]]:
    """Claim those of the jobs that are free (no live claim) and still followed: the claim's end, and
    the jobs claimed."""
    now = timezone.now()
    # The claim's end is also its owner's token (the release and every write filter on it): a random
    # part keeps two claims made at the same instant apart.
    until = now + SYNC_LEASE + timedelta(microseconds=random.randrange(1_000_000))
    with transaction.atomic():
        # SKIP LOCKED (PostgreSQL): a job another sync is claiming right now is simply not claimed
        # here, so overlapping claims never wait on, nor deadlock with, each other.
        claimed = list(
            HpoJob.objects.filter(pk__in=job_ids, status__in=SYNC_STATUSES)
            .filter(Q(sync_claimed_until__isnull=True) | Q(sync_claimed_until__lte=now))
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if claimed:
            HpoJob.objects.filter(pk__in=claimed).update(sync_claimed_until=until)
    return until, claimed


def _claimed_jobs(job_ids: list[int], until: datetime) -> list[HpoJob]:
    """The jobs that still hold the claim ``until`` (a stuck-job sweep, or a lapse and another claim,
    may have taken it since), with only the fields a sync reads."""
    if not job_ids:
        return []
    return list(
        HpoJob.objects.filter(pk__in=job_ids, sync_claimed_until=until, status__in=SYNC_STATUSES)
        .only(*SYNC_FIELDS).order_by("pk")
    )


def _release(job_id: int, until: datetime) -> None:
    HpoJob.objects.filter(pk=job_id, sync_claimed_until=until).update(sync_claimed_until=None)


def _note_unchanged(jobs: list[HpoJob], until: datetime) -> None:
    """One write for the jobs whose describe was exactly the stored one: synced now, claim released."""
    if not jobs:
        return
    # The row's state is not written (nor its updated_at): the pages have nothing new to show.
    HpoJob.objects.filter(pk__in=[job.pk for job in jobs], sync_claimed_until=until).update(
        sync_claimed_until=None, last_synced_at=timezone.now(), engine_error="", engine_error_count=0
    )
    for backend in {job.backend for job in jobs if job.engine_error}:
        _record_engine_health(backend, None)


def _hold_after_error(job: HpoJob, until: datetime, exc: BackendError) -> None:
    """Keep the claim for a backoff delay (exponential, with jitter) so the next beats leave the job alone."""
    count = job.engine_error_count + 1
    delay = min(settings.HPO_TASK_RETRY_BACKOFF_MAX_S, settings.HPO_POLL_INTERVAL_S * 2 ** min(count - 1, 20))
    delay *= random.uniform(0.5, 1.0)
    log.warning("Sync of job %s failed (%s attempt %d); next try in %.0f s: %s",
                job.name, type(exc).__name__, count, delay, exc)
    HpoJob.objects.filter(pk=job.pk, sync_claimed_until=until).update(
        sync_claimed_until=timezone.now() + timedelta(seconds=delay), engine_error=str(exc), engine_error_count=count
    )
    if isinstance(exc, CredentialsError):
        _record_engine_health(job.backend, exc)


def _sync_claimed(job: HpoJob, until: datetime, answer: dict[str, Any] | Exception) -> bool:
    """Mirror a claimed job from its describe ``answer`` (or the error the describe raised, raised
    here); False when the answer is exactly the stored one, so there is nothing to write but the
    sync's time and the claim's release (left to the caller, which writes them for many jobs at once)."""
    if isinstance(answer, NotFoundError):
        _engine_lost_job(job, until, answer)
        return True
    if isinstance(answer, Exception):
        raise answer
    described = answer
    fingerprint = children_fingerprint(described)
    status = _status_for(job, described)
    if status == job.status and fingerprint == job.children_fingerprint and json_safe(described) == job.last_describe:
        return False
    summaries: list[dict[str, Any]] | None = None
    if fingerprint != job.children_fingerprint:
        # At the end, read every page once more: the last chance to see every child's final state.
        summaries = _list_children(get_backend(job.backend), job, described, full=status in HpoJob.TERMINAL_STATUSES)

    fields = _fields_from_describe(job, described, status)
    fields["sync_claimed_until"] = None  # releases the claim in the same write
    if summaries is not None:
        fields["children_fingerprint"] = fingerprint
    written = 0
    with transaction.atomic():
        if summaries:
            written = upsert_children(job, summaries)
        updated = _cas(job.pk, job.status, **fields)
    if not updated:
        # Changed meanwhile (a stop request): the next beat syncs it again from the new state.
        _release(job.pk, until)
        return True
    if job.engine_error:
        _record_engine_health(job.backend, None)
    if written:
        queue_insights_if_stale(job.pk)
    if status in HpoJob.TERMINAL_STATUSES and job.status not in HpoJob.TERMINAL_STATUSES:
        log.info("Job %s ended: %s", job.name, status)
        notify_job_ended(job)
    return True


def _engine_lost_job(job: HpoJob, until: datetime, exc: NotFoundError) -> None:
    now = timezone.now()
    if job.last_synced_at is None and job.launched_at and now - job.launched_at < NOT_FOUND_GRACE:
        raise TransientBackendError(f"{job.name} is not visible in the engine yet") from exc
    reason = (
        f"The tuning job no longer exists in {get_backend(job.backend).capabilities.display_name} "
        f"(deleted on its side?). Its last known status was {job.engine_status or job.status}."
    )
    if _cas(job.pk, job.status, status=Status.DELETED, failure_reason=reason, ended_at=now,
            sync_claimed_until=None, last_synced_at=now, engine_error=""):
        log.warning("Job %s: the engine no longer knows it; marked Deleted", job.name)
    else:
        _release(job.pk, until)


def _status_for(job: HpoJob, described: dict[str, Any]) -> str:
    engine_status = str(described.get("HyperParameterTuningJobStatus", ""))
    status = ENGINE_STATUSES.get(engine_status)
    if status is None:
        if engine_status != job.engine_status:
            log.warning("Job %s: the engine answered an unknown status %r; kept as Unknown", job.name, engine_status)
        return Status.UNKNOWN
    if status == Status.IN_PROGRESS and job.stop_requested_at:
        return Status.STOPPING  # the stop is asked but not yet seen by the engine
    return status


def children_fingerprint(described: dict[str, Any]) -> str:
    """What must change in a describe response for the children to be worth listing again."""
    key = [
        described.get("HyperParameterTuningJobStatus"),
        described.get("TrainingJobStatusCounters") or {},
        described.get("ObjectiveStatusCounters") or {},
        _iso(described.get("LastModifiedTime")),
    ]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def _list_children(backend: Backend, job: HpoJob, described: dict[str, Any], *, full: bool) -> list[dict[str, Any]]:
    """The children worth upserting: every page when ``full``, else until each new or unfinished one is seen."""
    counters = described.get("TrainingJobStatusCounters") or {}
    expected = sum(v for v in counters.values() if isinstance(v, int))
    children = TrainingJob.objects.filter(hpo_job=job)
    # Only the unsettled children and how many are stored are read, not every stored row: on a
    # 10,000-child job a changed poll must cost what changed, not what is there.
    stored = children.count()
    unsettled = set(
        children.filter(~Q(status__in=SETTLED_CHILD_STATUSES) | Q(objective_status="Pending"))
        .values_list("name", flat=True)
    )
    seen: dict[str, dict[str, Any]] = {}
    new = 0  # seen children that are not stored yet
    token: str | None = None
    for _ in range(MAX_CHILDREN // PAGE_SIZE):
        page = backend.list_training_jobs(job.name, next_token=token, max_results=PAGE_SIZE)
        names = []
        for summary in page.get("TrainingJobSummaries") or []:
            if summary["TrainingJobName"] not in seen:
                names.append(summary["TrainingJobName"])
            seen[summary["TrainingJobName"]] = summary
        if names:
            new += len(names) - children.filter(name__in=names).count()
        token = page.get("NextToken")
        if not token:
            break
        # Settled children never change: once every unfinished one and every new one (the counters
        # say how many there are) has been seen, the remaining pages hold nothing new.
        if not full and unsettled.issubset(seen) and stored + new >= expected:
            break
    else:
        if token:
            log.warning("Job %s has more than %d training jobs; only the first are mirrored", job.name, MAX_CHILDREN)
    return list(seen.values())


def upsert_children(job: HpoJob, summaries: list[dict[str, Any]]) -> int:
    """Insert the job's new child rows and update the changed ones from the engine's training job
    summaries; returns how many rows were written."""
    incoming = {summary["TrainingJobName"]: json_safe(summary) for summary in summaries}
    unchanged: set[str] = set()
    names = list(incoming)
    for start in range(0, len(names), 500):
        batch = names[start:start + 500]
        for name, stored in TrainingJob.objects.filter(hpo_job=job, name__in=batch).values_list("name", "summary"):
            if stored == incoming[name]:
                unchanged.add(name)  # the engine sent exactly what is stored: nothing to write
    # In name order, so that two writers lock rows in the same order (no deadlock on PostgreSQL).
    rows = sorted(
        (_child_row(job, summary) for name, summary in incoming.items() if name not in unchanged),
        key=lambda row: row.name,
    )
    TrainingJob.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["hpo_job", "name"],
        update_fields=[
            "arn", "definition_name", "status", "tuned_hyperparameters", "objective_metric_name",
            "objective_value", "objective_status", "failure_reason", "creation_time", "start_time",
            "end_time", "warm_start_parent", "summary",
        ],
    )
    return len(rows)


def _child_row(job: HpoJob, summary: dict[str, Any]) -> TrainingJob:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    parent = str(summary.get("TuningJobName") or "")
    return TrainingJob(
        hpo_job=job,
        name=summary["TrainingJobName"],
        arn=summary.get("TrainingJobArn") or "",
        definition_name=summary.get("TrainingJobDefinitionName") or "",
        status=summary.get("TrainingJobStatus") or "",
        tuned_hyperparameters=summary.get("TunedHyperParameters") or {},
        objective_metric_name=metric.get("MetricName") or "",
        objective_value=metric.get("Value"),
        objective_status=summary.get("ObjectiveStatus") or "",
        failure_reason=summary.get("FailureReason") or "",
        creation_time=facts.to_datetime(summary.get("CreationTime")),
        start_time=facts.to_datetime(summary.get("TrainingStartTime")),
        end_time=facts.to_datetime(summary.get("TrainingEndTime")),
        warm_start_parent=parent[:32] if parent and parent.lower() != job.name.lower() else "",
        summary=json_safe(summary),
    )


def training_job_metrics(
    backend: Backend, training_job: TrainingJob, metric_definitions: list[dict[str, str]]
) -> dict[str, list[float]] | None:
    """A training job's metric series: the stored ones, else the engine's, stored here once the
    training job has ended (so its log is parsed once); None while the engine reads them only at
    the end. Raises BackendError, or ValueError for a regex RE2 cannot run."""
    if training_job.metric_series is not None:
        return training_job.metric_series
    ended = training_job.status in facts.TRAINING_JOB_ENDED_STATUSES
    if not ended and not backend.live_metrics:
        return None
    series = backend.get_training_job_metrics(training_job.name, metric_definitions)
    if ended:
        TrainingJob.objects.filter(pk=training_job.pk, metric_series__isnull=True).update(metric_series=series)
        training_job.metric_series = series
    return series


def _fields_from_describe(job: HpoJob, described: dict[str, Any], status: str) -> dict[str, Any]:
    now = timezone.now()
    counters = described.get("TrainingJobStatusCounters") or {}
    best = json_safe(described.get("BestTrainingJob"))
    best_metric = (best or {}).get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    ended_at = facts.to_datetime(described.get("HyperParameterTuningEndTime"))
    if ended_at is None and status in HpoJob.TERMINAL_STATUSES:
        ended_at = job.ended_at or now
    return {
        "status": status,
        "engine_status": str(described.get("HyperParameterTuningJobStatus", ""))[:40],
        "arn": described.get("HyperParameterTuningJobArn") or job.arn,
        "failure_reason": described.get("FailureReason") or "",
        "training_job_status_counters": json_safe(counters),
        "objective_status_counters": json_safe(described.get("ObjectiveStatusCounters") or {}),
        "completion_details": json_safe(described.get("TuningJobCompletionDetails") or {}),
        "best_training_job": best,
        "overall_best_training_job": json_safe(described.get("OverallBestTrainingJob")),
        "best_objective_value": best_metric.get("Value"),
        "completed_count": int(counters.get("Completed") or 0),
        "finished_count": finished_training_jobs(counters),
        "started_at": facts.to_datetime(described.get("CreationTime")) or job.started_at,
        "ended_at": ended_at,
        "engine_last_modified": facts.to_datetime(described.get("LastModifiedTime")),
        "last_describe": json_safe(described),
        "last_synced_at": now,
        "engine_error": "",
        "engine_error_count": 0,
    }


def finished_training_jobs(counters: dict[str, Any]) -> int:
    """How many of a job's training jobs have ended (Completed, Stopped or failed), from the engine's counters."""
    return sum(int(counters.get(key) or 0) for key in facts.FINISHED_COUNTERS)


# --- stop ---------------------------------------------------------------------------------------
def request_stop(job: HpoJob, user: AbstractBaseUser) -> bool:
    """Stop the job for ``user`` (the view checks access.can_stop_job); False when it had already ended."""
    # A job never sent to its engine is Stopped at once; any other shows Stopping until the engine
    # says Stopped.
    for _ in range(3):  # a racing writer changed the status: decide again from the new one
        row = HpoJob.objects.filter(pk=job.pk).values("status", "launch_attempts").first()
        if row is None:
            return False
        status, now = row["status"], timezone.now()
        if status == Status.STOPPING:
            return True
        if status not in HpoJob.STOPPABLE_STATUSES:
            return False
        if status == Status.PENDING and row["launch_attempts"] == 0:
            if HpoJob.objects.filter(pk=job.pk, status=Status.PENDING, launch_attempts=0).update(
                status=Status.STOPPED, stop_requested_at=now, stop_requested_by=_user_or_none(user), ended_at=now,
                updated_at=now,
            ):
                log.info("Job %s stopped by %s before its launch", job.name, user)
                job.refresh_from_db()
                notify_job_ended(job)
                return True
            continue
        # A Pending job with a launch attempt may exist in the engine already: stop it there.
        if _cas(job.pk, status, status=Status.STOPPING, stop_requested_at=now, stop_requested_by=_user_or_none(user)):
            log.info("Job %s: stop requested by %s", job.name, user)
            job_id = job.pk
            transaction.on_commit(lambda: _queue_stop(job_id), robust=True)
            job.refresh_from_db()
            return True
    return False


def _user_or_none(user: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return user if user is not None and getattr(user, "pk", None) is not None else None


def _queue_stop(job_id: int) -> bool:
    from . import tasks

    try:
        tasks.stop_job.apply_async((job_id,))
    except Exception:
        log.warning("Could not queue the stop of job %s; the sweep will queue it again", job_id, exc_info=True)
        return False
    HpoJob.objects.filter(pk=job_id).update(stop_queued_at=timezone.now())
    return True


def stop_job(job_id: int) -> bool:
    """Send the stop of a Stopping job to its engine; the sync then follows it to Stopped."""
    job = HpoJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.STOPPING:
        return False
    try:
        get_backend(job.backend).stop_tuning_job(job.name)
    except NotFoundError:
        if job.launched_at is None:
            # Its launch never reached the engine: nothing runs there.
            now = timezone.now()
            if _cas(job.pk, Status.STOPPING, status=Status.STOPPED, ended_at=now, engine_error=""):
                notify_job_ended(job)
            return True
        return False  # the next sync finds it gone and marks it Deleted
    except CredentialsError as exc:
        _note_engine_error(job, exc)
        _record_engine_health(job.backend, exc)
        return False  # the sweep queues the stop again
    except PermanentBackendError as exc:
        # Typically the job ended on its own meanwhile; the next sync mirrors its final state.
        log.info("Stop of job %s refused by the engine: %s", job.name, exc)
        return False
    if job.launched_at is None:
        # It did exist in the engine (its launch reached it): from now on the poller follows it.
        _cas(job.pk, Status.STOPPING, launched_at=timezone.now())
    log.info("Job %s: stop sent to %s", job.name, job.backend)
    return True


# --- sweep --------------------------------------------------------------------------------------
def sweep_jobs() -> dict[str, int]:
    """Queue again lost launches and stops, fail jobs stuck past the limit, retry unsent emails, check AWS access."""
    now = timezone.now()
    result = {"stuck": 0, "relaunched": 0, "restopped": 0, "notified": 0}

    stuck_before = now - timedelta(seconds=settings.HPO_STUCK_AFTER_S)
    stuck = (
        HpoJob.objects.filter(status__in=HpoJob.ACTIVE_STATUSES + (Status.DELETING,))
        .annotate(last_heard=Coalesce("last_synced_at", "launched_at", "created_at"))
        .filter(last_heard__lt=stuck_before)
    )
    for job in stuck:
        if _cas(job.pk, job.status, status=Status.FAILED, failure_reason=_stuck_reason(job), ended_at=now,
                sync_claimed_until=None):
            log.warning("Job %s stuck since %s: marked Failed", job.name, job.last_heard)
            result["stuck"] += 1
            notify_job_ended(job)

    relaunch_before = now - timedelta(seconds=settings.HPO_RELAUNCH_AFTER_S)
    lost_launches = HpoJob.objects.filter(status=Status.PENDING).filter(
        Q(launch_queued_at__isnull=True, created_at__lt=now - NEVER_QUEUED_GRACE)
        | Q(launch_queued_at__lt=relaunch_before)
    )
    for job_id in lost_launches.values_list("pk", flat=True):
        result["relaunched"] += _queue_launch(job_id)

    lost_stops = (
        HpoJob.objects.filter(status=Status.STOPPING)
        .exclude(engine_status__in=["Stopping", "Stopped"])
        .annotate(last_sent=Coalesce("stop_queued_at", "stop_requested_at"))
        .filter(Q(last_sent__isnull=True) | Q(last_sent__lt=relaunch_before))
    )
    for job_id in lost_stops.values_list("pk", flat=True):
        result["restopped"] += _queue_stop(job_id)

    # Recently ended only (the row's own update time, not the engine's clock): old jobs are never mailed.
    unsent = HpoJob.objects.filter(
        status__in=NOTIFY_STATUSES, notified_at__isnull=True, updated_at__gte=now - NOTIFY_RETRY_WINDOW
    )
    for job in unsent:
        result["notified"] += notify_job_ended(job)

    check_engine_access()
    return result


def _stuck_reason(job: HpoJob) -> str:
    hours = settings.HPO_STUCK_AFTER_S / 3600
    last_error = f" Last error: {job.engine_error}" if job.engine_error else ""
    if job.status == Status.PENDING:
        return f"The job could not be launched within {hours:g} hours, so it was given up.{last_error}"
    return (
        f"No progress report from the engine for over {hours:g} hours, so the portal stopped following "
        f"this job; check it in the engine's console.{last_error}"
    )


# --- insights -----------------------------------------------------------------------------------
def refresh_insights(job_id: int) -> bool:
    """Compute a job's hyperparameter importance and narrowed ranges from its evaluated children and store them."""
    from .pages import insights  # the computation lives with the pages that show it

    job = HpoJob.objects.filter(pk=job_id).first()
    if job is None:
        return False
    if job.insights is not None and job.insights_count == _evaluated_count(job_id):
        return False  # a duplicate of a refresh already done (the sync and the sweep may both queue one)
    result = insights.compute(job)
    HpoJob.objects.filter(pk=job_id).update(insights=json_safe(result), insights_count=result["evaluated"])
    return True


def _evaluated_count(job_id: int) -> int:
    return TrainingJob.objects.filter(hpo_job_id=job_id, objective_value__isnull=False).count()


def queue_insights_if_stale(job_id: int) -> bool:
    """Queue ``refresh_insights`` when the job's evaluated children are not those its insights came from."""
    stored = HpoJob.objects.filter(pk=job_id).values_list("insights_count", "insights").first()
    if stored is None:
        return False
    count, computed = stored
    if computed is not None and count == _evaluated_count(job_id):
        return False
    return _queue_insights(job_id)


def _queue_insights(job_id: int) -> bool:
    from . import tasks

    try:
        tasks.refresh_insights.apply_async((job_id,))
    except Exception:
        log.warning("Could not queue the insights of job %s; the sweep will queue them again", job_id, exc_info=True)
        return False
    return True


def queue_missing_insights() -> int:
    """Queue ``refresh_insights`` for every job whose stored insights lag its evaluated children (one query)."""
    lagging = (
        HpoJob.objects.annotate(evaluated=Count("training_jobs", filter=Q(training_jobs__objective_value__isnull=False)))
        .filter(evaluated__gt=0)
        .filter(Q(insights__isnull=True) | ~Q(insights_count=F("evaluated")))
        .values_list("pk", flat=True)
    )
    return sum(_queue_insights(job_id) for job_id in lagging)


# --- engine health (read by /healthz) -----------------------------------------------------------
def check_engine_access() -> None:
    """Make one cheap call to the configured engine and keep the outcome for /healthz."""
    try:
        backend = get_backend()
        check = getattr(backend, "check_access", None)
        if check is None:
            return  # an engine on this machine has no credentials to check
        check()
    except BackendError as exc:
        _record_engine_health(backend.name, exc)
    except Exception:
        log.exception("Could not check access to the %s engine", settings.HPO_BACKEND)
    else:
        EngineHealth.objects.update_or_create(
            backend=backend.name, defaults={"ok": True, "detail": "", "checked_at": timezone.now()}
        )


def _record_engine_health(backend_name: str, error: BackendError | None) -> None:
    now = timezone.now()
    if error is None:
        # Write only when recovering, so that healthy calls cost no extra write.
        EngineHealth.objects.filter(backend=backend_name, ok=False).update(ok=True, detail="", checked_at=now)
    else:
        EngineHealth.objects.update_or_create(
            backend=backend_name, defaults={"ok": False, "detail": str(error), "checked_at": now}
        )


def _note_engine_error(job: HpoJob, exc: BackendError) -> None:
    log.warning("Job %s: %s: %s", job.name, type(exc).__name__, exc)
    HpoJob.objects.filter(pk=job.pk).update(engine_error=str(exc), engine_error_count=F("engine_error_count") + 1)


# --- notify -------------------------------------------------------------------------------------
def notify_job_ended(job: HpoJob) -> bool:
    """Email the job's creator, once, that the job ended, with its link and best objective value."""
    job = HpoJob.objects.select_related("project", "created_by").get(pk=job.pk)
    if job.status not in NOTIFY_STATUSES or job.notified_at is not None:
        return False
    now = timezone.now()
    # Claimed before sending: of two racing callers only one sends.
    if not HpoJob.objects.filter(pk=job.pk, notified_at__isnull=True).update(notified_at=now):
        return False
    user = job.created_by
    if user is None or not user.email:
        return False
    url = settings.PORTAL_BASE_URL + job.get_absolute_url()
    lines = [f'Your HPO job "{job.name}" in project "{job.project.name}" ended: {job.status}.', ""]
    best = job.best_training_job or {}
    metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    if job.best_objective_value is not None:
        lines.append(
            f"Best objective value: {metric.get('MetricName', 'objective')} = {job.best_objective_value:g}"
            f" (training job {best.get('TrainingJobName', '?')})"
        )
    else:
        lines.append("Best objective value: none (no training job reported its objective metric).")
    if job.failure_reason:
        lines.append(f"Reason: {job.failure_reason}")
    lines += ["", f"Details: {url}"]
    try:
        send_mail(f"HPO job {job.name}: {job.status}", "\n".join(lines), None, [user.email])
    except Exception:
        # Give the claim back: the sweep retries the email.
        log.exception("Could not email %s about job %s", user.email, job.name)
        HpoJob.objects.filter(pk=job.pk, notified_at=now).update(notified_at=None)
        return False
    return True


# --- helpers ------------------------------------------------------------------------------------
def _cas(job_id: int, expected_status: str, **fields: Any) -> bool:
    """Update the job only if its status is still ``expected_status``; whether it was."""
    fields.setdefault("updated_at", timezone.now())
    return bool(HpoJob.objects.filter(pk=job_id, status=expected_status).update(**fields))


def json_safe(value: Any) -> Any:
    """The value with datetimes as ISO strings, ready for a JSONField."""
    if value is None:
        return None
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _iso(value: Any) -> str | None:
    moment = facts.to_datetime(value)
    return moment.isoformat() if moment else None
