"""The SageMaker engine: boto3's SageMaker and CloudWatch Logs clients from ``hpo_jobs.aws``.

Every botocore error is sorted into one of the interface's kinds (the codes of each kind are
SageMaker's facts, in ``hpo_jobs.sagemaker.request``), so callers never see a ClientError: transient (retry with backoff), permanent (the message is SageMaker's, shown to the
user), not found, already exists. Credentials problems are a permanent kind of their own
(``CredentialsError``): the job is not at fault, so services keep it and retry later. An account
limit reached (``ResourceLimitExceeded``) is a transient kind (``QuotaError``): the job waits Pending
with SageMaker's message until running jobs end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore import exceptions as bx

from hpo_jobs import aws
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.sagemaker.metrics import Series, cloudwatch_text, compile_definitions, match_line

from .base import (
    AlreadyExistsError,
    Capabilities,
    CredentialsError,
    NotFoundError,
    PermanentBackendError,
    QuotaError,
    TransientBackendError,
    project_of,
)

if TYPE_CHECKING:
    from hpo_jobs.sagemaker.spec import Issue

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# Reading a training job's metrics stops after this many log pages (1 MB each at most) per stream.
METRIC_LOG_PAGES_MAX = 100

def _describe_client_error(exc: bx.ClientError) -> tuple[str, str, int]:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return str(error.get("Code", "")), str(error.get("Message", "")) or str(exc), int(status)


def translate(exc: Exception, *, not_found_on_validation: bool = False) -> Exception:
    """The backend error for a botocore exception (or ``exc`` itself when it is not botocore's)."""
    if isinstance(exc, bx.ClientError):
        code, message, status = _describe_client_error(exc)
        kind = facts.error_kind(code, status)
        if kind == "already_exists":
            return AlreadyExistsError(message)
        if kind == "not_found":
            return NotFoundError(message)
        # SageMaker answers a describe/stop of an unknown job with ValidationException
        # "Could not find ..." in some regions and API versions, not ResourceNotFound.
        if not_found_on_validation and code == "ValidationException" and "could not find" in message.lower():
            return NotFoundError(message)
        if kind == "quota":
            return QuotaError(f"SageMaker's limit is reached; the portal tries again later: {message} ({code})")
        if kind == "transient":
            return TransientBackendError(f"SageMaker is busy or unavailable ({code or status}): {message}")
        if kind == "credentials":
            return CredentialsError(f"AWS credentials are missing or invalid: {message} ({code})")
        if kind == "access_denied":
            return CredentialsError(f"AWS denied access (check the portal's IAM permissions): {message} ({code})")
        return PermanentBackendError(f"{code}: {message}" if code else message)
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError, bx.CredentialRetrievalError)):
        return CredentialsError(f"AWS credentials are missing or invalid: {exc}")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
                        bx.ConnectionClosedError, bx.HTTPClientError)):
        return TransientBackendError(f"Could not reach AWS: {exc}")
    if isinstance(exc, bx.ParamValidationError):
        return PermanentBackendError(f"The request is not valid for SageMaker: {exc}")
    if isinstance(exc, bx.NoRegionError):
        return PermanentBackendError(f"No AWS region is configured (set AWS_REGION): {exc}")
    return exc


@contextlib.contextmanager
def _errors(*, not_found_on_validation: bool = False) -> Iterator[None]:
    try:
        yield
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise translate(exc, not_found_on_validation=not_found_on_validation) from exc


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    response = dict(response)
    response.pop("ResponseMetadata", None)
    return response


class SageMakerBackend:
    """Runs tuning jobs on Amazon SageMaker, with the standard AWS credential chain."""

    name = "sagemaker"
    live_metrics = False  # the series are read from CloudWatch Logs: once, when the training job has ended
    # SageMaker accepts everything its own rules (spec.py) allow; images come from the registries the
    # site allows, listed from ECR.
    capabilities = Capabilities(
        display_name="SageMaker",
        warm_start=True,
        strategies=("Bayesian", "Random", "Hyperband", "Grid"),
        autotune=True,
        input_modes=("File", "Pipe", "FastFile"),
        custom_image_input_modes=("File", "Pipe", "FastFile"),
        compression_types=("None", "Gzip"),
        record_wrappers=("None", "RecordIO"),
        data_sources=("S3DataSource", "FileSystemDataSource", "DatasetSource"),
        s3_data_types=("S3Prefix", "ManifestFile", "AugmentedManifestFile"),
        max_parallel_training_jobs=100,  # SageMaker's highest quota
        builtin_algorithms=None,
        custom_images="ecr",
    )

    def _sagemaker(self, *, interactive: bool = False):
        return aws.client("sagemaker", interactive=interactive)

    def check_request(self, request: dict[str, Any], *, project: Any = None) -> list[Issue]:
        """Nothing beyond SageMaker's own rules, which the portal's validation applies before this."""
        return []

    def data_folders(self, project: Any) -> list[Path]:
        """None: SageMaker reads channels from S3."""
        return []

    def create_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send the stored CreateHyperParameterTuningJob request as it is."""
        issues = self.check_request(request, project=project_of(request))
        if issues:
            raise PermanentBackendError(f"{issues[0].path}: {issues[0].message}"[:1024])
        with _errors():
            response = self._sagemaker().create_hyper_parameter_tuning_job(**request)
        return {"HyperParameterTuningJobArn": response["HyperParameterTuningJobArn"]}

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        """A DescribeHyperParameterTuningJob response, without botocore's ResponseMetadata."""
        with _errors(not_found_on_validation=True):
            response = self._sagemaker().describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        return _strip(response)

    def list_training_jobs(
        self, name: str, next_token: str | None = None, max_results: int = 100
    ) -> dict[str, Any]:
        """One page of the job's training jobs, newest first, so that a sync can stop early."""
        kwargs: dict[str, Any] = {
            "HyperParameterTuningJobName": name,
            "MaxResults": max_results,
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        }
        if next_token:
            kwargs["NextToken"] = next_token
        with _errors(not_found_on_validation=True):
            response = self._sagemaker().list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        return _strip(response)

    def stop_tuning_job(self, name: str) -> None:
        """Ask SageMaker to stop the job and its running training jobs."""
        with _errors(not_found_on_validation=True):
            self._sagemaker().stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)

    def get_training_job_log(self, training_job_name: str, max_bytes: int = 1_000_000) -> str:
        """The tail of the training job's CloudWatch log streams (one per instance and restart, every page of
        them), at most ``max_bytes``."""
        logs = aws.client("logs")
        parts: list[str] = []
        with _errors():
            try:
                streams = [
                    stream
                    for page in logs.get_paginator("describe_log_streams").paginate(
                        logGroupName=LOG_GROUP, logStreamNamePrefix=f"{training_job_name}/"
                    )
                    for stream in page.get("logStreams", [])
                ]
            except logs.exceptions.ResourceNotFoundException:
                return ""  # no training job has logged in this account and region yet
            for stream in sorted(streams, key=lambda s: s["logStreamName"]):
                # startFromHead=False: the newest events (up to 1 MB), which is the tail we show.
                events = logs.get_log_events(
                    logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=False
                ).get("events", [])
                if len(streams) > 1:
                    parts.append(f"==> {stream['logStreamName']} <==")
                parts.extend(event["message"].rstrip("\n") for event in events)
        text = "\n".join(parts)
        encoded = text.encode("utf-8")
        if len(encoded) > max_bytes:
            text = encoded[-max_bytes:].decode("utf-8", errors="ignore")
        return text

    def get_training_job_metrics(
        self, training_job_name: str, metric_definitions: list[dict[str, str]]
    ) -> dict[str, list[float]]:
        """The metric series of the training job's whole CloudWatch log, read from its head with
        ``metric_definitions`` as SageMaker reads them (stopping after METRIC_LOG_PAGES_MAX pages)."""
        compiled = compile_definitions(metric_definitions)
        series = Series()
        logs = aws.client("logs")
        with _errors():
            try:
                streams = logs.describe_log_streams(
                    logGroupName=LOG_GROUP, logStreamNamePrefix=f"{training_job_name}/"
                ).get("logStreams", [])
            except logs.exceptions.ResourceNotFoundException:
                return {}
            for stream in sorted(streams, key=lambda s: s["logStreamName"]):
                token: str | None = None
                for _ in range(METRIC_LOG_PAGES_MAX):
                    kwargs: dict[str, Any] = {"nextToken": token} if token else {}
                    page = logs.get_log_events(
                        logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True, **kwargs
                    )
                    for event in page.get("events", []):
                        for line in cloudwatch_text(event["message"]).splitlines():
                            for name, value in match_line(line, compiled):
                                series.add(name, value)
                    # The forward token repeats once the end of the stream is reached.
                    if not page.get("events") or page.get("nextForwardToken") in (None, token):
                        break
                    token = page["nextForwardToken"]
        return series.to_json()

    def is_name_free(self, name: str) -> bool:
        """Whether no tuning job with this name exists in the account and region (one short call)."""
        try:
            with _errors(not_found_on_validation=True):
                self._sagemaker(interactive=True).describe_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name
                )
        except NotFoundError:
            return True
        return False

    def check_access(self) -> None:
        """One cheap read-only call that raises CredentialsError when AWS refuses the portal."""
        with _errors():
            self._sagemaker().list_hyper_parameter_tuning_jobs(MaxResults=1)
