"""The one interface both engines implement: SageMaker-shaped dictionaries in and out.

Everything above this module (services, tasks, pages) is the same whichever engine runs a job.
Requests and responses use the exact member names of SageMaker's API
(CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
ListTrainingJobsForHyperParameterTuningJob), so a response can be checked against botocore's
output shapes.

What an engine accepts is declared here once: its ``Capabilities`` (what the wizard offers and the
templates say), and its ``check_request``, the problems it finds in a request, each at its path.
The portal's validation ends with that check, and the engine's create runs it too, so a job
validation accepted is never refused at launch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hpo_jobs.sagemaker.catalogue import Algorithm
    from hpo_jobs.sagemaker.spec import Issue

# The tag the portal puts on every request it sends, naming the project the job belongs to
# (see wizard.convert.apply_project_policy); an engine that scopes data per project reads it.
PROJECT_TAG = "hpo-portal:project"


def project_slug(project: Any) -> str | None:
    """The slug of ``project`` (a Project, a slug, or None)."""
    if project is None or isinstance(project, str):
        return project or None
    return getattr(project, "slug", None) or None


def project_of(request: Any) -> str | None:
    """The project a request belongs to, from the portal's project tag (None when it has none)."""
    tags = request.get("Tags") if isinstance(request, dict) else None
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("Key") == PROJECT_TAG and isinstance(tag.get("Value"), str):
            return tag["Value"]
    return None


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


@dataclass(frozen=True)
class Capabilities:
    """What an engine accepts and how the portal speaks of it, declared once per engine.

    Forms, templates, the request builder and the API read these instead of asking which engine
    runs; the engine's ``check_request`` refuses exactly what is not declared here.
    """

    display_name: str  # "SageMaker", "the local engine": how pages name the engine
    warm_start: bool
    strategies: tuple[str, ...]
    autotune: bool
    input_modes: tuple[str, ...]  # for built-in algorithms
    custom_image_input_modes: tuple[str, ...]  # for custom images
    compression_types: tuple[str, ...]
    record_wrappers: tuple[str, ...]
    data_sources: tuple[str, ...]  # S3DataSource, FileSystemDataSource, DatasetSource
    s3_data_types: tuple[str, ...]
    max_parallel_training_jobs: int
    # Built-ins: None when every algorithm of the catalogue runs, else the keys of those that do.
    builtin_algorithms: frozenset[str] | None
    # Custom images: "ecr" (any image from a registry the site allows, listed from ECR) or
    # "configured" (exactly ``configured_images``, each mapped to a command by the engine's settings).
    custom_images: str
    configured_images: tuple[str, ...] = ()
    algorithm_resources: bool = True  # AlgorithmName (SageMaker algorithm resources)
    # Optional settings of a training job definition the engine honours (the wizard offers only these).
    checkpoints: bool = True  # CheckpointConfig
    retry_strategy: bool = True  # RetryStrategy
    max_pending_time: bool = True  # StoppingCondition.MaxPendingTimeInSeconds
    kms_keys: bool = True  # OutputDataConfig.KmsKeyId, ResourceConfig.VolumeKmsKeyId
    channel_shuffle: bool = True  # a channel's ShuffleConfig
    instance_pools: bool = True  # HyperParameterTuningResourceConfig.InstanceConfigs instead of ResourceConfig
    denied_environment_names: frozenset[str] = frozenset()
    denied_environment_prefixes: tuple[str, ...] = ()
    # Channels name local folders (a path or file:// URI in S3Uri) rather than s3:// URIs.
    channels_are_local_paths: bool = False
    writes_output_path: bool = True  # whether models go to the request's S3OutputPath
    needs_role: bool = True  # whether a real execution role is needed (else a placeholder is used)
    needs_credentials: bool = True  # whether the workers check access to a cloud account
    sandboxed: bool = True  # whether training jobs run isolated from the portal's own files
    image_list_label: str = "List ECR images"
    image_list_summary: str = "found in the allowed ECR registries"
    log_source: str = "from CloudWatch Logs"

    def runs_builtin(self, algorithm: Algorithm) -> bool:
        """Whether the engine runs this built-in algorithm."""
        return self.builtin_algorithms is None or algorithm.key in self.builtin_algorithms

    def environment_denied(self, name: str) -> bool:
        """Whether a request's Environment may not set the variable ``name`` on this engine."""
        upper = name.upper()
        return upper in self.denied_environment_names or upper.startswith(self.denied_environment_prefixes)


class Backend(Protocol):
    """What an engine offers; every method returns promptly (no method waits on a job's progress)."""

    name: str
    capabilities: Capabilities
    # Whether get_training_job_metrics is cheap while a training job runs (the engine stores the
    # series as it reads the log); when False, call it once the training job has ended.
    live_metrics: bool

    def check_request(self, request: dict[str, Any], *, project: Any = None) -> list[Issue]:
        """The problems this engine has with a request (already checked by SageMaker's rules), each
        at its path in the request; ``project`` (a Project or slug) scopes what the engine may read."""
        ...

    def data_folders(self, project: Any) -> list[Path]:
        """The local folders a project's channels may name (none for an engine that reads S3)."""
        ...

    def create_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Start a tuning job from a CreateHyperParameterTuningJob request; returns
        ``{"HyperParameterTuningJobArn": ...}``. Raises AlreadyExistsError when the name is taken,
        and PermanentBackendError with the problems ``check_request`` finds (the project is the
        request's ``PROJECT_TAG``)."""
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
