"""The SageMaker backend against moto (create, describe, list of tuning jobs, logs) and botocore's
Stubber (what moto lacks: a job's training jobs, stop), and its sorting of AWS errors."""

from __future__ import annotations

import time

import pytest
from botocore import exceptions as bx
from botocore.stub import Stubber

from hpo_jobs import aws
from hpo_jobs.backends import (
    AlreadyExistsError,
    NotFoundError,
    PermanentBackendError,
    QuotaError,
    TransientBackendError,
    get_backend,
)
from hpo_jobs.backends.sagemaker import LOG_GROUP, CredentialsError, SageMakerBackend, translate
from tests.aws_fakes import child_summary
from tests.factories import make_request


@pytest.fixture
def backend() -> SageMakerBackend:
    return SageMakerBackend()


def test_get_backend_builds_the_sagemaker_engine_by_name():
    assert isinstance(get_backend("sagemaker"), SageMakerBackend)


def test_clients_come_from_the_seam_with_region_and_retries(aws_env, settings):
    settings.AWS_REGION = "eu-west-1"
    aws.reset_clients()
    client = aws.client("sagemaker")
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries["mode"] == "adaptive"
    assert client.meta.config.retries["total_max_attempts"] >= 3
    interactive = aws.client("sagemaker", interactive=True)
    assert interactive is not client
    assert interactive.meta.config.read_timeout == settings.AWS_INTERACTIVE_TIMEOUT_S


# --- moto: create, describe, list of tuning jobs ------------------------------------------------
def test_it_creates_and_describes_a_tuning_job(moto_aws, backend):
    request = make_request("tune-a")
    created = backend.create_tuning_job(request)
    assert created == {
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/tune-a"
    }
    described = backend.describe_tuning_job("tune-a")
    assert "ResponseMetadata" not in described
    assert described["HyperParameterTuningJobName"] == "tune-a"
    assert described["TrainingJobDefinition"]["RoleArn"] == request["TrainingJobDefinition"]["RoleArn"]
    assert described["HyperParameterTuningJobStatus"] in {"InProgress", "Completed"}
    listed = aws.client("sagemaker").list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert [s["HyperParameterTuningJobName"] for s in listed] == ["tune-a"]
    backend.check_access()  # the sweep's cheap call (ListHyperParameterTuningJobs) works


def test_a_second_create_with_the_same_name_is_already_exists(moto_aws, backend):
    backend.create_tuning_job(make_request("tune-a"))
    with pytest.raises(AlreadyExistsError, match="already exists"):
        backend.create_tuning_job(make_request("tune-a"))


def test_describing_an_unknown_job_is_not_found(moto_aws, backend):
    with pytest.raises(NotFoundError):
        backend.describe_tuning_job("never-created")


def test_is_name_free_asks_sagemaker(moto_aws, backend):
    backend.create_tuning_job(make_request("tune-a"))
    assert backend.is_name_free("tune-a") is False
    assert backend.is_name_free("tune-b") is True


def test_an_invalid_request_is_refused_before_sending(moto_aws, backend):
    request = make_request("tune-a")
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = 0
    with pytest.raises(PermanentBackendError, match="not valid for SageMaker"):
        backend.create_tuning_job(request)


# --- moto: CloudWatch Logs ------------------------------------------------------------------------
def test_it_reads_a_training_jobs_log_tail_from_cloudwatch(moto_aws, backend):
    logs = aws.client("logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    now_ms = int(time.time() * 1000)  # CloudWatch (and moto) drop events older than 14 days
    for stream, lines in {
        "tune-a-001-abc/algo-1-1700000000": ["[0]#011validation-auc:0.81", "[1]#011validation-auc:0.84"],
        "tune-a-0010-other/algo-1-1700000000": ["not this job"],
    }.items():
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        logs.put_log_events(
            logGroupName=LOG_GROUP, logStreamName=stream,
            logEvents=[{"timestamp": now_ms + i, "message": line} for i, line in enumerate(lines)],
        )
    text = backend.get_training_job_log("tune-a-001-abc")
    assert text == "[0]#011validation-auc:0.81\n[1]#011validation-auc:0.84"
    assert backend.get_training_job_log("tune-a-001-abc", max_bytes=10) == "n-auc:0.84"
    assert backend.get_training_job_log("no-such-job") == ""


def test_a_log_before_any_training_job_ran_is_empty(moto_aws, backend):
    assert backend.get_training_job_log("tune-a-001-abc") == ""


# --- Stubber: what moto lacks -------------------------------------------------------------------
def test_it_lists_a_page_of_training_jobs_newest_first(sagemaker_stub, backend):
    summary = child_summary("tune-a", 1)
    sagemaker_stub.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": [summary], "NextToken": "next-page"},
        {"HyperParameterTuningJobName": "tune-a", "MaxResults": 100, "SortBy": "CreationTime",
         "SortOrder": "Descending"},
    )
    sagemaker_stub.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {"TrainingJobSummaries": []},
        {"HyperParameterTuningJobName": "tune-a", "MaxResults": 100, "SortBy": "CreationTime",
         "SortOrder": "Descending", "NextToken": "next-page"},
    )
    page = backend.list_training_jobs("tune-a")
    assert page == {"TrainingJobSummaries": [summary], "NextToken": "next-page"}
    assert backend.list_training_jobs("tune-a", next_token="next-page") == {"TrainingJobSummaries": []}


def test_it_stops_a_job(sagemaker_stub, backend):
    sagemaker_stub.add_response("stop_hyper_parameter_tuning_job", {}, {"HyperParameterTuningJobName": "tune-a"})
    assert backend.stop_tuning_job("tune-a") is None


def test_stopping_an_unknown_job_is_not_found(sagemaker_stub, backend):
    sagemaker_stub.add_client_error(
        "stop_hyper_parameter_tuning_job", "ValidationException",
        "Could not find hyper parameter tuning job 'tune-x'.", 400,
    )
    with pytest.raises(NotFoundError):
        backend.stop_tuning_job("tune-x")


def _client_error(code: str, status: int, message: str = "Rate exceeded") -> bx.ClientError:
    return bx.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "DescribeHyperParameterTuningJob",
    )


@pytest.mark.parametrize(
    ("code", "status", "kind", "text"),
    [
        ("ThrottlingException", 400, TransientBackendError, "Rate exceeded"),
        ("InternalFailure", 500, TransientBackendError, "Rate exceeded"),
        ("ServiceUnavailable", 503, TransientBackendError, "Rate exceeded"),
        ("SomethingNew", 502, TransientBackendError, "Rate exceeded"),
        ("ValidationException", 400, PermanentBackendError, "ValidationException: Rate exceeded"),
        ("ResourceLimitExceeded", 400, QuotaError, "limit is reached; the portal tries again later: Rate exceeded"),
        ("ResourceNotFound", 400, NotFoundError, "Rate exceeded"),
        ("ResourceInUse", 400, AlreadyExistsError, "Rate exceeded"),
        ("UnrecognizedClientException", 400, CredentialsError, "AWS credentials are missing or invalid"),
        ("InvalidClientTokenId", 403, CredentialsError, "AWS credentials are missing or invalid"),
        ("ExpiredTokenException", 400, CredentialsError, "AWS credentials are missing or invalid"),
        ("AccessDeniedException", 400, CredentialsError, "AWS denied access"),
    ],
)
def test_client_errors_are_sorted_by_kind(code, status, kind, text):
    error = translate(_client_error(code, status))
    assert type(error) is kind
    assert text in str(error)


def test_could_not_find_is_not_found_only_where_a_job_is_looked_up():
    could_not_find = _client_error("ValidationException", 400, "Could not find job 'tune-a'")
    assert type(translate(could_not_find, not_found_on_validation=True)) is NotFoundError
    assert type(translate(could_not_find)) is PermanentBackendError


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [("ThrottlingException", 400, TransientBackendError), ("InternalFailure", 500, TransientBackendError),
     ("ValidationException", 400, PermanentBackendError)],
)
def test_a_client_call_raises_the_sorted_error(sagemaker_stub, backend, code, status, kind):
    sagemaker_stub.add_client_error("describe_hyper_parameter_tuning_job", code, "Rate exceeded", status)
    with pytest.raises(kind) as caught:
        backend.describe_tuning_job("tune-a")
    assert type(caught.value) is kind
    assert isinstance(caught.value.__cause__, bx.ClientError)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (bx.EndpointConnectionError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com"), TransientBackendError),
        (bx.ConnectTimeoutError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com"), TransientBackendError),
        (bx.ReadTimeoutError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com"), TransientBackendError),
        (bx.NoCredentialsError(), CredentialsError),
    ],
)
def test_connection_and_credential_errors_are_sorted(error, kind):
    assert type(translate(error)) is kind


def test_missing_credentials_say_so_clearly(monkeypatch, settings, backend):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    # Nor a container or instance role: the chain must come up empty.
    for key in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(key, raising=False)
    settings.AWS_REGION = "us-east-1"
    aws.reset_clients()
    try:
        with pytest.raises(CredentialsError, match="AWS credentials are missing or invalid: Unable to locate credentials"):
            backend.describe_tuning_job("tune-a")
    finally:
        aws.reset_clients()


def test_is_name_free_uses_the_short_interactive_client(aws_env, backend):
    with Stubber(aws.client("sagemaker", interactive=True)) as stub:
        stub.add_client_error("describe_hyper_parameter_tuning_job", "ResourceNotFound", "not found", 400)
        assert backend.is_name_free("tune-a") is True
        stub.add_client_error("describe_hyper_parameter_tuning_job", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(TransientBackendError):
            backend.is_name_free("tune-a")


def test_it_reads_a_training_jobs_metric_series_from_its_whole_cloudwatch_log(moto_aws, backend):
    from hpo_jobs.sagemaker import catalogue

    logs = aws.client("logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    now_ms = int(time.time() * 1000)
    lines = ["[%d]#011train-auc:0.9%d#011validation-auc:0.8%d" % (i, i, i) for i in range(5)]
    lines.insert(2, "[2]#011objective: " + "x" * 2_500)  # a long echo line is cut, never a stall
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName="tune-b-001-abc/algo-1-1700000000")
    logs.put_log_events(
        logGroupName=LOG_GROUP, logStreamName="tune-b-001-abc/algo-1-1700000000",
        logEvents=[{"timestamp": now_ms + i, "message": line} for i, line in enumerate(lines)],
    )
    definitions = list(catalogue.get("xgboost").metric_definitions)
    series = backend.get_training_job_metrics("tune-b-001-abc", definitions)
    assert series == {"train:auc": [0.9, 0.91, 0.92, 0.93, 0.94], "validation:auc": [0.8, 0.81, 0.82, 0.83, 0.84]}
    assert backend.get_training_job_metrics("no-such-job", definitions) == {}
    assert backend.live_metrics is False  # read once the training job has ended, then stored


def test_a_metric_regex_re2_cannot_run_is_refused_before_any_call(backend):
    with pytest.raises(ValueError, match="RE2"):
        backend.get_training_job_metrics("tune-b-001-abc", [{"Name": "m", "Regex": "(?<=a)([0-9])"}])
