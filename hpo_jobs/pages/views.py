"""Job pages: the list, a job's details (with the live partials htmx refreshes), stop, the two
exports and a training job's page.

Pages read the database only; no page waits on a tuning job's engine. The one exception is a
training job's log, which only the engine holds (the local engine's file, or CloudWatch), read on
that training job's page alone. Every aggregate (counters, failure roll-up, filter counts) is one
SQL query, so a page costs the same number of queries for 10 children or 10,000.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, Iterator
from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, DurationField, ExpressionWrapper, F, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Lower, Now
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST, require_safe

from projects import access
from projects.models import Project

from hpo_jobs import services
from hpo_jobs.backends import BackendError, get_backend
from hpo_jobs.models import HpoJob, TrainingJob
from hpo_jobs.templatetags.hpo_format import status_words

from . import charts

JOBS_PER_PAGE = 20  # a screenful; the list is for finding a job, the search and sort do the rest
TRAINING_JOBS_PER_PAGE = 50
# The failure roll-up lists this many distinct reasons; the rest are counted together.
ROLLUP_REASONS = 10
# A training job's page shows this much of the end of its log (the metrics read all of it).
LOG_SHOW_CHARS = 200_000
# Metric curves on a training job's page, objective first.
CURVES_MAX = 8
# The data table beside the charts lists each job up to this many jobs; beyond, the CSV does.
CHART_TABLE_MAX = 200
# Hyperparameters get a column each in the training jobs table up to this many.
HP_COLUMNS_MAX = 8
# How often the live parts of a job's page refresh while the job is active (seconds).
REFRESH_S = 5
CHARTS_REFRESH_S = 10

# SageMaker's TrainingJobStatus values, the filter's allow-list (plus any status stored rows carry).
TRAINING_JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
# A stop makes sense while the engine may still run something; Stopping is already on its way.
STOPPABLE = (HpoJob.Status.PENDING, HpoJob.Status.IN_PROGRESS, HpoJob.Status.UNKNOWN)

TABS = {
    "overview": "Overview",
    "training-jobs": "Training jobs",
    "charts": "Charts",
    "definitions": "Definitions",
    "configuration": "Configuration",
}

# Job list: sort key -> order_by terms; "-key" is the same column the other way. Every order ends
# on a unique column so that pages never overlap.
JOB_SORTS: dict[str, tuple] = {
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "name": (Lower("name"), "id"),
    "-name": (Lower("name").desc(), "-id"),
    "status": ("status", "-created_at", "-id"),
    "-status": ("-status", "-created_at", "-id"),
    "best": (F("best_objective_value").asc(nulls_last=True), "-created_at", "-id"),
    "-best": (F("best_objective_value").desc(nulls_last=True), "-created_at", "-id"),
    "progress": ("finished_count", "-created_at", "-id"),
    "-progress": ("-finished_count", "-created_at", "-id"),
    "strategy": ("strategy", "-created_at", "-id"),
    "-strategy": ("-strategy", "-created_at", "-id"),
    "engine": ("backend", "-created_at", "-id"),
    "-engine": ("-backend", "-created_at", "-id"),
    "creator": ("created_by__username", "-created_at", "-id"),
    "-creator": ("-created_by__username", "-created_at", "-id"),
    "duration": (F("duration").asc(nulls_last=True), "-created_at", "-id"),
    "-duration": (F("duration").desc(nulls_last=True), "-created_at", "-id"),
}
JOB_SORT_DEFAULT = "-created"
# Status filter of the list: one status, or all the active ones together.
JOB_STATUS_FILTERS = {"active": HpoJob.ACTIVE_STATUSES, **{s.value: (s.value,) for s in HpoJob.Status}}

# Training jobs table: sort key -> order_by terms (the objective's nulls always last).
TRAINING_JOB_SORTS: dict[str, tuple] = {
    "objective": (F("objective_value").asc(nulls_last=True), "id"),
    "-objective": (F("objective_value").desc(nulls_last=True), "id"),
    "created": ("creation_time", "id"),
    "-created": ("-creation_time", "-id"),
    "status": ("status", "creation_time", "id"),
    "-status": ("-status", "creation_time", "id"),
    "name": ("name",),
    "-name": ("-name",),
    "duration": (F("duration").asc(nulls_last=True), "id"),
    "-duration": (F("duration").desc(nulls_last=True), "id"),
}


# ---- access helpers -------------------------------------------------------------------------------
def _get_job(project: Project, name: str) -> HpoJob:
    """The project's job called ``name`` (tuning job names are case-insensitive); 404 when there is none."""
    try:
        # Through the unique index on LOWER(name): a project with 10,000 jobs is not scanned.
        job = (
            HpoJob.objects.select_related("created_by")
            .alias(lower_name=Lower("name"))
            .get(lower_name=Lower(Value(name)), project=project)
        )
    except HpoJob.DoesNotExist:
        raise Http404("No such HPO job") from None
    # The same object the access rules already resolved roles on: no second lookup.
    job.project = project
    return job


def _get_training_job(job: HpoJob, name: str) -> TrainingJob:
    """The job's child training job called ``name``; 404 when there is none."""
    try:
        training_job = job.training_jobs.get(name=name)
    except TrainingJob.DoesNotExist:
        raise Http404("No such training job") from None
    training_job.hpo_job = job
    return training_job


# ---- small helpers --------------------------------------------------------------------------------
def _choice(value: str | None, allowed, default: str) -> str:
    """``value`` when the allow-list has it, else the default: a bad parameter never fails a page."""
    return value if value in allowed else default


def _when(value: Any) -> datetime | None:
    """A time from an engine summary (ISO text, epoch seconds or a datetime), or None."""
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, str):
        try:
            result = parse_datetime(value)
        except ValueError:
            return None
    elif isinstance(value, (int, float)) and math.isfinite(value):
        result = datetime.fromtimestamp(value, tz=dt_timezone.utc)
    else:
        return None
    if result is not None and timezone.is_naive(result):
        result = timezone.make_aware(result, dt_timezone.utc)
    return result


def _elapsed(start: datetime | None, end: datetime | None, now: datetime) -> timedelta | None:
    if start is None:
        return None
    return max(timedelta(0), (end or now) - start)


def _sort_headers(current: str, columns: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """For each sortable column: the sort value its header link sets, and its aria-sort state."""
    headers = {}
    for key, first in columns.items():
        if current == key:
            headers[key] = {"next": f"-{key}", "aria": "ascending", "arrow": "▲"}
        elif current == f"-{key}":
            headers[key] = {"next": key, "aria": "descending", "arrow": "▼"}
        else:
            headers[key] = {"next": first, "aria": None, "arrow": ""}
    return headers


# ---- the request, read for people -----------------------------------------------------------------
@dataclass
class Objective:
    metric: str
    type: str

    @property
    def maximize(self) -> bool:
        return self.type != "Minimize"


def _job_objective(job: HpoJob) -> Objective:
    config = job.request.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective")
    if not objective:
        objective = next((d.get("TuningObjective") for d in job.definitions if d.get("TuningObjective")), None)
    objective = objective or {}
    return Objective(str(objective.get("MetricName", "")), str(objective.get("Type", "Maximize")))


def _algorithm_label(spec: dict[str, Any]) -> tuple[str, bool]:
    """A name for a definition's algorithm, and whether it is one of SageMaker's built-ins."""
    if spec.get("AlgorithmName"):
        return spec["AlgorithmName"], False
    image = spec.get("TrainingImage") or ""
    try:
        from hpo_jobs.sagemaker import catalogue

        algorithm = catalogue.algorithm_for_image(image)
    except Exception:  # the catalogue is a reader's aid here: a page must not fail on it
        algorithm = None
    if algorithm is not None:
        return algorithm.display_name, True
    return "Custom image", False


def _metric_definitions(spec: dict[str, Any]) -> list[dict[str, str]]:
    """The regexes SageMaker reads a training job's metrics with: the built-in algorithm's own
    (SageMaker adds them for built-ins) and then the definition's."""
    found: dict[str, dict[str, str]] = {}
    image = spec.get("TrainingImage") or ""
    try:
        from hpo_jobs.sagemaker import catalogue

        algorithm = catalogue.algorithm_for_image(image) if image else None
    except Exception:
        algorithm = None
    if algorithm is not None:
        for item in algorithm.metric_definitions:
            found[item["Name"]] = item
    for item in spec.get("MetricDefinitions") or []:
        if isinstance(item, dict) and item.get("Name") and item.get("Regex"):
            found[item["Name"]] = {"Name": item["Name"], "Regex": item["Regex"]}
    return list(found.values())


def _ranges_view(ranges: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, kind in (("IntegerParameterRanges", "Integer"), ("ContinuousParameterRanges", "Continuous")):
        for r in ranges.get(key) or []:
            rows.append({"name": r.get("Name", ""), "kind": kind, "min": r.get("MinValue", ""),
                         "max": r.get("MaxValue", ""), "scaling": r.get("ScalingType") or "Auto", "values": None})
    for r in ranges.get("CategoricalParameterRanges") or []:
        rows.append({"name": r.get("Name", ""), "kind": "Categorical", "min": "", "max": "", "scaling": "",
                     "values": [str(v) for v in r.get("Values") or []]})
    for r in ranges.get("AutoParameters") or []:
        rows.append({"name": r.get("Name", ""), "kind": "Auto", "min": "", "max": "", "scaling": "",
                     "values": [str(r.get("ValueHint", ""))]})
    return rows


def _channel_view(channel: dict[str, Any]) -> dict[str, Any]:
    source = channel.get("DataSource") or {}
    s3 = source.get("S3DataSource") or {}
    fs = source.get("FileSystemDataSource") or {}
    if s3:
        where, kind = s3.get("S3Uri", ""), s3.get("S3DataType", "S3Prefix")
    elif fs:
        where = f"{fs.get('FileSystemType', '')} {fs.get('FileSystemId', '')}:{fs.get('DirectoryPath', '')}"
        kind = f"file system ({fs.get('FileSystemAccessMode', '')})"
    elif source.get("DatasetSource"):
        where, kind = source["DatasetSource"].get("DatasetArn", ""), "dataset"
    else:
        where, kind = "", ""
    return {
        "name": channel.get("ChannelName", ""),
        "where": where,
        "kind": kind,
        "distribution": s3.get("S3DataDistributionType", ""),
        "content_type": channel.get("ContentType", ""),
        "compression": channel.get("CompressionType", ""),
        "input_mode": channel.get("InputMode", ""),
        "record_wrapper": channel.get("RecordWrapperType", ""),
    }


def _definition_view(job: HpoJob, definition: dict[str, Any], index: int) -> dict[str, Any]:
    """One training job definition, with the objective and ranges that the single-definition form
    of the request keeps in HyperParameterTuningJobConfig instead."""
    config = job.request.get("HyperParameterTuningJobConfig") or {}
    objective = definition.get("TuningObjective") or config.get("HyperParameterTuningJobObjective") or {}
    ranges = definition.get("HyperParameterRanges") or config.get("ParameterRanges") or {}
    spec = definition.get("AlgorithmSpecification") or {}
    algorithm, builtin = _algorithm_label(spec)
    resources = definition.get("ResourceConfig") or definition.get("HyperParameterTuningResourceConfig") or {}
    stopping = definition.get("StoppingCondition") or {}
    vpc = definition.get("VpcConfig") or {}
    output = definition.get("OutputDataConfig") or {}
    ranges_rows = _ranges_view(ranges)
    return {
        "index": index,
        "name": definition.get("DefinitionName", ""),
        "title": definition.get("DefinitionName") or f"Definition {index}",
        "objective_metric": objective.get("MetricName", ""),
        "objective_type": objective.get("Type", ""),
        "algorithm": algorithm,
        "builtin": builtin,
        "image": spec.get("TrainingImage", ""),
        "algorithm_name": spec.get("AlgorithmName", ""),
        "input_mode": spec.get("TrainingInputMode", ""),
        "metric_definitions": spec.get("MetricDefinitions") or [],
        "ranges_raw": ranges,
        "ranges": ranges_rows,
        "tuned_names": [r["name"] for r in ranges_rows],
        "static": sorted((definition.get("StaticHyperParameters") or {}).items()),
        "channels": [_channel_view(c) for c in definition.get("InputDataConfig") or []],
        "output_path": output.get("S3OutputPath", ""),
        "output_kms": output.get("KmsKeyId", ""),
        "instance_type": resources.get("InstanceType", ""),
        "instance_count": resources.get("InstanceCount", ""),
        "volume_gb": resources.get("VolumeSizeInGB", ""),
        "instance_configs": resources.get("InstanceConfigs") or [],
        "max_runtime_s": stopping.get("MaxRuntimeInSeconds"),
        "max_wait_s": stopping.get("MaxWaitTimeInSeconds"),
        "max_pending_s": stopping.get("MaxPendingTimeInSeconds"),
        "role_arn": definition.get("RoleArn", ""),
        "subnets": vpc.get("Subnets") or [],
        "security_groups": vpc.get("SecurityGroupIds") or [],
        "network_isolation": definition.get("EnableNetworkIsolation", False),
        "encryption": definition.get("EnableInterContainerTrafficEncryption", False),
        "spot": definition.get("EnableManagedSpotTraining", False),
        "checkpoint": (definition.get("CheckpointConfig") or {}).get("S3Uri", ""),
        "retries": (definition.get("RetryStrategy") or {}).get("MaximumRetryAttempts"),
        "environment": sorted((definition.get("Environment") or {}).items()),
        "metric_regexes": _metric_definitions(spec),
    }


def _definitions(job: HpoJob) -> list[dict[str, Any]]:
    return [_definition_view(job, d, i) for i, d in enumerate(job.definitions, start=1)]


def _definition_for(definitions: list[dict[str, Any]], name: str | None) -> dict[str, Any] | None:
    """The definition a training job ran from (the only one when the request has one)."""
    if len(definitions) == 1:
        return definitions[0]
    return next((d for d in definitions if d["name"] and d["name"] == name), None)


def _tuned_columns(definitions: list[dict[str, Any]]) -> list[str]:
    """The tuned hyperparameters of all definitions, in the order they were declared."""
    names: dict[str, None] = {}
    for d in definitions:
        for name in d["tuned_names"]:
            names.setdefault(name, None)
    return list(names)


# ---- aggregates (one query each) ------------------------------------------------------------------
def _child_status_counts(job: HpoJob) -> dict[str, int]:
    """How many stored training jobs have each status (the (hpo_job, status) index answers it)."""
    rows = job.training_jobs.order_by().values_list("status").annotate(n=Count("id"))
    return {status: n for status, n in rows}


def _counters(job: HpoJob, child_counts: dict[str, int]) -> list[dict[str, Any]]:
    """The engine's training job counters; from the stored rows when the engine has not reported any."""
    mirrored = job.training_job_status_counters or {}
    if mirrored:
        items = [
            ("Completed", "Completed", "completed"),
            ("InProgress", "In progress", "inprogress"),
            ("Stopped", "Stopped", "stopped"),
            ("RetryableError", "Retryable failures", "failed"),
            ("NonRetryableError", "Non-retryable failures", "failed"),
        ]
        return [{"key": k, "label": label, "value": int(mirrored.get(k) or 0), "css": css} for k, label, css in items]
    return [
        {"key": "Completed", "label": "Completed", "value": child_counts.get("Completed", 0), "css": "completed"},
        {"key": "InProgress", "label": "In progress",
         "value": child_counts.get("InProgress", 0) + child_counts.get("Stopping", 0), "css": "inprogress"},
        {"key": "Stopped", "label": "Stopped", "value": child_counts.get("Stopped", 0), "css": "stopped"},
        {"key": "Failed", "label": "Failed", "value": child_counts.get("Failed", 0), "css": "failed"},
    ]


def _objective_counters(job: HpoJob) -> list[dict[str, Any]]:
    mirrored = job.objective_status_counters or {}
    return [
        {"key": k, "label": label, "value": int(mirrored.get(k) or 0)}
        for k, label in (("Succeeded", "Evaluated"), ("Pending", "Pending"), ("Failed", "Not evaluated"))
    ]


def _failure_rollup(job: HpoJob, failed_total: int) -> dict[str, Any]:
    """The distinct reasons child jobs failed for, most frequent first, and how many are not listed."""
    rows = list(
        job.training_jobs.filter(status="Failed")
        .order_by()
        .values("failure_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "failure_reason")[:ROLLUP_REASONS]
    )
    listed = sum(r["n"] for r in rows)
    return {
        "reasons": [{"reason": r["failure_reason"] or "No reason given", "count": r["n"]} for r in rows],
        "other": max(0, failed_total - listed),
        "total": failed_total,
    }


def _progress(job: HpoJob, counters: list[dict[str, Any]]) -> dict[str, Any]:
    """Finished training jobs (Completed, Stopped or failed) of the budget, and how many stopped early."""
    total = job.max_training_jobs
    finished = job.finished_count or sum(c["value"] for c in counters if c["key"] != "InProgress")
    stopped = next((c["value"] for c in counters if c["key"] == "Stopped"), 0)
    early = _early_stopping(job) and not job.stop_requested_at
    percent = min(100, round(100 * finished / total)) if total else None
    return {"completed": finished, "total": total, "percent": percent, "stopped_early": stopped if early else 0}


def _early_stopping(job: HpoJob) -> bool:
    config = (job.request or {}).get("HyperParameterTuningJobConfig") or {}
    return config.get("TrainingJobEarlyStoppingType") == "Auto" or config.get("Strategy") == "Hyperband"


# ---- the best training job ------------------------------------------------------------------------
def _training_job_url(project: Project, job_name: str, training_job_name: str) -> str:
    return reverse("hpo_jobs:training_job", args=[project.slug, job_name, training_job_name])


def _best_view(
    project: Project, job: HpoJob, summary: dict[str, Any] | None, definitions: list[dict[str, Any]],
    linkable_jobs: set[str],
) -> dict[str, Any] | None:
    """An engine BestTrainingJob summary, ready to show: values, hyperparameters, times, link."""
    if not summary or not summary.get("TrainingJobName"):
        return None
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    definition = _definition_for(definitions, summary.get("TrainingJobDefinitionName"))
    tuned = summary.get("TunedHyperParameters") or {}
    order = definition["tuned_names"] if definition else []
    tuned_items = [(k, tuned[k]) for k in order if k in tuned] + sorted(
        (k, v) for k, v in tuned.items() if k not in order
    )
    owner = summary.get("TuningJobName") or job.name
    created, started, ended = (_when(summary.get(k)) for k in ("CreationTime", "TrainingStartTime", "TrainingEndTime"))
    url = None
    if owner.lower() == job.name.lower() or owner in linkable_jobs:
        url = _training_job_url(project, job.name if owner.lower() == job.name.lower() else owner,
                                summary["TrainingJobName"])
    return {
        "name": summary["TrainingJobName"],
        "tuning_job": owner,
        "from_parent": owner.lower() != job.name.lower(),
        "definition": summary.get("TrainingJobDefinitionName") or (definition["name"] if definition else ""),
        "status": summary.get("TrainingJobStatus", ""),
        "objective_status": summary.get("ObjectiveStatus", ""),
        "metric": metric.get("MetricName", ""),
        "type": metric.get("Type", ""),
        "value": metric.get("Value"),
        "tuned": tuned_items,
        "static": definition["static"] if definition else [],
        "created": created,
        "started": started,
        "ended": ended,
        "duration": _elapsed(started or created, ended, timezone.now()) if ended else None,
        "url": url,
    }


def _best_from_rows(job: HpoJob, objective: Objective) -> dict[str, Any] | None:
    """A BestTrainingJob-shaped summary of the best stored child, for when the engine gave none yet
    (one query on the (hpo_job, objective_value) index)."""
    order = F("objective_value").desc() if objective.maximize else F("objective_value").asc()
    row = (
        job.training_jobs.filter(objective_value__isnull=False)
        .exclude(objective_status="Failed")
        .order_by(order)
        .first()
    )
    if row is None:
        return None
    return {
        "TrainingJobName": row.name,
        "TrainingJobDefinitionName": row.definition_name,
        "TrainingJobStatus": row.status,
        "ObjectiveStatus": row.objective_status,
        "TunedHyperParameters": row.tuned_hyperparameters,
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "MetricName": row.objective_metric_name or objective.metric, "Type": objective.type,
            "Value": row.objective_value,
        },
        "CreationTime": row.creation_time,
        "TrainingStartTime": row.start_time,
        "TrainingEndTime": row.end_time,
    }


# ---- page contexts --------------------------------------------------------------------------------
def _header_context(
    request: HttpRequest, project: Project, job: HpoJob, tab: str, child_total: int
) -> dict[str, Any]:
    """The header and the tabs: status, progress, best value, actions (refreshed while active)."""
    counters = _counters(job, {}) if job.training_job_status_counters else []
    return {
        "project": project,
        "job": job,
        "can_stop": job.status in STOPPABLE and access.can_stop_job(request.user, job),
        "can_clone": access.can_create_jobs(request.user, project),
        "progress": _progress(job, counters),
        "objective": _job_objective(job),
        "duration": _elapsed(job.started_at or job.created_at, job.ended_at, timezone.now()),
        "refresh_s": REFRESH_S,
        "tab": tab,
        "tabs": [{"key": k, "label": v} for k, v in TABS.items()],
        "child_total": child_total,
        "definition_count": len(job.definitions),
    }


def _overview_context(project: Project, job: HpoJob, child_counts: dict[str, int]) -> dict[str, Any]:
    definitions = _definitions(job)
    objective = _job_objective(job)
    counters = _counters(job, child_counts)
    warm = job.request.get("WarmStartConfig") or {}
    parents = [p.get("HyperParameterTuningJobName", "") for p in warm.get("ParentHyperParameterTuningJobs") or []]
    linkable = set()
    overall = job.overall_best_training_job
    if overall and overall.get("TuningJobName") and overall["TuningJobName"] != job.name:
        linkable = set(project.hpo_jobs.filter(name=overall["TuningJobName"]).values_list("name", flat=True))
    best_summary = job.best_training_job
    best_estimated = False
    if not best_summary and sum(child_counts.values()):
        best_summary = _best_from_rows(job, objective)
        best_estimated = best_summary is not None
    consumed = ((job.last_describe or {}).get("ConsumedResources") or {}).get("RuntimeInSeconds")
    completion = job.completion_details or {}
    return {
        "counters": counters,
        "objective_counters": _objective_counters(job),
        "has_objective_counters": bool(job.objective_status_counters),
        "progress": _progress(job, counters),
        "objective": objective,
        "rollup": _failure_rollup(job, child_counts.get("Failed", 0)),
        "best": _best_view(project, job, best_summary, definitions, linkable),
        "best_estimated": best_estimated,
        "overall_best": _best_view(project, job, overall, definitions, linkable) if warm else None,
        "warm_parents": parents,
        "duration": _elapsed(job.started_at or job.created_at, job.ended_at, timezone.now()),
        "runtime_s": consumed,
        "not_improving": completion.get("NumberOfTrainingJobsObjectiveNotImproving"),
        "converged_at": _when(completion.get("ConvergenceDetectedTime")),
        "child_total": sum(child_counts.values()),
        "refresh_s": REFRESH_S,
    }


def _duration_expression() -> ExpressionWrapper:
    # Running training jobs count up to now, as they do on the page.
    return ExpressionWrapper(
        Coalesce(F("end_time"), Now()) - Coalesce(F("start_time"), F("creation_time")),
        output_field=DurationField(),
    )


def _training_jobs_context(
    request: HttpRequest, project: Project, job: HpoJob, child_counts: dict[str, int]
) -> dict[str, Any]:
    definitions = _definitions(job)
    objective = _job_objective(job)
    default_sort = "-objective" if objective.maximize else "objective"
    sort = _choice(request.GET.get("sort"), TRAINING_JOB_SORTS, default_sort)
    statuses = list(TRAINING_JOB_STATUSES) + sorted(s for s in child_counts if s not in TRAINING_JOB_STATUSES)
    status = _choice(request.GET.get("status"), statuses, "")
    definition_names = [d["name"] for d in definitions if d["name"]]
    definition = _choice(request.GET.get("definition"), definition_names, "") if len(definition_names) > 1 else ""

    rows = job.training_jobs.all()
    if status:
        rows = rows.filter(status=status)
    if definition:
        rows = rows.filter(definition_name=definition)
    if sort.lstrip("-") == "duration":
        rows = rows.annotate(duration=_duration_expression())
    rows = rows.order_by(*TRAINING_JOB_SORTS[sort]).only(
        # hpo_job: the related manager checks each row's parent id; deferred, it costs a query a row.
        "id", "hpo_job", "name", "definition_name", "status", "tuned_hyperparameters", "objective_value", "objective_status",
        "failure_reason", "creation_time", "start_time", "end_time",
    )
    page = Paginator(rows, TRAINING_JOBS_PER_PAGE).get_page(request.GET.get("page"))

    hp_columns = _tuned_columns(definitions)
    compact = not hp_columns or len(hp_columns) > HP_COLUMNS_MAX
    now = timezone.now()
    base = _training_job_url(project, job.name, "__TJ__")
    for tj in page.object_list:
        tj.url = base.replace("__TJ__", quote(tj.name, safe=""))
        tj.duration = _elapsed(tj.start_time or tj.creation_time, tj.end_time, now)
        tj.hp_values = [tj.tuned_hyperparameters.get(name, "") for name in hp_columns] if not compact else []
        tj.hp_items = sorted(tj.tuned_hyperparameters.items()) if compact else []

    definition_counts = {}
    if len(definition_names) > 1:
        definition_counts = dict(
            job.training_jobs.order_by().values_list("definition_name").annotate(n=Count("id"))
        )
    params = request.GET.copy()
    params["tab"] = "training-jobs"
    for key in list(params):
        if key not in {"tab", "sort", "status", "definition", "page"}:
            del params[key]
    return {
        "page": page,
        "sort": sort,
        "default_sort": default_sort,
        "sort_headers": _sort_headers(sort, {
            "name": "name", "status": "status", "objective": default_sort, "created": "-created",
            "duration": "-duration",
        }),
        "status_filter": status,
        "status_options": [{"value": s, "label": status_words(s), "count": child_counts.get(s, 0)} for s in statuses],
        "definition_filter": definition,
        "definition_options": [{"value": n, "count": definition_counts.get(n, 0)} for n in definition_names],
        "show_definition": len(definition_names) > 1,
        "hp_columns": [] if compact else hp_columns,
        # name, status, objective, created, duration, the definition and hyperparameter columns
        "column_count": 5 + (len(definition_names) > 1) + (1 if compact else len(hp_columns)),
        "hp_compact": compact,
        "child_total": sum(child_counts.values()),
        "filtered": bool(status or definition),
        "objective": objective,
        "table_query": params.urlencode(),
        "refresh_s": REFRESH_S,
    }


def _charts_context(project: Project, job: HpoJob) -> dict[str, Any]:
    definitions = _definitions(job)
    objective = _job_objective(job)
    rows = list(
        job.training_jobs.order_by("creation_time", "id").values_list(
            "name", "definition_name", "objective_value", "tuned_hyperparameters", "creation_time", "end_time"
        )
    )
    detailed = len(rows) <= charts.MARK_DETAIL_MAX
    base = _training_job_url(project, job.name, "__TJ__")

    def url(name: str) -> str | None:
        return base.replace("__TJ__", quote(name, safe="")) if detailed else None

    history = charts.objective_history(
        [charts.HistoryPoint(name, end or created, value, url(name))
         for name, _d, value, _h, created, end in rows if value is not None],
        maximize=objective.maximize, metric_name=objective.metric,
    )

    # One parallel-coordinates chart per definition: each has its own hyperparameters.
    groups: dict[str, list] = {}
    for row in rows:
        definition = _definition_for(definitions, row[1])
        groups.setdefault(definition["name"] if definition else row[1], []).append(row)
    parallel = []
    for i, (group_name, group_rows) in enumerate(groups.items()):
        definition = _definition_for(definitions, group_name)
        axes = charts.axes_for(definition["ranges_raw"] if definition else {}, (r[3] for r in group_rows))
        caption = group_name if len(groups) > 1 else ""
        metric = (definition or {}).get("objective_metric") or objective.metric
        maximize = ((definition or {}).get("objective_type") or objective.type) != "Minimize"
        parallel.append({
            "caption": caption,
            "count": len(group_rows),
            "svg": charts.parallel_coordinates(
                [charts.PcRow(name, hps or {}, value, url(name)) for name, _d, value, hps, _c, _e in group_rows],
                axes, maximize=maximize, metric_name=metric, chart_id=f"parallel-{i + 1}", caption=caption,
            ),
        })
    table = []
    if history.marks <= CHART_TABLE_MAX:
        table = [{"name": p.name, "when": p.when, "value": p.value, "best": b, "url": p.url} for p, b in history.best]
    return {
        "objective": objective,
        "history_svg": history.svg,
        "history_marks": history.marks,
        "child_total": len(rows),
        "parallel": parallel,
        "chart_table": table,
        "chart_table_max": CHART_TABLE_MAX,
        "charts_detailed": detailed,
        "mark_detail_max": charts.MARK_DETAIL_MAX,
        "charts_refresh_s": CHARTS_REFRESH_S,
    }


def _configuration_context(project: Project, job: HpoJob) -> dict[str, Any]:
    config = job.request.get("HyperParameterTuningJobConfig") or {}
    limits = config.get("ResourceLimits") or {}
    criteria = config.get("TuningJobCompletionCriteria") or {}
    hyperband = ((config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig")) or {}
    warm = job.request.get("WarmStartConfig") or {}
    parents = [p.get("HyperParameterTuningJobName", "") for p in warm.get("ParentHyperParameterTuningJobs") or []]
    known = set(project.hpo_jobs.filter(name__in=parents).values_list("name", flat=True)) if parents else set()
    return {
        "config": {
            "strategy": config.get("Strategy") or job.strategy,
            "hyperband_min": hyperband.get("MinResource"),
            "hyperband_max": hyperband.get("MaxResource"),
            "max_jobs": limits.get("MaxNumberOfTrainingJobs"),
            "max_parallel": limits.get("MaxParallelTrainingJobs"),
            "max_runtime_s": limits.get("MaxRuntimeInSeconds"),
            "early_stopping": config.get("TrainingJobEarlyStoppingType") or "Off",
            "random_seed": config.get("RandomSeed"),
            "target_value": criteria.get("TargetObjectiveMetricValue"),
            "not_improving": (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving"),
            "convergence": (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence"),
            "warm_type": warm.get("WarmStartType"),
            "warm_parents": [{"name": p, "linked": p in known} for p in parents],
            "autotune": (job.request.get("Autotune") or {}).get("Mode"),
            "tags": [(t.get("Key", ""), t.get("Value", "")) for t in job.request.get("Tags") or []],
        },
        "objective": _job_objective(job),
        "request_pretty": json.dumps(job.request, indent=2, ensure_ascii=False),
    }


# ---- the job list ---------------------------------------------------------------------------------
STATUS_LABELS = dict(HpoJob.Status.choices)
LIST_FIELDS = (
    "id", "name", "status", "strategy", "backend", "created_at", "started_at", "ended_at", "finished_count",
    "max_training_jobs", "best_objective_value", "training_job_status_counters", "created_by__username",
)


def _ago(when: datetime, now: datetime) -> str:
    """A short relative time ("5 min ago"); a date past a week."""
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 7 * 86400:
        days = int(seconds // 86400)
        return f"{days} day{'s' if days != 1 else ''} ago"
    return timezone.localtime(when).strftime("%b %-d, %Y")


def _list_row(row: dict[str, Any], detail_base: str, now: datetime) -> dict[str, Any]:
    """One job of the list, every cell ready to print: the list renders 25 of these per request,
    so the work is done here, in plain Python, rather than in template filters."""
    total = row["max_training_jobs"]
    counters = row["training_job_status_counters"] or {}
    failed = int(counters.get("RetryableError") or 0) + int(counters.get("NonRetryableError") or 0)
    status = row["status"]
    created = row["created_at"]
    return {
        "name": row["name"],
        "url": detail_base.replace("__JOB__", quote(row["name"], safe="")),
        "status": status,
        "status_label": STATUS_LABELS.get(status, status),
        "status_css": status.lower(),
        "active": status in HpoJob.ACTIVE_STATUSES,
        "completed": f"{row['finished_count']:,}",
        "total": f"{total:,}" if total is not None else "?",
        "percent": min(100, round(100 * row["finished_count"] / total)) if total else None,
        "failed": f"{failed:,}" if failed else "",
        "best": charts.format_value(row["best_objective_value"]) if row["best_objective_value"] is not None else "",
        "metric": row["objective_metric"] or "",
        "strategy": row["strategy"],
        "backend": row["backend"],
        "creator": row["created_by__username"] or "—",
        "created_iso": created.isoformat(),
        "created_title": timezone.localtime(created).strftime("%Y-%m-%d %H:%M:%S %Z"),
        "created_ago": _ago(created, now),
        "duration": _elapsed(row["started_at"] or created, row["ended_at"], now),
    }


@require_safe
@access.project_view()
def job_list(request: HttpRequest, project: Project) -> HttpResponse:
    q = request.GET.get("q", "").replace("\x00", "").strip()[:64]  # PostgreSQL text holds no NUL
    status = _choice(request.GET.get("status"), JOB_STATUS_FILTERS, "")
    sort = _choice(request.GET.get("sort"), JOB_SORTS, JOB_SORT_DEFAULT)

    # One grouped query (on the (project, status) index) gives the filter's counts, tells an empty
    # project from an empty filter, and is the paginator's count whenever no name search applies.
    status_counts = dict(project.hpo_jobs.order_by().values_list("status").annotate(n=Count("id")))
    project_total = sum(status_counts.values())

    jobs = HpoJob.objects.filter(project=project).annotate(
        objective_metric=KT("best_training_job__FinalHyperParameterTuningJobObjectiveMetric__MetricName"),
    )
    if q:
        jobs = jobs.filter(name__icontains=q)
    if status:
        jobs = jobs.filter(status__in=JOB_STATUS_FILTERS[status])
    if sort.lstrip("-") == "duration":
        jobs = jobs.annotate(duration=ExpressionWrapper(
            Coalesce(F("ended_at"), Now()) - Coalesce(F("started_at"), F("created_at")), output_field=DurationField()
        ))
    jobs = jobs.order_by(*JOB_SORTS[sort]).values(*LIST_FIELDS, "objective_metric")
    paginator = Paginator(jobs, JOBS_PER_PAGE)
    if not q:
        statuses = JOB_STATUS_FILTERS[status] if status else status_counts
        paginator.count = sum(status_counts.get(s, 0) for s in statuses)  # no COUNT(*) query
    page = paginator.get_page(request.GET.get("page"))

    now = timezone.now()
    detail_base = reverse("hpo_jobs:detail", args=[project.slug, "__JOB__"])
    rows = [_list_row(row, detail_base, now) for row in page.object_list]

    status_options = [{"value": "active", "label": "Active",
                       "count": sum(status_counts.get(s, 0) for s in HpoJob.ACTIVE_STATUSES)}]
    status_options += [{"value": s.value, "label": s.label, "count": status_counts.get(s.value, 0)}
                       for s in HpoJob.Status if status_counts.get(s.value) or s.value == status]
    return render(request, "hpo_jobs/job_list.html", {
        "project": project,
        "page": page,
        "rows": rows,
        "q": q,
        "status_filter": status,
        "status_options": status_options,
        "sort": sort,
        "sort_headers": _sort_headers(sort, {
            "name": "name", "status": "status", "progress": "-progress", "best": "-best", "strategy": "strategy",
            "engine": "engine", "creator": "creator", "created": "-created", "duration": "-duration",
        }),
        "project_total": project_total,
        "filtered": bool(q or status),
        "can_create": access.can_create_jobs(request.user, project),
    })


# ---- a job's page and its live parts --------------------------------------------------------------
@require_safe
@access.project_view()
def job_detail(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    tab = _choice(request.GET.get("tab"), TABS, "overview")
    child_counts = _child_status_counts(job)
    context = _header_context(request, project, job, tab, sum(child_counts.values()))
    if tab == "overview":
        context.update(_overview_context(project, job, child_counts))
    elif tab == "training-jobs":
        context.update(_training_jobs_context(request, project, job, child_counts))
    elif tab == "charts":
        context.update(_charts_context(project, job))
    elif tab == "definitions":
        context["definitions"] = _definitions(job)
    elif tab == "configuration":
        context.update(_configuration_context(project, job))
    return render(request, "hpo_jobs/job_detail.html", context)


@require_safe
@access.project_view()
def job_header_part(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    tab = _choice(request.GET.get("tab"), TABS, "overview")
    context = _header_context(request, project, job, tab, job.training_jobs.count())
    return render(request, "hpo_jobs/parts/header.html", context)


@require_safe
@access.project_view()
def job_overview_part(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    context = {"project": project, "job": job, **_overview_context(project, job, _child_status_counts(job))}
    return render(request, "hpo_jobs/parts/overview.html", context)


@require_safe
@access.project_view()
def training_jobs_part(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    context = {"project": project, "job": job,
               **_training_jobs_context(request, project, job, _child_status_counts(job))}
    return render(request, "hpo_jobs/parts/training_jobs.html", context)


@require_safe
@access.project_view()
def job_charts_part(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    return render(request, "hpo_jobs/parts/charts.html", {"project": project, "job": job,
                                                           **_charts_context(project, job)})


# ---- stop -----------------------------------------------------------------------------------------
@require_POST
@access.project_view()
def job_stop(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    if not access.can_stop_job(request.user, job):
        raise PermissionDenied
    if job.is_terminal:
        messages.info(request, f"“{job.name}” has already ended ({job.get_status_display()}): nothing to stop.")
    elif job.status == HpoJob.Status.STOPPING:
        messages.info(request, f"“{job.name}” is already stopping.")
    elif services.request_stop(job, request.user):
        if job.status == HpoJob.Status.STOPPED:
            messages.success(request, f"“{job.name}” was stopped before the engine started it.")
        else:
            messages.success(request, f"Stopping “{job.name}”: its running training jobs are being stopped; "
                                      "finished ones keep their results.")
    else:
        messages.info(request, f"“{job.name}” has already ended ({job.get_status_display()}): nothing to stop.")
    return redirect("hpo_jobs:detail", project.slug, job.name)


# ---- exports --------------------------------------------------------------------------------------
@require_safe
@access.project_view()
def request_json(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    """The exact CreateHyperParameterTuningJob request the job sent, as a file to keep or import."""
    job = _get_job(project, name)
    response = HttpResponse(
        json.dumps(job.request, indent=2, ensure_ascii=False) + "\n", content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(True, f"{job.name}-request.json")
    return response


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


CSV_FIXED = [
    "training_job_name", "definition_name", "status", "objective_metric", "objective_value", "objective_status",
    "creation_time", "start_time", "end_time", "duration_seconds", "failure_reason",
]
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """The value, with text that a spreadsheet would run as a formula quoted (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _csv_time(value: datetime | None) -> str:
    return value.isoformat() if value else ""


@require_safe
@access.project_view()
def training_jobs_csv(request: HttpRequest, project: Project, name: str) -> StreamingHttpResponse:
    """Every child training job, one row each, with a column per hyperparameter."""
    job = _get_job(project, name)
    definitions = _definitions(job)
    columns = _tuned_columns(definitions)
    fields = ("name", "definition_name", "status", "objective_metric_name", "objective_value", "objective_status",
              "creation_time", "start_time", "end_time", "failure_reason", "tuned_hyperparameters")
    rows = job.training_jobs.order_by("creation_time", "id").values_list(*fields)

    def lines() -> Iterator[str]:
        # A first pass over the hyperparameters alone finds any the definitions do not declare
        # (a warm-start parent's, an imported job's): every one gets its column.
        extra: dict[str, None] = {}
        known = set(columns)
        for hps in job.training_jobs.order_by().values_list("tuned_hyperparameters", flat=True).iterator(2000):
            for key in hps or {}:
                if key not in known:
                    extra.setdefault(key, None)
        hp_names = columns + sorted(extra)
        header = CSV_FIXED + [n if n not in CSV_FIXED else f"hyperparameter:{n}" for n in hp_names]
        writer = csv.writer(_Echo())
        yield writer.writerow([_csv_cell(h) for h in header])
        for (tj_name, definition, status, metric, value, obj_status, created, started, ended, reason,
             hps) in rows.iterator(2000):
            duration = (ended - (started or created)).total_seconds() if ended and (started or created) else ""
            hps = hps or {}
            yield writer.writerow([_csv_cell(v) for v in (
                tj_name, definition, status, metric, "" if value is None else repr(value), obj_status,
                _csv_time(created), _csv_time(started), _csv_time(ended), duration, reason,
                *(hps.get(h, "") for h in hp_names),
            )])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{job.name}-training-jobs.csv")
    return response


# ---- a training job -------------------------------------------------------------------------------
def _read_log(job: HpoJob, training_job: TrainingJob) -> tuple[str, str]:
    """The training job's log and an error message (one of them empty). The only engine call a
    page makes: the log lives in the engine (a file here, CloudWatch on SageMaker), nowhere else."""
    try:
        return get_backend(job.backend).get_training_job_log(training_job.name), ""
    except BackendError as exc:
        return "", f"The log could not be read from the {job.backend} engine: {exc}"


def _parse_metrics(log: str, regexes: list[dict[str, str]]) -> tuple[dict[str, list[float]], str]:
    if not log or not regexes:
        return {}, ""
    from hpo_jobs.sagemaker.metrics import parse_text

    try:
        return parse_text(log, regexes), ""
    except ValueError as exc:
        return {}, str(exc)


@require_safe
@access.project_view()
def training_job_detail(request: HttpRequest, project: Project, name: str, training_job_name: str) -> HttpResponse:
    job = _get_job(project, name)
    training_job = _get_training_job(job, training_job_name)
    definitions = _definitions(job)
    definition = _definition_for(definitions, training_job.definition_name)
    objective = _job_objective(job)
    metric_name = training_job.objective_metric_name or (definition or {}).get("objective_metric") or objective.metric

    log, log_error = _read_log(job, training_job)
    series, metric_error = _parse_metrics(log, (definition or {}).get("metric_regexes") or [])
    final_metrics = [{"name": k, "value": v[-1], "objective": k == metric_name} for k, v in series.items() if v]
    final_metrics.sort(key=lambda m: (not m["objective"], m["name"]))
    curves = []
    for metric in [m["name"] for m in final_metrics if len(series[m["name"]]) >= 2][:CURVES_MAX]:
        curves.append({
            "name": metric,
            "svg": charts.metric_curve(series[metric], metric_name=metric, chart_id=f"curve-{len(curves) + 1}",
                                       highlight=metric == metric_name),
        })

    order = (definition or {}).get("tuned_names") or []
    tuned = training_job.tuned_hyperparameters or {}
    tuned_items = [(k, tuned[k]) for k in order if k in tuned] + sorted((k, v) for k, v in tuned.items() if k not in order)
    best_name = (job.best_training_job or {}).get("TrainingJobName")
    now = timezone.now()
    return render(request, "hpo_jobs/training_job_detail.html", {
        "project": project,
        "job": job,
        "tj": training_job,
        "definition": definition,
        "metric_name": metric_name,
        "objective": objective,
        "is_best": best_name == training_job.name,
        "duration": _elapsed(training_job.start_time or training_job.creation_time, training_job.end_time, now),
        "tuned": tuned_items,
        "static": (definition or {}).get("static") or [],
        "final_metrics": final_metrics,
        "curves": curves,
        "metric_error": metric_error,
        "log": log[-LOG_SHOW_CHARS:],
        "log_truncated": len(log) > LOG_SHOW_CHARS,
        "log_error": log_error,
        "active": training_job.status in ("InProgress", "Stopping"),
        "refresh_s": 10,
    })
