"""Job pages: the list, a job's details (with the live partials htmx refreshes), stop, the two
exports and a training job's page.

Pages read the database only; no page waits on a tuning job's engine. The one exception is a
training job's log, which only the engine holds (the local engine's file, or CloudWatch), read on
that training job's page alone. Status counts come from the engine's counters mirrored on the job;
the training jobs table pages by keyset (keyset.py: no count, no OFFSET, one index per sort), and
the job list's Next and Previous seek by cursor in the creation orders (its numbered pages are read
from the nearer end; a name search is counted on an index); every
other aggregate (failure roll-up, the best job's standing) is one SQL query on an index, and a large
job's charts are aggregated by the database and kept per state of the job; so a page costs the same
number of queries for 10 children or 50,000.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Callable, Iterator
from urllib.parse import quote

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import (
    Case, CharField, Count, F, FloatField, Func, IntegerField, Max, Min, Q, QuerySet, Value,
    When, Window,
)
from django.db.models.expressions import RowRange
from django.db.models.fields.json import KT
from django.db import connection
from django.db.models.functions import Cast, Coalesce, Lower
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.template.defaultfilters import floatformat
from django.utils.html import conditional_escape
from django.utils.http import content_disposition_header
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator, slugify
from django.views.decorators.http import require_POST, require_safe

from projects import access
from projects.models import Project

from hpo_jobs import services
from hpo_jobs.backends import Backend, BackendError, get_backend
from hpo_jobs.models import FLOAT_MAX, NO_BEST_VALUE, HpoJob, TrainingJob
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.templatetags import hpo_format
from hpo_jobs.templatetags.hpo_format import status_words

from . import best as best_job
from . import charts, endings, insight_charts, insights, keyset, presenters

JOBS_PER_PAGE = 20  # a screenful; the list is for finding a job, the search and sort do the rest
# A name search on the job list counts this many matches at most (then says that more match), and its
# pages show the first ones of the order: the page costs the same however many jobs match. The API
# counts them all.
SEARCH_COUNT_LIMIT = 1_000
TRAINING_JOBS_PER_PAGE = 50
# The failure roll-up lists this many distinct reasons; the rest are counted together.
ROLLUP_REASONS = 10
# A training job's page shows this much of the end of its log (its metrics come from the engine).
LOG_SHOW_CHARS = 200_000
# Metric curves on a training job's page, objective first.
CURVES_MAX = 8
# The data table beside the charts lists each job up to this many jobs; beyond, the CSV does.
CHART_TABLE_MAX = 200
# How often the live parts of a job's page refresh while the job is active (seconds).
REFRESH_S = 5
CHARTS_REFRESH_S = 10

# A hyperparameter value that reads as a number (SQLite: what its CAST reads whole), bounded so that none
# overflows a float: as the stored sort keys read it (migration 0019).
NUMBER_RE = r"^\s*[-+]?([0-9]{1,200}\.?[0-9]{0,200}|\.[0-9]{1,200})([eE][-+]?[0-9]{1,2})?\s*$"
# SageMaker's TrainingJobStatus values, the filter's allow-list (plus any status stored rows carry).
TRAINING_JOB_STATUSES = facts.TRAINING_JOB_STATUSES

TABS = {
    "overview": "Overview",
    "training-jobs": "Training jobs",
    "charts": "Charts",
    "insights": "Insights",
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
    # The jobs without a value last both ways (NO_BEST_VALUE), as HpoJob's indexes have it.
    "best": (NO_BEST_VALUE, "best_objective_value", "-created_at", "-id"),
    "-best": (NO_BEST_VALUE, "-best_objective_value", "-created_at", "-id"),
    "progress": ("finished_count", "-created_at", "-id"),
    "-progress": ("-finished_count", "-created_at", "-id"),
    "strategy": ("strategy", "-created_at", "-id"),
    "-strategy": ("-strategy", "-created_at", "-id"),
    "engine": ("backend", "-created_at", "-id"),
    "-engine": ("-backend", "-created_at", "-id"),
    "creator": ("creator_name", "-created_at", "-id"),
    "-creator": ("-creator_name", "-created_at", "-id"),
    "duration": ("duration_key", "-created_at", "-id"),  # running ones last: still going
    "-duration": ("-duration_key", "-created_at", "-id"),
}
JOB_SORT_DEFAULT = "-created"
# Status filter of the list: one status, or all the active ones together.
JOB_STATUS_FILTERS = {"active": HpoJob.ACTIVE_STATUSES, **{s.value: (s.value,) for s in HpoJob.Status}}

# Training jobs table: sort key -> the keys of its order, all one way (see keyset.py): "-key" is the
# same order reversed. Each is served by an index (TrainingJob.Meta.indexes); the hyperparameter
# orders (and the objective's when definitions tune for different metrics) are computed, row by row.
TRAINING_JOB_SORTS: dict[str, keyset.Order] = {
    "objective": keyset.Order((F("objective_up_key"), F("id"))),
    "-objective": keyset.Order((F("objective_down_key"), F("id")), descending=True),
    "created": keyset.Order((F("created_key"), F("id"))),
    "-created": keyset.Order((F("created_key"), F("id")), descending=True),
    "status": keyset.Order((F("status"), F("created_key"), F("id"))),
    "-status": keyset.Order((F("status"), F("created_key"), F("id")), descending=True),
    "name": keyset.Order((F("name"),)),  # unique within a job
    "-name": keyset.Order((F("name"),), descending=True),
    "duration": keyset.Order((F("duration_key"), F("id"))),  # running ones last: still going
    "-duration": keyset.Order((F("duration_key"), F("id")), descending=True),
}


# ---- access helpers -------------------------------------------------------------------------------
def _get_job(project: Project, name: str) -> HpoJob:
    """The project's job called ``name`` (tuning job names are case-insensitive); 404 when there is none."""
    try:
        # Through the unique index on LOWER(name): a project with 10,000 jobs is not scanned.
        job = (
            HpoJob.objects.select_related("created_by", "stop_requested_by")
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
    return facts.to_datetime(value)


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
    # Every definition's objective metric and its direction: two definitions may tune for different ones.
    metrics: dict[str, str] = field(default_factory=dict)

    @property
    def maximize(self) -> bool:
        return self.type != "Minimize"

    @property
    def mixed(self) -> bool:
        """Whether the definitions tune for different objective metrics (whose values never rank together)."""
        return len(self.metrics) > 1

    def maximizes(self, metric: str | None) -> bool:
        """The direction of ``metric`` (this objective's own when it is not one of the definitions')."""
        return self.metrics.get(metric or "", self.type) != "Minimize"


def _job_objective(job: HpoJob) -> Objective:
    """The job's objective: the best training job's metric when the definitions tune for several."""
    config = job.request.get("HyperParameterTuningJobConfig") or {}
    shared = config.get("HyperParameterTuningJobObjective") or {}
    metrics: dict[str, str] = {}
    for definition in job.definitions:
        objective = definition.objective or shared
        if objective.get("MetricName"):
            metrics.setdefault(str(objective["MetricName"]), str(objective.get("Type", "Maximize")))
    if shared.get("MetricName"):
        metrics.setdefault(str(shared["MetricName"]), str(shared.get("Type", "Maximize")))
    best_metric = ((job.best_training_job or {}).get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get(
        "MetricName")
    if best_metric in metrics:
        metric = best_metric
    else:
        metric = next(iter(metrics), str(shared.get("MetricName", "")))
    return Objective(metric, metrics.get(metric, str(shared.get("Type", "Maximize"))), metrics)


def _definitions(job: HpoJob) -> list[dict[str, Any]]:
    return presenters.present_definitions(job.request)


def _definition_for(definitions: list[dict[str, Any]], name: str | None) -> dict[str, Any] | None:
    """The definition a training job ran from (the only one when the request has one)."""
    if len(definitions) == 1:
        return definitions[0]
    return next((d for d in definitions if d["name"] and d["name"] == name), None)


def _static_items(definition: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A definition's static hyperparameters as (name, value) pairs, for the best job and a training job."""
    return [(h["name"], h["value"]) for h in (definition or {}).get("static") or []]


# ---- aggregates (one query each) ------------------------------------------------------------------
def _child_status_counts(job: HpoJob) -> dict[str, int]:
    """How many training jobs have each status: from the engine's counters mirrored on the job (no
    count over the children), else, before the engine reported any, counted from the stored rows."""
    mirrored = job.training_job_status_counters or {}
    if mirrored:
        counts = {
            "Completed": int(mirrored.get("Completed") or 0),
            "InProgress": int(mirrored.get("InProgress") or 0),
            "Stopped": int(mirrored.get("Stopped") or 0),
            "Failed": int(mirrored.get("RetryableError") or 0) + int(mirrored.get("NonRetryableError") or 0),
        }
        return {status: n for status, n in counts.items() if n}
    rows = job.training_jobs.order_by().values_list("status").annotate(n=Count("*"))
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
        .annotate(n=Count("*"))
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
        "static": _static_items(definition),
        "created": created,
        "started": started,
        "ended": ended,
        "duration": _elapsed(started or created, ended, timezone.now()) if ended else None,
        "url": url,
    }


def _best_from_rows(job: HpoJob, objective: Objective) -> dict[str, Any] | None:
    """A BestTrainingJob-shaped summary of the best stored child, for when the engine gave none yet
    (one query on the (hpo_job, objective_value) index)."""
    row = best_job.best_row(job, maximize=objective.maximize, metric=objective.metric if objective.mixed else None)
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
        "can_stop": job.is_stoppable and access.can_stop_job(request.user, job),
        "can_clone": access.can_create_jobs(request.user, project),
        "progress": _progress(job, counters),
        "objective": _job_objective(job),
        "duration": _elapsed(job.started_at or job.created_at, job.ended_at, timezone.now()),
        "refresh_s": REFRESH_S,
        "tab": tab,
        "tabs": [{"key": k, "label": v} for k, v in TABS.items()],
        "child_total": child_total,
        "definition_count": len(job.definitions),
        "ending": endings.job_ending(job),
        "stop_hint": _stop_hint(request, job),
    }


def _stop_hint(request: HttpRequest, job: HpoJob) -> str:
    """Why a member sees no Stop on a running job (only its creator and the project's owners stop it)."""
    if not job.is_stoppable or access.can_stop_job(request.user, job):
        return ""
    creator = job.created_by.get_username() if job.created_by else "its creator"
    return f"Only {creator}, who created this job, and the project's owners can stop it."


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
    best = _best_view(project, job, best_summary, definitions, linkable)
    since_best = None
    if best and not best["from_parent"]:
        metric = best["metric"] if objective.mixed else None

        def standing() -> tuple[best_job.Standing | None, int | None]:
            return (best_job.standing(job, best["name"], best["value"], maximize=objective.maximizes(best["metric"]),
                                      metric=metric),
                    best_job.jobs_since(job, best["ended"], metric=metric))

        child_total = sum(child_counts.values())
        if child_total > charts.CHART_POINTS_MAX:  # counts over every child: once per state of the job
            best["standing"], since_best = cache.get_or_set(_state_key(job, "standing", child_total), standing,
                                                            CHARTS_CACHE_S)
        else:
            best["standing"], since_best = standing()
        best["digits"] = best["standing"].digits if best["standing"] else 6
    criteria = (job.request.get("HyperParameterTuningJobConfig") or {}).get("TuningJobCompletionCriteria") or {}
    return {
        "counters": counters,
        "objective_counters": _objective_counters(job),
        "has_objective_counters": bool(job.objective_status_counters),
        "progress": _progress(job, counters),
        "objective": objective,
        "rollup": _failure_rollup(job, child_counts.get("Failed", 0)),
        "best": best,
        "best_estimated": best_estimated,
        "since_best": since_best,
        "overall_best": _best_view(project, job, overall, definitions, linkable) if warm else None,
        "warm_parents": parents,
        "duration": _elapsed(job.started_at or job.created_at, job.ended_at, timezone.now()),
        "runtime_s": consumed,
        "not_improving": completion.get("NumberOfTrainingJobsObjectiveNotImproving"),
        "not_improving_limit": (criteria.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"),
        "converged_at": _when(completion.get("ConvergenceDetectedTime")),
        "child_total": sum(child_counts.values()),
        "refresh_s": REFRESH_S,
        "time_left": insights.time_left(job),
        "usage": insights.usage(job),
    }


def _mixed_objective_order(objective: Objective, *, descending: bool) -> keyset.Order:
    """Order by objective metric, then by value within each metric in its own direction (best first
    when ``descending``): values of different metrics are never ranked together."""
    minimized = [m for m, kind in objective.metrics.items() if kind == "Minimize"]
    signed = Case(When(objective_metric_name__in=minimized, then=-F("objective_value")),
                  default=F("objective_value"), output_field=FloatField())
    value = Coalesce(signed, Value(-FLOAT_MAX if descending else FLOAT_MAX), output_field=FloatField())
    # The metrics in the definitions' order whichever way the values run (keyset reverses every key).
    sign = -1 if descending else 1
    metric_rank = Case(*[When(objective_metric_name=m, then=Value(sign * i)) for i, m in enumerate(objective.metrics)],
                       default=Value(sign * len(objective.metrics)), output_field=IntegerField())
    return keyset.Order((metric_rank, value, F("id")), descending)


class _Number(Func):
    """A text as a number when it reads as one (NUMBER_RE), else NULL: as the stored sort keys read it."""

    arity = 1
    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        text, params = compiler.compile(self.source_expressions[0])
        return (f"CASE WHEN CAST({text} AS REAL) = {text} AND CAST({text} AS REAL) BETWEEN %s AND %s "
                f"THEN CAST({text} AS REAL) END", (*params, *params, *params, -FLOAT_MAX, FLOAT_MAX, *params))

    def as_postgresql(self, compiler, connection, **extra):
        text, params = compiler.compile(self.source_expressions[0])
        return f"CASE WHEN ({text}) ~ %s THEN ({text})::float8 END", (*params, NUMBER_RE, *params)


def _hyperparameter_order(rows: QuerySet, job: HpoJob, name: str, *, descending: bool) -> tuple[QuerySet, keyset.Order]:
    """Order by a tuned hyperparameter's value: as a number when it is one, else as text (text and
    absent values after the numbers both ways). From the keys the database keeps for the job's
    sortable hyperparameters (an index serves the order), else (a job stored before they were kept)
    from the rows' values, one by one."""
    if name in (job.sort_hyperparameters or ()):
        rows = rows.filter(sort_keys__hpo_job=job.pk, sort_keys__name=name)  # one key per row
        number = F("sort_keys__down_key") if descending else F("sort_keys__up_key")
        return rows, keyset.Order((number, F("sort_keys__text_key"), F("sort_keys__training_job")), descending)
    text = KT(f"tuned_hyperparameters__{name}")
    number = _Number(text)
    return rows, keyset.Order((
        Coalesce(number, Value(-FLOAT_MAX if descending else FLOAT_MAX), output_field=FloatField()),
        Coalesce(text, Value(""), output_field=CharField()),
        F("id"),
    ), descending)


def _training_job_order(rows: QuerySet, job: HpoJob, sort: str, objective: Objective) -> tuple[QuerySet, keyset.Order]:
    """The rows to page through in the table's order ``sort``, and that order."""
    descending = sort.startswith("-")
    if sort.lstrip("-") == "objective" and objective.mixed:
        return rows, _mixed_objective_order(objective, descending=descending)
    if sort in TRAINING_JOB_SORTS:
        return rows, TRAINING_JOB_SORTS[sort]
    return _hyperparameter_order(rows, job, sort.lstrip("-").removeprefix("hp:"), descending=descending)


# What the training jobs table reads of each row.
TABLE_COLUMNS = ("name", "definition_name", "status", "tuned_hyperparameters", "objective_value", "objective_status",
                 "failure_reason", "creation_time", "start_time", "end_time", "objective_metric_name")


class TableRow(SimpleNamespace):
    """A training job's row of the table: TABLE_COLUMNS (as TrainingJob names them, so that
    endings.training_job_ending reads it as it reads a TrainingJob), its order's keys, and its cells."""


def _training_jobs_context(
    request: HttpRequest, project: Project, job: HpoJob, child_counts: dict[str, int]
) -> dict[str, Any]:
    definitions = _definitions(job)
    objective = _job_objective(job)
    default_sort = "-objective" if objective.maximize else "objective"
    hp_columns = facts.tuned_names(job.request)
    compact = not hp_columns or len(hp_columns) > HpoJob.SORTED_HYPERPARAMETERS_MAX
    # A column's order only where the table shows the column (and the database keeps its keys).
    hp_sorts = set() if compact else {f"hp:{n}" for n in hp_columns} | {f"-hp:{n}" for n in hp_columns}
    sort = _choice(request.GET.get("sort"), TRAINING_JOB_SORTS.keys() | hp_sorts, default_sort)
    statuses = list(TRAINING_JOB_STATUSES) + sorted(s for s in child_counts if s not in TRAINING_JOB_STATUSES)
    status = _choice(request.GET.get("status"), statuses, "")
    definition_names = [d["name"] for d in definitions if d["name"]]
    definition = _choice(request.GET.get("definition"), definition_names, "") if len(definition_names) > 1 else ""

    rows = job.training_jobs.all()
    if status:
        rows = rows.filter(status=status)
    if definition:
        rows = rows.filter(definition_name=definition)
    # The columns as plain values, not model instances: a page prints 50 rows, and building a
    # (deferred) model instance costs more than the row's query and its markup together.
    rows = rows.values(*TABLE_COLUMNS)
    # Seek pages: no count, no OFFSET; the last page is the first one of the reversed order.
    rows, order = _training_job_order(rows, job, sort, objective)
    page = keyset.paginate(rows, order, TRAINING_JOBS_PER_PAGE, tag=sort,
                           after=request.GET.get("after"), before=request.GET.get("before"),
                           last=bool(request.GET.get("last")))
    page.object_list = [TableRow(**row) for row in page.object_list]

    now, zone = timezone.now(), timezone.get_current_timezone()
    base = _training_job_url(project, job.name, "__TJ__")
    best_name = best_job.the_best_name(job, maximize=objective.maximize, metric=objective.metric if objective.mixed else None)
    # Every cell ready to print: the template prints 50 rows per request and its filters cost more
    # than plain Python (the hyperparameter columns' classes are made once, not once a row).
    hp_slugs = [(name, slugify(name)) for name in hp_columns]
    column_count = 5 + (len(definition_names) > 1) + (1 if compact else len(hp_columns))
    for tj in page.object_list:
        tj.is_best = tj.name == best_name
        tj.ending = endings.training_job_ending(job, tj)
        tj.url = base.replace("__TJ__", quote(tj.name, safe=""))
        tj.duration = _elapsed(tj.start_time or tj.creation_time, tj.end_time, now)
        tj.duration_text = hpo_format.duration(tj.duration)
        tj.created_html = hpo_format.time_html(tj.creation_time, now, zone)
        tj.status_label = status_words(tj.status)
        tj.status_class = hpo_format.status_css(tj.status)
        tj.objective_text = hpo_format.metric(tj.objective_value)
        tj.objective_full = hpo_format.full_value(tj.objective_value)
        hps = tj.tuned_hyperparameters or {}
        tj.hp_values = [(slug, hps.get(name, "") or "—") for name, slug in hp_slugs] if not compact else []
        tj.hp_items = sorted(hps.items()) if compact else []
        tj.row_html = _training_job_row(tj, show_definition=len(definition_names) > 1, mixed=objective.mixed,
                                        compact=compact, column_count=column_count)

    definition_counts = {}
    if len(definition_names) > 1:
        definition_counts = dict(
            job.training_jobs.order_by().values_list("definition_name").annotate(n=Count("*"))
        )
    # How many match, when a stored count tells it (both filters at once: not counted).
    matching = None
    if status and not definition:
        matching = child_counts.get(status, 0)
    elif definition and not status:
        matching = definition_counts.get(definition, 0)
    headers = _sort_headers(sort, {
        "name": "name", "status": "status", "objective": default_sort, "created": "-created",
        "duration": "-duration", **{f"hp:{n}": f"hp:{n}" for n in ([] if compact else hp_columns)},
    })
    params = request.GET.copy()
    params["tab"] = "training-jobs"
    for key in list(params):
        if key not in {"tab", "sort", "status", "definition", "after", "before", "last"}:
            del params[key]
    return {
        "page": page,
        "sort": sort,
        "default_sort": default_sort,
        "sort_headers": headers,
        "status_filter": status,
        "status_options": [{"value": s, "label": status_words(s), "count": child_counts.get(s, 0)} for s in statuses],
        "definition_filter": definition,
        "definition_options": [{"value": n, "count": definition_counts.get(n, 0)} for n in definition_names],
        "show_definition": len(definition_names) > 1,
        "hp_columns": [] if compact else hp_columns,
        "hp_headers": [] if compact else [{"name": n, "h": headers[f"hp:{n}"]} for n in hp_columns],
        "best_name": best_name,
        "mixed_metrics": objective.mixed,
        # name, status, objective, created, duration, the definition and hyperparameter columns
        "column_count": column_count,
        "hp_compact": compact,
        "child_total": sum(child_counts.values()),
        "filtered": bool(status or definition),
        "matching": matching,
        "objective": objective,
        "table_query": params.urlencode(),
        "refresh_s": REFRESH_S,
    }


def _training_job_row(tj: TrainingJob, *, show_definition: bool, mixed: bool, compact: bool,
                      column_count: int) -> SafeString:
    """A training job's row of the table (and its ending's row), every value escaped as the template
    would (``e``; ``created_html`` is markup already): built here, not in the template, since a page
    prints 50 of them and a template's tags cost several times more than this."""
    e = _escape
    name = e(tj.name)
    best = f' class="row-best" data-best="{name}"' if tj.is_best else ""
    badge = ' <span class="badge badge-best">★ Best</span>' if tj.is_best else ""
    cells = [f'<td class="tj-name"><a class="mono" href="{e(tj.url)}" title="{name}">{name}</a>{badge}</td>']
    if show_definition:
        cells.append(f"<td>{e(tj.definition_name or '—')}</td>")
    cells.append(f'<td><span class="badge status-{e(tj.status_class)}">{e(tj.status_label)}</span></td>')
    notes = ""
    if mixed and tj.objective_metric_name:
        notes += f'<br><span class="meta mono">{e(tj.objective_metric_name)}</span>'
    if tj.objective_status == "Pending":
        notes += '<br><span class="meta">pending</span>'
    elif tj.objective_status == "Failed" and tj.status != "Stopped":
        notes += '<br><span class="meta">not evaluated</span>'
    cells.append(f'<td class="num objective-cell"><span title="{e(tj.objective_full)}">{e(tj.objective_text)}</span>'
                 f"{notes}</td>")
    if compact:
        items = "".join(f'<span class="hp"><span class="hp-k">{e(k)}</span>=<span class="hp-v">{e(v)}</span></span>'
                        for k, v in tj.hp_items) or "—"
        cells.append(f'<td class="mono hp-compact">{items}</td>')
    else:
        cells.extend(f'<td class="num mono hp-value-{e(slug)}">{e(v)}</td>' for slug, v in tj.hp_values)
    cells.append(f'<td class="time-cell">{tj.created_html}</td>'
                 f'<td class="num nowrap">{e(tj.duration_text)}</td>')
    row = f'<tr data-training-job="{name}" data-status="{e(tj.status)}"{best}>{"".join(cells)}</tr>'
    if tj.ending:
        text = tj.ending.text  # as truncatechars:300 (a text this short is never cut: skip its count)
        text = text if len(text) <= 300 else Truncator(text).chars(300)
        row += (f'<tr class="reason-row reason-{e(tj.ending.kind)}"><td colspan="{column_count}">'
                f'<span class="reason-label">{e(tj.ending.label)}</span> {e(text)}</td></tr>')
    return mark_safe(row)


def _escape(value: Any) -> str:
    """What the template's autoescape prints for a plain value (Django's ``escape``, without its lazy wrapper)."""
    return html.escape(str(value))


class _Epoch(Func):
    """Seconds since 1970 of a time, as a float (for the charts' aggregates)."""

    output_field = FloatField()

    def as_sql(self, compiler, connection, **extra):
        return self.as_sqlite(compiler, connection, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
                              **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8", **extra)


def _dense_charts_context(project: Project, job: HpoJob, child_total: int) -> dict[str, Any]:
    """The charts of a job with more than charts.CHART_POINTS_MAX training jobs, from aggregates the
    database computes: a few queries whatever the size, and charts of a bounded size."""
    definitions = _definitions(job)
    objective = _job_objective(job)
    best_name = best_job.the_best_name(job, maximize=objective.maximize,
                                       metric=objective.metric if objective.mixed else None)
    base = _training_job_url(project, job.name, "__TJ__")
    maximize = objective.maximize

    valued = job.training_jobs.filter(objective_value__isnull=False)
    if objective.mixed:
        names = [d["name"] for d in definitions if (d.get("objective_metric") or objective.metric) == objective.metric]
        valued = valued.filter(definition_name__in=names)
    at = _Epoch(Coalesce("end_time", "creation_time"))
    span = valued.aggregate(n=Count("id"), t0=Min(at), t1=Max(at), v0=Min("objective_value"),
                            v1=Max("objective_value"))
    valued = valued.annotate(at=at)
    density = charts.Density(span["n"], span["t0"] or 0.0, span["t1"] or 0.0, span["v0"] or 0.0, span["v1"] or 0.0,
                             [], [])
    if density.count:
        time_span = max(1.0, density.t1 - density.t0)
        value_span = (density.v1 - density.v0) or 1.0
        cells = valued.annotate(
            column=Cast((F("at") - density.t0) * (charts.DENSITY_COLUMNS / time_span), IntegerField()),
            row=Cast((F("objective_value") - density.v0) * (charts.DENSITY_ROWS / value_span), IntegerField()),
        ).values_list("column", "row").annotate(n=Count("id")).order_by()
        merged: dict[tuple[int, int], int] = {}
        for column, row, n in cells:  # the top edge (and any rounding) folds into the last cell
            column, row = column or 0, row or 0  # a job with no time at all sits at the start
            key = (min(charts.DENSITY_COLUMNS - 1, max(0, column)), min(charts.DENSITY_ROWS - 1, max(0, row)))
            merged[key] = merged.get(key, 0) + n
        density.cells = [(c, r, n) for (c, r), n in sorted(merged.items())]
        # Best so far: the jobs that beat every job before them (the database keeps only those).
        before = Window((Max if maximize else Min)("objective_value"), order_by=[F("at").asc(), F("id").asc()],
                        frame=RowRange(start=None, end=-1))
        improved = Q(objective_value__gt=F("before")) if maximize else Q(objective_value__lt=F("before"))
        density.steps = [
            (when, value) for when, value in valued.annotate(before=before)
            .filter(Q(before__isnull=True) | improved).order_by("at", "id").values_list("at", "objective_value")
            if when is not None
        ]
        if best_name:
            found = valued.filter(name=best_name).values_list("at", "objective_value").first()
            if found:
                density.best_at = found[0]
                density.best = charts.HistoryPoint(best_name, None, found[1],
                                                   base.replace("__TJ__", quote(best_name, safe="")))
    history = charts.objective_density(density, maximize=maximize, metric_name=objective.metric)

    # Parallel coordinates, one per definition: its best jobs and an even sample of the others.
    fields = ("name", "objective_value", "tuned_hyperparameters")
    groups = [d for d in definitions if d["name"]] if len(definitions) > 1 else definitions[:1]
    parallel = []
    for i, definition in enumerate(groups or [None]):
        rows = job.training_jobs.all()
        if len(groups) > 1:
            rows = rows.filter(definition_name=definition["name"])
        metric = (definition or {}).get("objective_metric") or objective.metric
        group_max = ((definition or {}).get("objective_type") or objective.type) != "Minimize"
        order = TRAINING_JOB_SORTS["-objective" if group_max else "objective"]
        top = list(order.apply(rows).values_list(*fields)[:charts.PARALLEL_TOP])
        step = max(1, math.ceil(child_total / charts.PARALLEL_SAMPLE))
        taken = {r[0] for r in top}
        sample = [r for r in rows.alias(slot=F("id") % step).filter(slot=0).order_by("id").values_list(*fields)
                  [:charts.PARALLEL_SAMPLE] if r[0] not in taken]
        drawn = sample + top
        axes = charts.axes_for(definition["ranges_raw"] if definition else {}, (r[2] for r in drawn))
        caption = definition["name"] if len(groups) > 1 else ""
        group_best = best_name if best_name in taken else (top[0][0] if top and top[0][1] is not None else None)
        parallel.append({
            "caption": caption,
            "count": None,
            "svg": charts.parallel_coordinates(
                [charts.PcRow(name, hps or {}, value) for name, value, hps in drawn], axes, maximize=group_max,
                metric_name=metric, chart_id=f"parallel-{i + 1}", caption=caption, best_name=group_best,
                of_total=child_total if len(groups) == 1 else None,
            ),
        })
    return {
        "objective": objective,
        "history_svg": history.svg,
        "history_marks": history.marks,
        "child_total": child_total,
        "parallel": parallel,
        "chart_table": [],
        "chart_table_max": CHART_TABLE_MAX,
        "charts_detailed": False,
        "charts_aggregated": True,
        "chart_points_max": charts.CHART_POINTS_MAX,
        "mark_detail_max": charts.MARK_DETAIL_MAX,
        "charts_refresh_s": CHARTS_REFRESH_S,
        "best_name": best_name,
        "history_other_metrics": objective.mixed,
    }


# Aggregates over every child of a large job (the charts, the best job's standing) are kept this long
# for a job whose stored state has not changed since.
CHARTS_CACHE_S = 3600


def _state_key(job: HpoJob, what: str, child_total: int) -> str:
    """A cache key for ``what`` of the job as it is stored now: every sync stamps last_synced_at, and
    only a sync changes the children."""
    return f"hpo-{what}:" + ":".join(str(part) for part in (
        job.pk, job.created_at.timestamp(), job.last_synced_at and job.last_synced_at.timestamp(),
        job.children_fingerprint, child_total, best_job.best_name(job) or ""))


def _charts_context(project: Project, job: HpoJob, child_total: int) -> dict[str, Any]:
    if child_total > charts.CHART_POINTS_MAX:
        # The aggregates scan the children: they are computed once per state of the job (every sync
        # stamps last_synced_at, and only a sync changes the children), then read from the cache.
        key = _state_key(job, "charts", child_total)
        context = cache.get(key)
        if context is None:
            context = _dense_charts_context(project, job, child_total)
            cache.set(key, context, CHARTS_CACHE_S)
        return context
    definitions = _definitions(job)
    objective = _job_objective(job)
    rows = list(
        job.training_jobs.order_by("creation_time", "id").values_list(
            "name", "definition_name", "objective_value", "tuned_hyperparameters", "creation_time", "end_time"
        )
    )
    detailed = len(rows) <= charts.MARK_DETAIL_MAX
    base = _training_job_url(project, job.name, "__TJ__")
    best_name = best_job.the_best_name(job, maximize=objective.maximize,
                                       metric=objective.metric if objective.mixed else None)

    def url(name: str) -> str | None:
        return base.replace("__TJ__", quote(name, safe="")) if detailed else None

    def metric_of(definition_name: str) -> str:
        definition = _definition_for(definitions, definition_name)
        return (definition or {}).get("objective_metric") or objective.metric

    # With definitions tuning for different metrics, the history shows the best job's metric only.
    history = charts.objective_history(
        [charts.HistoryPoint(name, end or created, value, url(name))
         for name, d, value, _h, created, end in rows
         if value is not None and (not objective.mixed or metric_of(d) == objective.metric)],
        maximize=objective.maximize, metric_name=objective.metric, best_name=best_name,
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
        group_best = best_name if any(r[0] == best_name for r in group_rows) else None
        if group_best is None:
            found = best_job.pick((best_job.Point(r[0], r[2], r[5], r[4]) for r in group_rows), maximize=maximize)
            group_best = found.name if found else None
        parallel.append({
            "caption": caption,
            "count": len(group_rows),
            "svg": charts.parallel_coordinates(
                [charts.PcRow(name, hps or {}, value, url(name)) for name, _d, value, hps, _c, _e in group_rows],
                axes, maximize=maximize, metric_name=metric, chart_id=f"parallel-{i + 1}", caption=caption,
                best_name=group_best,
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
        "best_name": best_name,
        "history_other_metrics": objective.mixed,
    }


def _insights_context(request: HttpRequest, project: Project, job: HpoJob, child_total: int) -> dict[str, Any]:
    objective = _job_objective(job)
    base = _training_job_url(project, job.name, "__TJ__")
    best_name = best_job.the_best_name(job, maximize=objective.maximize,
                                       metric=objective.metric if objective.mixed else None)

    def drawn() -> dict[str, Any]:
        return insights.tab_charts(job, lambda name: base.replace("__TJ__", quote(name, safe="")), best_name,
                                   child_total)

    if child_total > insight_charts.MARKS_MAX:
        # The charts of a large job sample its children in the database (a scan of them): drawn once
        # per state of the job and of its stored insights, then read from the cache, as the charts tab.
        part = cache.get_or_set(_state_key(job, f"insights-{job.insights_count}", child_total), drawn, CHARTS_CACHE_S)
    else:
        part = drawn()
    return insights.tab_context(job, part, can_clone=access.can_create_jobs(request.user, project))


def _configuration_context(project: Project, job: HpoJob) -> dict[str, Any]:
    presented = presenters.present_request(job.request)
    parents = (presented["warm_start"] or {}).get("parents") or []
    known = set(project.hpo_jobs.filter(name__in=parents).values_list("name", flat=True)) if parents else set()
    return {
        "presented": presented,
        "known_parents": known,
        "request_pretty": json.dumps(job.request, indent=2, ensure_ascii=False),
    }


# ---- the job list ---------------------------------------------------------------------------------
STATUS_LABELS = dict(HpoJob.Status.choices)
LIST_FIELDS = (
    "id", "name", "status", "strategy", "backend", "created_at", "started_at", "ended_at", "finished_count",
    "completed_count", "max_training_jobs", "best_objective_value", "training_job_status_counters", "creator_name",
)


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
        "best_full": repr(row["best_objective_value"]) if row["best_objective_value"] is not None else "",
        "metric": row["objective_metric"] or "",
        "strategy": row["strategy"],
        "backend": row["backend"],
        "creator": row["creator_name"] or "—",
        "created": created,
        "duration": _elapsed(row["started_at"] or created, row["ended_at"], now),
    }


def _job_list_row_html(job: dict[str, Any], number: int) -> SafeString:
    """A job's row of the list, every value escaped as the template would: built here, since the list
    prints 20 of them and a template's tags cost several times more (``number`` names its checkbox)."""
    e = _escape
    name = e(job["name"])
    progress = f'<span class="nowrap progress-text">{e(job["completed"])} of {e(job["total"])}</span>'
    if job["percent"] is not None:
        progress += ('<div class="progress" role="progressbar" aria-label="Training jobs completed" aria-valuemin="0" '
                     f'aria-valuemax="100" aria-valuenow="{e(job["percent"])}"><svg viewBox="0 0 100 1" '
                     'preserveAspectRatio="none" aria-hidden="true" focusable="false">'
                     f'<rect width="{e(job["percent"])}" height="1"/></svg></div>')
    if job["failed"]:
        progress += f'<span class="meta text-danger">{e(job["failed"])} failed</span>'
    if job["best"]:
        best = f'<span title="{e(job["best_full"])}">{e(job["best"])}</span>'
        if job["metric"]:
            best += f'<br><span class="meta mono">{e(job["metric"])}</span>'
    else:
        best = '<span class="muted">—</span>'
    timing = e(hpo_format.duration(job["duration"]))
    if job["active"]:
        timing += ' <span class="muted">so far</span>'
    if job.get("time_left") is not None:
        timing += f'<br><span class="meta time-left">about {e(hpo_format.duration(job["time_left"]))} left</span>'
    if job.get("hours") is not None:
        priced = job.get("cost") is not None
        timing += (f'<br><span class="meta usage-cell" title="Instance-hours used'
                   f'{" and their cost at the prices staff set" if priced else ""}">'
                   f'{e(floatformat(job["hours"], 1))} instance-h'
                   f'{" · " + e(hpo_format.usd(job["cost"])) if priced else ""}</span>')
    return mark_safe(
        f'<tr data-job="{name}" data-status="{e(job["status"])}">'
        f'<td><input type="checkbox" name="job" value="{name}" id="compare-{number}" aria-label="Compare {name}"></td>'
        f'<td class="job-name-cell"><a class="strong job-name" href="{e(job["url"])}" title="{name}">{name}</a></td>'
        f'<td><span class="badge status-{e(job["status_css"])}">{e(job["status_label"])}</span></td>'
        f'<td class="progress-cell">{progress}</td>'
        f'<td class="num">{best}</td>'
        f'<td>{e(job["strategy"])}<br><span class="meta">{e(hpo_format.engine_name(job["backend"]))}</span></td>'
        f'<td>{e(job["creator"])}</td>'
        f'<td class="time-cell">{conditional_escape(hpo_format.when(job["created"]))}</td>'
        f'<td class="num nowrap">{timing}</td></tr>'
    )


class TwoEndedPaginator(Paginator):
    """A Paginator whose pages past the middle are read from the other end, in the reversed order
    (every job order ends on a unique column, so it reverses exactly): the last page costs what the
    first does, and no OFFSET goes deeper than half the list. Needs the exact count.

    An OFFSET skips only the ids (a "deferred join"): the rows skipped are never read, their JSON
    never parsed, and on PostgreSQL the default order's ids come from its index alone; the page's
    own rows are then read by id (``by_id``, else from object_list)."""

    def __init__(self, object_list, per_page, *, ids=None, by_id=None, two_ended=True, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.ids = ids  # object_list's ids in its order (a values_list of "pk"), when an OFFSET should skip ids
        self.by_id = by_id  # ids -> {id: row}: object_list's rows of those ids
        self.two_ended = two_ended  # False when ``count`` is not the whole list's (then read from the top only)

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        if bottom <= self.count // 2 or not self.two_ended or not hasattr(self.object_list, "reverse"):
            rows = self._slice(bottom, top, reverse=False)
        else:
            rows = self._slice(self.count - top, self.count - bottom, reverse=True)
            rows.reverse()
        return self._get_page(rows, number, self)

    def _slice(self, bottom: int, top: int, *, reverse: bool) -> list:
        rows = self.object_list.reverse() if reverse else self.object_list
        if self.ids is None:
            return list(rows[bottom:top])
        ids = list((self.ids.reverse() if reverse else self.ids)[bottom:top])
        if self.by_id is not None:
            by_id = self.by_id(ids)
        else:  # unordered (the ids give the order): else SQLite walks the order's index to meet the ids
            by_id = {row["id"]: row for row in self.object_list.filter(pk__in=ids).order_by()}
        return [by_id[pk] for pk in ids if pk in by_id]


# The job list's orders that its Next and Previous links seek by cursor (keyset.py) rather than by
# OFFSET: those whose keys all run one way, none NULL. The page number stays in the address (a page
# without a cursor, bookmarked or typed, is read by number, from the nearer end).
JOB_SEEK_ORDERS = {
    "-created": keyset.Order((F("created_at"), F("id")), descending=True),
    "created": keyset.Order((F("created_at"), F("id"))),
}


def _job_list_page(paginator: "TwoEndedPaginator", sort: str, params) -> Any:
    """The page the address asks for: by its cursor (``after`` the previous page's last row, or
    ``before`` the next page's first one) when the order seeks, else by its number. Each page knows
    its neighbours' cursors (None where its links go by number)."""
    order = JOB_SEEK_ORDERS.get(sort)
    number = params.get("page")
    page = None
    if order is not None and (params.get("after") or params.get("before")) and paginator.count:
        fields = [HpoJob._meta.get_field("created_at"), HpoJob._meta.get_field("id")]
        after = keyset.decode_cursor(params.get("after"), sort, fields)
        before = keyset.decode_cursor(params.get("before"), sort, fields) if after is None else None
        if after is not None or before is not None:
            try:
                number = paginator.validate_number(number)
            except PageNotAnInteger:
                number = 1
            except EmptyPage:
                number = paginator.num_pages
            walk = order if after is not None else order.reversed()
            rows = list(walk.seek(walk.apply(paginator.object_list), after or before)[:paginator.per_page])
            if before is not None:
                rows.reverse()
            if rows:
                page = paginator._get_page(rows, number, paginator)
    if page is None:
        page = paginator.get_page(number)
    page.object_list = list(page.object_list)  # read once: the rows, and their ends' cursors
    page.next_cursor = page.previous_cursor = None
    if order is not None and page.object_list:
        ends = [page.object_list[0], page.object_list[-1]]
        first, last = (keyset.encode_cursor(sort, [row["created_at"], row["id"]]) for row in ends)
        if page.has_next() and page.next_page_number() < paginator.num_pages:
            page.next_cursor = last  # the last page goes by number: read from the other end, as cheap
        if page.has_previous() and page.previous_page_number() > 1:
            page.previous_cursor = first
    return page


def _few_matches(matches: int, jobs: int) -> bool:
    """Whether a search's ``matches`` among ``jobs`` are cheaper sorted alone (about ``matches`` rows
    read) than met walking the order (a page of them is met after about 20 × jobs / matches rows)."""
    return matches * matches < JOBS_PER_PAGE * jobs


@dataclass
class JobListing:
    """A project's jobs as the list shows them: the filtered, sorted rows and the filter's counts."""

    q: str
    status: str
    sort: str
    status_counts: dict[str, int]
    rows: Any  # a values() queryset of LIST_FIELDS and objective_metric
    count: int  # the rows' number: from the status counts, or (a name search) counted on an index
    capped: bool  # a name search's count stopped at its limit: more rows match than ``count``
    ids: Any  # the rows' ids in the same order, without the rows' joins and columns (for an OFFSET)
    by_id: Callable[[list[int]], dict[int, dict[str, Any]]]  # ids -> their rows (for TwoEndedPaginator)

    @property
    def project_total(self) -> int:
        return sum(self.status_counts.values())


def list_jobs(project: Project, q: str | None, status: str | None, sort: str | None,
              count_limit: int | None = None) -> JobListing:
    """The job list's query, shared by the page and the API: a bad parameter falls back to its default.
    With ``count_limit``, a name search counts that many matches at most (``capped`` says it stopped)."""
    q = (q or "").replace("\x00", "").strip()[:64]  # PostgreSQL text holds no NUL
    status = _choice(status, JOB_STATUS_FILTERS, "")
    sort = _choice(sort, JOB_SORTS, JOB_SORT_DEFAULT)

    # The project's counts by status (kept by the database: models.ProjectJobCount) give the filter's
    # counts, tell an empty project from an empty filter, and are the paginator's count whenever no
    # name search applies: a few rows read, however many jobs the project has.
    status_counts = dict(project.job_counts.filter(n__gt=0).values_list("status", "n"))

    jobs = HpoJob.objects.filter(project=project)
    if q:
        jobs = jobs.filter(name__icontains=q)
    if status:
        jobs = jobs.filter(status__in=JOB_STATUS_FILTERS[status])
    if q:
        # A name search's matches counted on the (project, status, name) index alone: no join, no
        # row read (the rows are wide); on PostgreSQL the name's trigram index finds rare matches.
        matches = jobs.order_by().values("pk")
        count = (matches[:count_limit + 1] if count_limit is not None else matches).count()
        capped = count_limit is not None and count > count_limit
        if capped:
            count = count_limit
        statuses = JOB_STATUS_FILTERS[status] if status else status_counts
        if not capped and _few_matches(count, sum(status_counts.get(s, 0) for s in statuses)):
            # Sort just the matches (found on that index) rather than walk the order's index through
            # every job to meet a page of them.
            jobs = HpoJob.objects.filter(pk__in=jobs.order_by().values("pk"))
    else:
        statuses = JOB_STATUS_FILTERS[status] if status else status_counts
        count = sum(status_counts.get(s, 0) for s in statuses)
        capped = False
    jobs = jobs.order_by(*JOB_SORTS[sort])
    ids = jobs.values_list("pk", flat=True)  # only the order's joins: the default order's index serves it alone
    columns = {
        "objective_metric": KT("best_training_job__FinalHyperParameterTuningJobObjectiveMetric__MetricName"),
        **insights.LIST_ANNOTATIONS,
    }
    rows = jobs.annotate(**columns).values(*LIST_FIELDS, *columns)

    def by_id(page_ids: list[int]) -> dict[int, dict[str, Any]]:
        """The rows of a page's ids, read by id alone: with the filters that found the ids beside them,
        SQLite walks a filter's index (every job of the project) to meet them. Of this project only
        (a job moved since its id was read is left out)."""
        found = HpoJob.objects.filter(pk__in=page_ids).annotate(**columns).values(*LIST_FIELDS, *columns, "project_id")
        return {row["id"]: row for row in found if row.pop("project_id") == project.pk}

    return JobListing(q, status, sort, status_counts, rows, count, capped, ids, by_id)


@require_safe
@access.project_view()
def job_list(request: HttpRequest, project: Project) -> HttpResponse:
    listing = list_jobs(project, request.GET.get("q"), request.GET.get("status"), request.GET.get("sort"),
                        count_limit=SEARCH_COUNT_LIMIT)
    q, status, sort, status_counts = listing.q, listing.status, listing.sort, listing.status_counts
    project_total = listing.project_total
    # A capped search shows the first matches of the order: its last page is not the order's end.
    paginator = TwoEndedPaginator(listing.rows, JOBS_PER_PAGE, ids=listing.ids, by_id=listing.by_id,
                                  two_ended=not listing.capped)
    paginator.count = listing.count  # no COUNT(*) over the listing's joined rows
    page = _job_list_page(paginator, listing.sort, request.GET)

    now = timezone.now()
    detail_base = reverse("hpo_jobs:detail", args=[project.slug, "__JOB__"])
    prices = insights.site_prices()
    rows = [{**_list_row(row, detail_base, now), **insights.list_cells(row, prices, now)} for row in page.object_list]
    for number, row in enumerate(rows, start=1):
        row["html"] = _job_list_row_html(row, number)

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
        "count_capped": listing.capped,
        "can_create": access.can_create_jobs(request.user, project),
        # The rows refresh in place while any of them is active, and stop once none is.
        "any_active": any(row["active"] for row in rows),
        "refresh_s": REFRESH_S,
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
        context.update(_charts_context(project, job, sum(child_counts.values())))
    elif tab == "insights":
        context.update(_insights_context(request, project, job, sum(child_counts.values())))
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
    context = _header_context(request, project, job, tab, sum(_child_status_counts(job).values()))
    shown = request.GET.get("shown")
    context["status_changed"] = bool(shown) and shown != job.status
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
    child_total = sum(_child_status_counts(job).values())
    return render(request, "hpo_jobs/parts/charts.html", {"project": project, "job": job,
                                                           **_charts_context(project, job, child_total)})


# ---- stop -----------------------------------------------------------------------------------------
@require_POST
@access.project_view()
def job_stop(request: HttpRequest, project: Project, name: str) -> HttpResponse:
    job = _get_job(project, name)
    if not access.can_stop_job(request.user, job):
        raise PermissionDenied
    if job.status == HpoJob.Status.STOPPING:
        messages.info(request, f"“{job.name}” is already stopping.")
    elif job.is_stoppable and services.request_stop(job, request.user):
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


CSV_FIXED = [
    "training_job_name", "definition_name", "status", "objective_metric", "objective_value", "objective_status",
    "creation_time", "start_time", "end_time", "duration_seconds", "failure_reason", "best_training_job",
]
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_CHUNK_ROWS = 2000  # rows fetched, written and sent at a time


def _csv_cell(value: Any) -> Any:
    """The value, with text that a spreadsheet would run as a formula quoted (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _hyperparameter_names(job: HpoJob) -> list[str]:
    """Every hyperparameter name the job's training jobs carry, listed by the database itself (no
    row reaches Python): a warm-start parent's or an imported job's may be undeclared."""
    table = TrainingJob._meta.db_table
    if connection.vendor == "postgresql":
        sql = (f'SELECT DISTINCT jsonb_object_keys("tuned_hyperparameters") FROM "{table}" '
               f'WHERE "hpo_job_id" = %s AND jsonb_typeof("tuned_hyperparameters") = \'object\'')
    else:
        sql = (f'SELECT DISTINCT j.key FROM "{table}", json_each("{table}"."tuned_hyperparameters") AS j '
               f'WHERE "hpo_job_id" = %s AND json_type("{table}"."tuned_hyperparameters") = \'object\'')
    with connection.cursor() as cursor:
        cursor.execute(sql, [job.pk])
        return sorted(str(name) for (name,) in cursor.fetchall())


def training_jobs_csv_lines(job: HpoJob) -> Iterator[str]:
    """The CSV of every child training job, a chunk of rows at a time (one pass, one query per
    CSV_CHUNK_ROWS rows), with a column per hyperparameter: shared by the page's download and the API."""
    definitions = _definitions(job)
    columns = facts.tuned_names(job.request)
    known = set(columns)
    hp_names = columns + [n for n in _hyperparameter_names(job) if n not in known]
    fields = ("name", "definition_name", "status", "objective_metric_name", "objective_value", "objective_status",
              "creation_time", "start_time", "end_time", "failure_reason", "tuned_hyperparameters")
    rows = job.training_jobs.order_by("creation_time", "id").values_list(*fields)
    objective = _job_objective(job)
    best_name = best_job.the_best_name(job, maximize=objective.maximize,
                                       metric=objective.metric if objective.mixed else None)
    header = CSV_FIXED + [n if n not in CSV_FIXED else f"hyperparameter:{n}" for n in hp_names]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_csv_cell(h) for h in header])
    cell = _csv_cell
    for count, (tj_name, definition, status, metric, value, obj_status, created, started, ended, reason,
                hps) in enumerate(rows.iterator(CSV_CHUNK_ROWS), start=1):
        begun = started or created
        hps = hps or {}
        # Names, statuses and times never start a formula; what a member or an algorithm wrote may.
        writer.writerow((
            tj_name, cell(definition), status, cell(metric), "" if value is None else repr(value), obj_status,
            created.isoformat() if created else "", started.isoformat() if started else "",
            ended.isoformat() if ended else "", (ended - begun).total_seconds() if ended and begun else "",
            cell(reason), "yes" if tj_name == best_name else "",
            *(cell(hps.get(h, "")) for h in hp_names),
        ))
        if count % CSV_CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def training_jobs_csv_response(job: HpoJob) -> StreamingHttpResponse:
    """The CSV download of a job's training jobs, streamed."""
    response = StreamingHttpResponse(training_jobs_csv_lines(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{job.name}-training-jobs.csv")
    return response


@require_safe
@access.project_view()
def training_jobs_csv(request: HttpRequest, project: Project, name: str) -> StreamingHttpResponse:
    """Every child training job, one row each, with a column per hyperparameter."""
    return training_jobs_csv_response(_get_job(project, name))


# ---- a training job -------------------------------------------------------------------------------
def _read_log(backend: Backend, job: HpoJob, training_job: TrainingJob) -> tuple[str, str]:
    """The training job's log and an error message (one of them empty). The log lives in the
    engine (a file here, CloudWatch on SageMaker), nowhere else."""
    try:
        return backend.get_training_job_log(training_job.name), ""
    except BackendError as exc:
        return "", f"The log could not be read from {backend.capabilities.display_name}: {exc}"


def _read_metrics(
    backend: Backend, job: HpoJob, training_job: TrainingJob, regexes: list[dict[str, str]]
) -> tuple[dict[str, list[float]] | None, str]:
    """The training job's metric series (None while its engine has them only at the end) and an
    error message. The page never parses a log: the engine read it once, and the database keeps it."""
    try:
        return services.training_job_metrics(backend, training_job, regexes), ""
    except BackendError as exc:
        return {}, f"The metrics could not be read from {backend.capabilities.display_name}: {exc}"
    except ValueError as exc:
        return {}, f"The metric definitions could not be applied: {exc}"


@dataclass
class TrainingJobReading:
    """A training job's log (read from its engine) and the metrics read from it."""

    definition: dict[str, Any] | None
    objective: Objective
    metric_name: str
    log: str
    log_error: str
    series: dict[str, list[float]]
    metric_error: str
    final_metrics: list[dict[str, Any]]  # [{name, value, objective}], the objective first
    metrics_at_end: bool = False  # the engine gives the series only once the training job has ended


def read_training_job(job: HpoJob, training_job: TrainingJob) -> TrainingJobReading:
    """The log and final metrics of one training job, shared by its page and the API."""
    definition = _definition_for(_definitions(job), training_job.definition_name)
    objective = _job_objective(job)
    metric_name = training_job.objective_metric_name or (definition or {}).get("objective_metric") or objective.metric
    backend = get_backend(job.backend)
    log, log_error = _read_log(backend, job, training_job)
    series, metric_error = _read_metrics(backend, job, training_job, (definition or {}).get("metric_regexes") or [])
    metrics_at_end = series is None
    series = series or {}
    final_metrics = [{"name": k, "value": v[-1], "objective": k == metric_name} for k, v in series.items() if v]
    final_metrics.sort(key=lambda m: (not m["objective"], m["name"]))
    return TrainingJobReading(definition, objective, metric_name, log, log_error, series, metric_error, final_metrics,
                              metrics_at_end)


@require_safe
@access.project_view()
def training_job_detail(request: HttpRequest, project: Project, name: str, training_job_name: str) -> HttpResponse:
    job = _get_job(project, name)
    training_job = _get_training_job(job, training_job_name)
    reading = read_training_job(job, training_job)
    definition, objective, metric_name = reading.definition, reading.objective, reading.metric_name
    log, log_error, series, metric_error = reading.log, reading.log_error, reading.series, reading.metric_error
    final_metrics, metrics_at_end = reading.final_metrics, reading.metrics_at_end
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
    best_name = best_job.the_best_name(job, maximize=objective.maximize,
                                       metric=objective.metric if objective.mixed else None)
    now = timezone.now()
    return render(request, "hpo_jobs/training_job_detail.html", {
        "project": project,
        "job": job,
        "engine": get_backend(job.backend),
        "tj": training_job,
        "definition": definition,
        "metric_name": metric_name,
        "objective": objective,
        "is_best": best_name == training_job.name,
        # Each reported objective value is one epoch (or step) of an iterative algorithm.
        "ending": endings.training_job_ending(job, training_job, epochs=len(series.get(metric_name) or []) or None),
        "duration": _elapsed(training_job.start_time or training_job.creation_time, training_job.end_time, now),
        "tuned": tuned_items,
        "static": _static_items(definition),
        "final_metrics": final_metrics,
        "curves": curves,
        "metric_error": metric_error,
        "metrics_at_end": metrics_at_end,
        # CloudWatch writes a tab as "#011" (syslog's escape); the regexes read it so, people read a tab.
        "log": log[-LOG_SHOW_CHARS:].replace("#011", "\t"),
        "log_truncated": len(log) > LOG_SHOW_CHARS,
        "log_error": log_error,
        "active": training_job.status in facts.TRAINING_JOB_ACTIVE_STATUSES,
        "refresh_s": 10,
    })


# ---- shared with the API ----------------------------------------------------------------------------
def job_overview(project: Project, job: HpoJob) -> dict[str, Any]:
    """The overview tab's data (counters, progress, objective, best and overall best training job),
    shared by the job's page and the API."""
    return _overview_context(project, job, _child_status_counts(job))


def get_job(project: Project, name: str) -> HpoJob:
    """The project's job called ``name`` (case-insensitive); Http404 when there is none."""
    return _get_job(project, name)


def get_training_job(job: HpoJob, name: str) -> TrainingJob:
    """The job's training job called ``name``; Http404 when there is none."""
    return _get_training_job(job, name)
