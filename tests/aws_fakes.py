"""AWS at the one seam (``hpo_jobs.aws``): SageMaker-shaped response builders, ``FakeSageMaker``, a
scripted SageMaker that answers a real boto3 client, and ``QueuedTasks``. The fixtures over them
(``aws_env``, ``moto_aws``, ``sagemaker_stub``, ``fake_sagemaker``, ``queued_tasks``, ``submit``) are
in ``conftest.py``.

``FakeSageMaker`` hooks the client's ``before-call`` event, as botocore's Stubber does: the call
goes through botocore's own parameter validation and error raising, only the HTTP exchange is
replaced. Unlike a Stubber queue it keeps state (tuning jobs and their children), so a test can
drive a job through its life, inject faults per operation, and count the calls made.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters


REGION = "us-east-1"
ACCOUNT = "123456789012"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


# --- responses ------------------------------------------------------------------------------------
def tuning_job_arn(name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:hyper-parameter-tuning-job/{name.lower()}"


def child_summary(job_name: str, index: int, *, status: str = "Completed", objective: float | None = None,
                  objective_status: str | None = None, created: datetime | None = None,
                  failure_reason: str | None = None) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary for the job's ``index``-th child (1-based)."""
    name = f"{job_name}-{index:03d}-{index * 2654435761 % 16**8:08x}"
    created = created or T0 + timedelta(minutes=index)
    summary: dict[str, Any] = {
        "TrainingJobDefinitionName": "xgb",
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}",
        "TuningJobName": job_name,
        "CreationTime": created,
        "TrainingStartTime": created + timedelta(seconds=30),
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"eta": f"{0.1 + (index % 40) / 100:.2f}"},
    }
    if status in ("Completed", "Failed", "Stopped"):
        summary["TrainingEndTime"] = created + timedelta(minutes=5)
    if objective_status is None:
        objective_status = {"Completed": "Succeeded", "InProgress": "Pending", "Stopping": "Pending"}.get(status, "Failed")
    summary["ObjectiveStatus"] = objective_status
    if objective_status == "Succeeded":
        value = objective if objective is not None else round(0.5 + (index * 37 % 400) / 1000, 4)
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": "Maximize", "MetricName": "validation:auc", "Value": value,
        }
    if failure_reason or status == "Failed":
        summary["FailureReason"] = failure_reason or "AlgorithmError: training diverged"
    return summary


def counters_for(children: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """TrainingJobStatusCounters and ObjectiveStatusCounters for these child summaries."""
    status = Counter(c["TrainingJobStatus"] for c in children)
    objective = Counter(c.get("ObjectiveStatus", "Pending") for c in children)
    return (
        {
            "Completed": status["Completed"], "InProgress": status["InProgress"] + status["Stopping"],
            "RetryableError": 0, "NonRetryableError": status["Failed"], "Stopped": status["Stopped"],
        },
        {"Succeeded": objective["Succeeded"], "Pending": objective["Pending"], "Failed": objective["Failed"]},
    )


def best_of(children: list[dict[str, Any]]) -> dict[str, Any] | None:
    scored = [c for c in children if c.get("ObjectiveStatus") == "Succeeded"]
    if not scored:
        return None
    return max(scored, key=lambda c: c["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])


def describe_response(request: dict[str, Any], *, status: str = "InProgress",
                      children: list[dict[str, Any]] = (), last_modified: datetime | None = None,
                      end_time: datetime | None = None, failure_reason: str | None = None) -> dict[str, Any]:
    """A DescribeHyperParameterTuningJob response for the job created from ``request``."""
    children = list(children)
    training, objective = counters_for(children)
    response: dict[str, Any] = {
        "HyperParameterTuningJobName": request["HyperParameterTuningJobName"],
        "HyperParameterTuningJobArn": tuning_job_arn(request["HyperParameterTuningJobName"]),
        "HyperParameterTuningJobConfig": copy.deepcopy(request["HyperParameterTuningJobConfig"]),
        "HyperParameterTuningJobStatus": status,
        "CreationTime": T0,
        "LastModifiedTime": last_modified or T0,
        "TrainingJobStatusCounters": training,
        "ObjectiveStatusCounters": objective,
    }
    for form in ("TrainingJobDefinition", "TrainingJobDefinitions"):  # the form the request used
        if form in request:
            response[form] = copy.deepcopy(request[form])
    best = best_of(children)
    if best is not None:
        response["BestTrainingJob"] = copy.deepcopy(best)
    if end_time is not None:
        response["HyperParameterTuningEndTime"] = end_time
    if failure_reason:
        response["FailureReason"] = failure_reason
    if status in ("Completed", "Stopped"):
        response["TuningJobCompletionDetails"] = {"NumberOfTrainingJobsObjectiveNotImproving": 3}
    return response


def list_pages(job_name: str, children: list[dict[str, Any]], page_size: int = 100
               ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(response, expected params) for each page of a newest-first listing of ``children``."""
    newest_first = sorted(children, key=lambda c: c["CreationTime"], reverse=True)
    pages = []
    for start in range(0, max(len(newest_first), 1), page_size):
        params = {"HyperParameterTuningJobName": job_name, "MaxResults": page_size,
                  "SortBy": "CreationTime", "SortOrder": "Descending"}
        if start:
            params["NextToken"] = f"token-{start}"
        response: dict[str, Any] = {"TrainingJobSummaries": copy.deepcopy(newest_first[start:start + page_size])}
        if start + page_size < len(newest_first):
            response["NextToken"] = f"token-{start + page_size}"
        pages.append((response, params))
    return pages


# --- a stateful fake ------------------------------------------------------------------------------
class WorkerKilled(BaseException):
    """Raised after an operation took effect, as if the worker died before seeing the answer."""


class FakeTuningJob:
    def __init__(self, request: dict[str, Any], created: datetime):
        self.request = copy.deepcopy(request)
        self.name = request["HyperParameterTuningJobName"]
        self.status = "InProgress"
        self.created = created
        self.last_modified = created
        self.end_time: datetime | None = None
        self.failure_reason: str | None = None
        self.children: list[dict[str, Any]] = []

    def touch(self) -> None:
        self.last_modified = self.last_modified + timedelta(seconds=1)

    def add_children(self, count: int, **kwargs: Any) -> list[dict[str, Any]]:
        start = len(self.children)
        new = [
            child_summary(self.name, start + i + 1, created=self.created + timedelta(seconds=start + i + 1), **kwargs)
            for i in range(count)
        ]
        self.children.extend(new)
        self.touch()
        return new

    def finish_children(self) -> None:
        """Every running child completes with an objective value."""
        for i, child in enumerate(self.children):
            if child["TrainingJobStatus"] in ("InProgress", "Stopping"):
                self.children[i] = child_summary(self.name, i + 1, created=child["CreationTime"])
        self.touch()

    def end(self, status: str = "Completed", failure_reason: str | None = None) -> None:
        if status in ("Completed", "Failed"):
            self.finish_children()
        if status == "Stopped":
            for i, child in enumerate(self.children):
                if child["TrainingJobStatus"] in ("InProgress", "Stopping"):
                    self.children[i] = child_summary(self.name, i + 1, status="Stopped",
                                                     created=child["CreationTime"], objective_status="Failed")
        self.status = status
        self.failure_reason = failure_reason
        self.touch()
        self.end_time = self.last_modified

    def describe(self) -> dict[str, Any]:
        return describe_response(self.request, status=self.status, children=self.children,
                                 last_modified=self.last_modified, end_time=self.end_time,
                                 failure_reason=self.failure_reason)


class FakeSageMaker:
    """SageMaker's tuning-job API as far as the portal uses it, in memory, behind real boto3 clients.

    ``calls`` counts operations by name. ``fail(operation, ...)`` queues faults: an AWS error code
    (with its HTTP status), an exception to raise, or a callable. ``after(operation, fn)`` runs ``fn``
    once the operation took effect (e.g. raise WorkerKilled, or meet a barrier).
    """

    OPERATIONS = (
        "CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
        "ListTrainingJobsForHyperParameterTuningJob", "StopHyperParameterTuningJob",
        "ListHyperParameterTuningJobs",
    )

    def __init__(self, *, validate: bool = True, operations: tuple[str, ...] | None = None):
        self.jobs: dict[str, FakeTuningJob] = {}
        self.calls: Counter[str] = Counter()
        self.call_log: list[tuple[str, dict[str, Any]]] = []
        self.validate = validate
        self.operations = set(operations or self.OPERATIONS)
        self._faults: dict[str, list[Any]] = {}
        self._after: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        self._clients: list[Any] = []
        self._lock = threading.RLock()
        self._clock = T0

    # -- wiring
    def attach(self, client: Any) -> None:
        uid = f"fake-sagemaker-{id(self)}"
        client.meta.events.register_first("before-parameter-build.sagemaker.*", self._remember_params,
                                          unique_id=f"{uid}-params")
        client.meta.events.register_first("before-call.sagemaker.*", self._answer, unique_id=f"{uid}-call")
        self._clients.append(client)

    def detach(self) -> None:
        uid = f"fake-sagemaker-{id(self)}"
        for client in self._clients:
            client.meta.events.unregister("before-parameter-build.sagemaker.*", unique_id=f"{uid}-params")
            client.meta.events.unregister("before-call.sagemaker.*", unique_id=f"{uid}-call")
        self._clients.clear()

    # -- scripting
    def fail(self, operation: str, code: str = "ThrottlingException", *, status: int = 400,
             message: str = "Rate exceeded", times: int = 1, exception: BaseException | None = None) -> None:
        fault = exception if exception is not None else (code, status, message)
        self._faults.setdefault(operation, []).extend([fault] * times)

    def after(self, operation: str, fn: Callable[[dict[str, Any]], None]) -> None:
        """Run ``fn(params)`` after the next call of ``operation`` took effect (once per registration)."""
        self._after.setdefault(operation, []).append(fn)

    def job(self, name: str) -> FakeTuningJob:
        return self.jobs[name.lower()]

    def add_job(self, request: dict[str, Any]) -> FakeTuningJob:
        """A job that exists in 'SageMaker' without the portal having created it."""
        job = FakeTuningJob(request, self._tick())
        self.jobs[job.name.lower()] = job
        return job

    def reset_counts(self) -> None:
        self.calls.clear()
        self.call_log.clear()

    # -- the API
    def _tick(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def _remember_params(self, params: dict[str, Any], context: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if model.name in self.operations:
            context["fake_sagemaker_params"] = copy.deepcopy(params)

    def _answer(self, model: Any, context: dict[str, Any], **kwargs: Any):
        operation = model.name
        if operation not in self.operations:
            return None  # someone else answers (moto, or the network)
        params = context.get("fake_sagemaker_params", {})
        with self._lock:
            self.calls[operation] += 1
            self.call_log.append((operation, params))
            faults = self._faults.get(operation)
            fault = faults.pop(0) if faults else None
        if isinstance(fault, BaseException):
            raise fault
        if fault is not None:
            code, status, message = fault
            return self._error(code, message, status)
        with self._lock:
            try:
                result = getattr(self, f"_op_{operation}")(params)
            except _ApiError as exc:
                return self._error(exc.code, exc.message, exc.status)
        if self.validate and model.output_shape is not None:
            validate_parameters(result, model.output_shape)
        with self._lock:
            hooks = self._after.get(operation)
            hook = hooks.pop(0) if hooks else None
        if hook is not None:
            hook(params)
        return AWSResponse(None, 200, {}, None), {**result, "ResponseMetadata": {"HTTPStatusCode": 200}}

    @staticmethod
    def _error(code: str, message: str, status: int):
        return AWSResponse(None, status, {}, None), {
            "Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status},
        }

    def _find(self, name: str) -> FakeTuningJob:
        job = self.jobs.get(name.lower())
        if job is None:
            raise _ApiError("ResourceNotFound", f"Amazon SageMaker can't find a tuning job with name {name}", 400)
        return job

    def _op_CreateHyperParameterTuningJob(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HyperParameterTuningJobName"]
        if name.lower() in self.jobs:
            raise _ApiError("ResourceInUse", f"Hyper Parameter Tuning Job with name {name} already exists.", 400)
        self.add_job(params)
        return {"HyperParameterTuningJobArn": tuning_job_arn(name)}

    def _op_DescribeHyperParameterTuningJob(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._find(params["HyperParameterTuningJobName"]).describe()

    def _op_ListTrainingJobsForHyperParameterTuningJob(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._find(params["HyperParameterTuningJobName"])
        key = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}[
            params.get("SortBy", "Name")]
        ordered = sorted(job.children, key=lambda c: c[key], reverse=params.get("SortOrder") == "Descending")
        start = int(params.get("NextToken") or 0)
        size = params.get("MaxResults", 10)
        page: dict[str, Any] = {"TrainingJobSummaries": copy.deepcopy(ordered[start:start + size])}
        if start + size < len(ordered):
            page["NextToken"] = str(start + size)
        return page

    def _op_StopHyperParameterTuningJob(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._find(params["HyperParameterTuningJobName"])
        if job.status != "InProgress":
            raise _ApiError("ValidationException", f"The tuning job {job.name} is not in progress ({job.status}).", 400)
        job.status = "Stopping"
        job.touch()
        return {}

    def _op_ListHyperParameterTuningJobs(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"HyperParameterTuningJobSummaries": []}


class _ApiError(Exception):
    def __init__(self, code: str, message: str, status: int):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# --- the portal side: queued tasks and submitted jobs ----------------------------------------------
class QueuedTasks:
    """Records what services publish to the broker, and runs it on demand (a worker in the test)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []
        self.broker_down = False

    def publish(self, name: str):
        def apply_async(args: tuple[Any, ...] = (), kwargs: dict | None = None, **options: Any) -> None:
            if self.broker_down:
                from kombu.exceptions import OperationalError

                raise OperationalError("[Errno 111] Connection refused")
            self.sent.append((name, tuple(args)))

        return apply_async

    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def run(self) -> None:
        """Run every queued task through its Celery task (eagerly, with its retry policy), oldest first."""
        from hpo_jobs import tasks
        from hpo_portal.celery import app

        # Eager retries run again at once only when eager errors do not propagate (otherwise the
        # first retry raises celery.exceptions.Retry); get() then raises what finally failed.
        propagates = app.conf.task_eager_propagates
        app.conf.task_eager_propagates = False
        try:
            while self.sent:
                name, args = self.sent.pop(0)
                getattr(tasks, name).apply(args=args).get()
        finally:
            app.conf.task_eager_propagates = propagates
