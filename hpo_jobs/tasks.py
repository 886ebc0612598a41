"""Thin Celery tasks over ``hpo_jobs.services``: named verb_noun, taking ids, with the retry policy
from settings.

A transient engine error (throttling, 5xx, no connection) raised by a task is retried with
exponential backoff and jitter. ``sync_job``, ``sync_jobs`` and ``sync_active_jobs`` never raise one: a failed
sync holds its job for a backoff delay and the next beat is the retry.
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.conf import settings

from . import services
from .backends import TransientBackendError

RETRY_POLICY = {
    "autoretry_for": (TransientBackendError,),
    "retry_backoff": True,
    "retry_backoff_max": settings.HPO_TASK_RETRY_BACKOFF_MAX_S,
    "retry_jitter": True,
    "max_retries": settings.HPO_TASK_MAX_RETRIES,
}


@shared_task(**RETRY_POLICY)
def launch_job(job_id: int) -> bool:
    """Send a Pending job to its engine (idempotent on the job name)."""
    return services.launch_job(job_id)


@shared_task(**RETRY_POLICY)
def sync_job(job_id: int) -> bool:
    """Mirror one job's state and children from its engine."""
    return services.sync_job(job_id)


@shared_task
def sync_active_jobs() -> dict[str, int]:
    """Sync every active job once (Celery beat, every HPO_POLL_INTERVAL_S), in batches of
    HPO_SYNC_BATCH_SIZE: the first here, the others queued as ``sync_jobs`` tasks."""
    return services.fan_out_active_jobs()


@shared_task
def sync_jobs(job_ids: list[int], claimed_until: str) -> dict[str, int]:
    """Sync one batch of a poll cycle's jobs, claimed until ``claimed_until`` (ISO) by ``sync_active_jobs``."""
    return services.sync_jobs(job_ids, claimed_until=datetime.fromisoformat(claimed_until))


@shared_task(**RETRY_POLICY)
def stop_job(job_id: int) -> bool:
    """Send a Stopping job's stop to its engine."""
    return services.stop_job(job_id)


@shared_task
def sweep_jobs() -> dict[str, int]:
    """Queue lost launches and stops again and fail stuck jobs (Celery beat, every HPO_SWEEP_INTERVAL_S)."""
    return services.sweep_jobs()


@shared_task
def refresh_insights(job_id: int) -> bool:
    """Recompute a job's hyperparameter importance and narrowed ranges (queued when its evaluated children change)."""
    return services.refresh_insights(job_id)


@shared_task
def queue_missing_insights() -> int:
    """Queue refresh_insights for jobs whose insights lag their evaluated children (Celery beat)."""
    return services.queue_missing_insights()
