"""The one interface both engines implement: SageMaker-shaped dictionaries in and out.

Everything above this module (services, tasks, pages) is the same whichever engine runs a job.
Requests and responses use the exact member names of SageMaker's API
(CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
ListTrainingJobsForHyperParameterTuningJob), so a response can be checked against botocore's
output shapes.
"""

from __future__ import annotations

from typing import Any, Protocol


class BackendError(Exception):
    """Base of every error a backend raises; the message is safe to show to a project member."""


class TransientBackendError(BackendError):
    """Throttling, a 5xx, a connection problem: worth a retry with backoff."""


class QuotaError(TransientBackendError):
    """The account is at one of the engine's limits (ResourceLimitExceeded: e.g. 100 concurrent tuning jobs):
    the request is fine and will go through once running jobs end, so it is retried with backoff."""


class PermanentBackendError(BackendError):
    """Validation, a limit exceeded, bad credentials: retrying will not help."""


class NotFoundError(BackendError):
    """The engine does not know the job (never created, or deleted on its side)."""


class CredentialsError(PermanentBackendError):
    """The engine refuses who we are (credentials missing, invalid, expired, or not allowed): the
    job is not at fault, so services keep it and try again later."""


class AlreadyExistsError(PermanentBackendError):
    """A tuning job with this name already exists in the engine (ResourceInUse)."""


class Backend(Protocol):
    """What an engine offers; every method returns promptly (no method waits on a job's progress)."""

    name: str
    # Whether get_training_job_metrics is cheap while a training job runs (the engine stores the
    # series as it reads the log); when False, call it once the training job has ended.
    live_metrics: bool

    def create_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Start a tuning job from a CreateHyperParameterTuningJob request; returns
        ``{"HyperParameterTuningJobArn": ...}``. Raises AlreadyExistsError when the name is taken."""
        ...

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        """A DescribeHyperParameterTuningJob response."""
        ...

    def list_training_jobs(
        self, name: str, next_token: str | None = None, max_results: int = 100
    ) -> dict[str, Any]:
        """One page of ListTrainingJobsForHyperParameterTuningJob:
        ``{"TrainingJobSummaries": [...], "NextToken": ...}`` (NextToken absent on the last page)."""
        ...

    def stop_tuning_job(self, name: str) -> None:
        """Ask the engine to stop the job; it goes Stopping, then Stopped."""
        ...

    def get_training_job_log(self, training_job_name: str, max_bytes: int = 1_000_000) -> str:
        """The tail of a training job's log (stdout and stderr), at most ``max_bytes``."""
        ...

    def get_training_job_metrics(
        self, training_job_name: str, metric_definitions: list[dict[str, str]]
    ) -> dict[str, list[float]]:
        """Every value each metric of a training job emitted, in order (the last 1,000 per metric):
        ``{name: [values]}``. The local engine returns the series its supervisor stored while
        writing the log; SageMaker reads the whole log from CloudWatch and parses it with
        ``metric_definitions`` (ValueError on a regex RE2 cannot run), so callers store the result."""
        ...

    def is_name_free(self, name: str) -> bool:
        """Whether no tuning job with this name exists in the engine (names are case-insensitive)."""
        ...
