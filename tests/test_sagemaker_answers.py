"""SageMaker's answers read right, through botocore's Stubber on the one AWS seam: a quota error at
launch (Pending with SageMaker's message, then launched), progress that counts every finished child and
names the early-stopped ones, every tuning job status of the service model, and a log of 120 streams."""

from __future__ import annotations

import copy
from datetime import timedelta

import botocore.session
import pytest
from botocore.stub import Stubber
from django.utils import timezone

from hpo_jobs import aws, services, tasks
from hpo_jobs.backends import QuotaError, TransientBackendError
from hpo_jobs.backends.sagemaker import LOG_GROUP, SageMakerBackend
from hpo_jobs.models import HpoJob
from tests.aws_fakes import child_summary, describe_response, list_pages, tuning_job_arn
from tests.factories import make_request

pytestmark = pytest.mark.django_db
Status = HpoJob.Status
QUOTA_MESSAGE = ("The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is 100 "
                 "HyperParameterTuningJobs, with current utilization of 100 HyperParameterTuningJobs and a request "
                 "delta of 1 HyperParameterTuningJobs.")


def _launched(job: HpoJob) -> HpoJob:
    HpoJob.objects.filter(pk=job.pk).update(status=Status.IN_PROGRESS, arn=tuning_job_arn(job.name),
                                            launched_at=timezone.now())
    job.refresh_from_db()
    return job


def _expect_sync(stub: Stubber, request: dict, described: dict, children: list[dict]) -> None:
    stub.add_response("describe_hyper_parameter_tuning_job", described,
                      {"HyperParameterTuningJobName": request["HyperParameterTuningJobName"]})
    for response, params in list_pages(request["HyperParameterTuningJobName"], children):
        stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", response, params)


# --- a quota reached at launch ------------------------------------------------------------------
def test_a_quota_error_keeps_the_job_pending_with_sagemakers_message_then_it_launches(
        sagemaker_stub, queued_tasks, submit):
    request = make_request("tune-quota")
    job = submit(request)
    assert queued_tasks.names() == ["launch_job"]
    queued_tasks.sent.clear()
    sagemaker_stub.add_client_error("create_hyper_parameter_tuning_job", service_error_code="ResourceLimitExceeded",
                                    service_message=QUOTA_MESSAGE, http_status_code=400, expected_params=request)

    with pytest.raises(QuotaError):  # the task's retry policy (transient errors) retries it with backoff
        services.launch_job(job.pk)
    assert issubclass(QuotaError, tasks.RETRY_POLICY["autoretry_for"])
    job.refresh_from_db()
    assert job.status == Status.PENDING and job.failure_reason == ""
    assert QUOTA_MESSAGE in job.engine_error and "ResourceLimitExceeded" in job.engine_error

    # Later the sweep queues the launch again; this time SageMaker has room.
    HpoJob.objects.filter(pk=job.pk).update(launch_queued_at=timezone.now() - timedelta(hours=1))
    sagemaker_stub.add_response("list_hyper_parameter_tuning_jobs", {"HyperParameterTuningJobSummaries": []},
                                {"MaxResults": 1})  # the sweep's access check
    services.sweep_jobs()
    assert queued_tasks.names() == ["launch_job"]
    sagemaker_stub.add_response("create_hyper_parameter_tuning_job",
                                {"HyperParameterTuningJobArn": tuning_job_arn("tune-quota")}, request)
    queued_tasks.run()
    job.refresh_from_db()
    assert (job.status, job.engine_error, job.arn) == (Status.IN_PROGRESS, "", tuning_job_arn("tune-quota"))


def test_other_limits_are_still_quota_errors_not_failures():
    from botocore.exceptions import ClientError

    from hpo_jobs.backends.sagemaker import translate

    error = ClientError({"Error": {"Code": "ResourceLimitExceeded", "Message": "ml.p3.2xlarge for training job usage"},
                         "ResponseMetadata": {"HTTPStatusCode": 400}}, "CreateHyperParameterTuningJob")
    translated = translate(error)
    assert isinstance(translated, QuotaError) and isinstance(translated, TransientBackendError)
    assert "ml.p3.2xlarge" in str(translated)


# --- progress -----------------------------------------------------------------------------------
def test_progress_counts_every_finished_child_and_names_the_early_stopped(sagemaker_stub, submit, alice_client):
    request = make_request("tune-early", max_jobs=10)
    request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] = "Auto"
    job = _launched(submit(request))
    children = [child_summary("tune-early", i) for i in range(1, 4)]
    children += [child_summary("tune-early", i, status="Stopped", objective_status="Succeeded") for i in range(4, 11)]
    described = describe_response(request, status="Completed", children=children,
                                  end_time=timezone.now())
    assert described["TrainingJobStatusCounters"]["Stopped"] == 7
    _expect_sync(sagemaker_stub, request, described, children)

    assert services.sync_job(job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.completed_count, job.finished_count) == (Status.COMPLETED, 3, 10)
    html = alice_client.get(f"/projects/demo/hpo-jobs/{job.name}/").content.decode()
    assert '10 <span class="muted">of 10 finished</span>' in html
    assert "(7 stopped early)" in html
    assert 'aria-valuenow="100"' in html
    listing = alice_client.get("/projects/demo/hpo-jobs/").content.decode()
    assert "10 of 10" in listing


def test_failed_children_count_as_finished_and_a_stop_by_hand_is_not_early_stopping(sagemaker_stub, submit,
                                                                                   alice_client):
    request = make_request("tune-mixed", max_jobs=10)
    job = _launched(submit(request))
    children = [child_summary("tune-mixed", 1), child_summary("tune-mixed", 2, status="Failed"),
                child_summary("tune-mixed", 3, status="Stopped", objective_status="Failed"),
                child_summary("tune-mixed", 4, status="InProgress")]
    described = describe_response(request, status="InProgress", children=children)
    _expect_sync(sagemaker_stub, request, described, children)
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.finished_count == 3
    html = alice_client.get(f"/projects/demo/hpo-jobs/{job.name}/").content.decode()
    assert '3 <span class="muted">of 10 finished</span>' in html
    assert "stopped early" not in html  # early stopping is Off for this job


# --- every status the service model has ---------------------------------------------------------
ENGINE_STATUSES = botocore.session.get_session().get_service_model("sagemaker").shape_for(
    "HyperParameterTuningJobStatus").enum


def test_every_status_of_the_service_model_is_known():
    assert set(ENGINE_STATUSES) == set(services.ENGINE_STATUSES)
    assert "DeleteFailed" in ENGINE_STATUSES


@pytest.mark.parametrize("engine_status", ENGINE_STATUSES)
def test_each_status_is_mirrored_not_unknown(engine_status, sagemaker_stub, submit, alice_client):
    request = make_request("tune-status")
    job = _launched(submit(request))
    children = [child_summary("tune-status", 1)]
    described = describe_response(request, status=engine_status, children=children,
                                  failure_reason="Stopped by hand" if engine_status == "Failed" else None)
    _expect_sync(sagemaker_stub, request, described, children)
    services.sync_job(job.pk)
    job.refresh_from_db()
    assert job.engine_status == engine_status
    assert job.status == services.ENGINE_STATUSES[engine_status] != Status.UNKNOWN
    html = alice_client.get(f"/projects/demo/hpo-jobs/{job.name}/").content.decode()
    assert "Unknown" not in html
    if engine_status == "DeleteFailed":
        assert job.status in HpoJob.TERMINAL_STATUSES and "Delete Failed" in html


# --- logs ---------------------------------------------------------------------------------------
def test_a_log_of_120_streams_is_read_across_every_page_and_stream(aws_env):
    logs = aws.client("logs")
    name = "tune-a-001-0a1b2c3d"
    streams = [f"{name}/algo-{host}-{restart:010d}" for host in range(1, 41) for restart in range(3)]
    assert len(streams) == 120
    by_name = sorted(streams)
    with Stubber(logs) as stub:
        pages = [by_name[0:50], by_name[50:100], by_name[100:]]
        for index, page in enumerate(pages):
            params = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{name}/"}
            if index:
                params["nextToken"] = f"page-{index}"
            response = {"logStreams": [{"logStreamName": s} for s in page]}
            if index < len(pages) - 1:
                response["nextToken"] = f"page-{index + 1}"
            stub.add_response("describe_log_streams", response, params)
        for stream in by_name:
            stub.add_response("get_log_events",
                              {"events": [{"timestamp": 1, "message": f"line of {stream}\n"}]},
                              {"logGroupName": LOG_GROUP, "logStreamName": stream, "startFromHead": False})
        text = SageMakerBackend().get_training_job_log(name)
        stub.assert_no_pending_responses()
    for stream in streams:
        assert f"==> {stream} <==\nline of {stream}" in text
    assert text.index(by_name[-1]) > text.index(by_name[0])


def test_the_tuning_runtime_field_says_and_keeps_sagemakers_limit():
    from hpo_jobs.sagemaker import spec
    from hpo_jobs.wizard.forms import TuningResourcesForm

    field = TuningResourcesForm.base_fields["max_runtime"]
    assert (field.min_value, field.max_value) == (120, 15_768_000)
    assert "15,768,000 seconds" in field.help_text and "30 days" not in field.help_text
    request = make_request("tune-long")
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxRuntimeInSeconds"] = 15_768_001
    problems = spec.validate_request(copy.deepcopy(request), spec.ValidationContext(region="us-east-1"))
    assert any("MaxRuntimeInSeconds" in p.path and "182.5 days" in p.message for p in problems)
