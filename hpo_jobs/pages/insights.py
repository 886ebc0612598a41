"""Answers drawn from a job's mirrored child training jobs: which hyperparameters matter, where the
best jobs' values lie (a narrowed request to clone), how long the job has left and what it used.

- Importance comes from Optuna's own evaluators, fANOVA and PED-ANOVA, run over an in-memory Optuna
  study rebuilt from the evaluated children (``optuna.trial.create_trial``), one study per training
  job definition. A Logarithmic range is a log distribution, as the evaluators expect; Linear,
  Auto and ReverseLogarithmic ranges are linear ones (Optuna has no reverse-log scale); a
  categorical range is a CategoricalDistribution of its values.
- The narrowed ranges are those the top decile of evaluated jobs fall in, within the declared ones.
- Both cost a random forest and a sort over up to 10,000 rows, so neither is computed on a page
  view: ``compute`` runs in the ``refresh_insights`` task and ``services.refresh_insights`` stores
  its result on the job (``HpoJob.insights``, with the evaluated count it was computed from).
- Time left, instance-hours and cost are a few aggregates of the children, computed when shown;
  prices come from the site settings (staff set them), never from the code. The job list reads
  the durations and usage stored with the insights instead (``list_cells``): no query per row.
- ``tab_charts`` is the insights tab's data: the stored figures, and the slice, contour and
  timeline charts drawn from the children (``insight_charts``; past MARKS_MAX of them an evenly
  spaced sample the database picks); ``tab_context`` adds the viewer's and the moment's parts.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum, Window
from django.db.models.functions import Coalesce, Now, RowNumber
from django.db.models.fields.json import KT
from django.utils import timezone

from hpo_jobs.models import FLOAT_MAX, HpoJob, SiteSettings
from hpo_jobs.sagemaker import request as sagemaker_request

from . import presenters

log = logging.getLogger(__name__)

# Below this many evaluated training jobs (per definition) importance says it has not enough to go on.
MIN_EVALUATED = 10
# The narrowed ranges come from the best tenth of the evaluated jobs, and from at least this many.
TOP_FRACTION = 0.1
TOP_MIN = 3
# fANOVA's random forest, capped so that 10,000 trials take seconds, seeded so that it repeats.
FANOVA_TREES = 32
FANOVA_DEPTH = 8
FANOVA_SEED = 0
METHODS = {
    "fanova": "fANOVA (Optuna's FanovaImportanceEvaluator: a random forest's variance decomposition)",
    "ped_anova": "PED-ANOVA (Optuna's PedAnovaImportanceEvaluator: how the top 10% differ from all)",
}
# Children whose time counts towards instance-hours: they ran (a failure before start has no start time).
RAN_STATUSES = ("Completed", "Failed", "Stopped", "InProgress", "Stopping")


# ---- the study ------------------------------------------------------------------------------------
def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def distributions(ranges: dict[str, Any]) -> dict[str, Any]:
    """Optuna distributions for a definition's declared ranges (see the module's docstring for scales)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    result: dict[str, Any] = {}
    for r in ranges.get("IntegerParameterRanges") or []:
        lo, hi = _number(r.get("MinValue")), _number(r.get("MaxValue"))
        if lo is None or hi is None or hi < lo:
            continue
        log_scale = r.get("ScalingType") == "Logarithmic" and lo >= 1
        result[r["Name"]] = IntDistribution(int(lo), int(hi), log=log_scale)
    for r in ranges.get("ContinuousParameterRanges") or []:
        lo, hi = _number(r.get("MinValue")), _number(r.get("MaxValue"))
        if lo is None or hi is None or hi < lo:
            continue
        result[r["Name"]] = FloatDistribution(lo, hi, log=r.get("ScalingType") == "Logarithmic" and lo > 0)
    for r in ranges.get("CategoricalParameterRanges") or []:
        values = tuple(dict.fromkeys(str(v) for v in r.get("Values") or []))
        if values:
            result[r["Name"]] = CategoricalDistribution(values)
    return result


def _params(hps: dict[str, Any], dists: dict[str, Any]) -> dict[str, Any] | None:
    """A child's tuned values as Optuna parameters; None when one is missing or outside its range."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    params: dict[str, Any] = {}
    for name, dist in dists.items():
        raw = hps.get(name)
        if raw is None:
            return None
        if isinstance(dist, CategoricalDistribution):
            value: Any = str(raw)
            if value not in dist.choices:
                return None
        else:
            number = _number(raw)
            if number is None or not dist.low <= number <= dist.high:
                return None
            value = int(round(number)) if isinstance(dist, IntDistribution) else number
        params[name] = value
    return params


def build_study(rows: list[tuple[dict[str, Any], float]], dists: dict[str, Any], *, maximize: bool):
    """An in-memory Optuna study holding one completed trial per (tuned values, objective value)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    trials = []
    for hps, value in rows:
        params = _params(hps, dists)
        if params is not None:
            trials.append(optuna.trial.create_trial(params=params, distributions=dists, value=value))
    study.add_trials(trials)
    return study


def importance(study, dists: dict[str, Any]) -> dict[str, Any]:
    """Each method's importances, most important first, as [[name, share], ...] (or its error)."""
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator, get_param_importances

    # Importance of a hyperparameter that takes one value only is meaningless; the evaluators refuse it.
    params = [name for name, dist in dists.items() if not dist.single()]
    result: dict[str, Any] = {}
    if not params:
        return {key: {"error": "No tuned hyperparameter takes more than one value."} for key in METHODS}
    evaluators = {
        "fanova": FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=FANOVA_SEED),
        "ped_anova": PedAnovaImportanceEvaluator(),
    }
    for key, evaluator in evaluators.items():
        try:
            values = get_param_importances(study, evaluator=evaluator, params=params, normalize=True)
        except Exception as exc:  # an evaluator's refusal is shown, not a failed task
            log.info("Importance by %s failed: %s", key, exc)
            result[key] = {"error": str(exc) or exc.__class__.__name__}
            continue
        ranked = sorted(values.items(), key=lambda item: -item[1])
        result[key] = {"ranked": [[name, float(share)] for name, share in ranked]}
    return result


# ---- narrowed ranges ------------------------------------------------------------------------------
def _text(value: float, integer: bool) -> str:
    return str(int(value)) if integer else f"{value:.6g}"


def narrowed_ranges(ranges: dict[str, Any], top: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The declared ranges narrowed to what the ``top`` jobs' tuned values span (within the declared
    bounds), and a row per tuned hyperparameter saying from what to what."""
    narrowed = copy.deepcopy(ranges)
    rows: list[dict[str, Any]] = []
    for kind, integer in (("IntegerParameterRanges", True), ("ContinuousParameterRanges", False)):
        for r in narrowed.get(kind) or []:
            lo, hi = _number(r.get("MinValue")), _number(r.get("MaxValue"))
            values = [v for v in (_number(hps.get(r["Name"])) for hps in top) if v is not None]
            if lo is None or hi is None or not values:
                continue
            new_lo, new_hi = max(lo, min(values)), min(hi, max(values))
            if new_hi <= new_lo:
                # The winners agree on one value: keep a little room around it (a range needs two ends).
                pad = 1 if integer else (hi - lo) * 0.05
                new_lo, new_hi = max(lo, new_lo - pad), min(hi, new_hi + pad)
            lo_text, hi_text = _text(new_lo, integer), _text(new_hi, integer)
            # Rounding to 6 digits must not step outside the declared range.
            if _number(lo_text) < lo:
                lo_text = str(r["MinValue"])
            if _number(hi_text) > hi:
                hi_text = str(r["MaxValue"])
            rows.append({"name": r["Name"], "kind": "Integer" if integer else "Continuous",
                         "scaling": str(r.get("ScalingType") or "Auto"),
                         "declared": f"{r['MinValue']} – {r['MaxValue']}", "narrowed": f"{lo_text} – {hi_text}"})
            r["MinValue"], r["MaxValue"] = lo_text, hi_text
    for r in narrowed.get("CategoricalParameterRanges") or []:
        used = {str(hps.get(r["Name"])) for hps in top if hps.get(r["Name"]) is not None}
        kept = [v for v in r.get("Values") or [] if str(v) in used]
        if kept:
            rows.append({"name": r["Name"], "kind": "Categorical", "scaling": "",
                         "declared": ", ".join(map(str, r.get("Values") or [])), "narrowed": ", ".join(kept)})
            r["Values"] = kept
    return narrowed, rows


# ---- the stored insights --------------------------------------------------------------------------
def _objective(definition: dict[str, Any], job: HpoJob) -> tuple[str, bool]:
    config = job.request.get("HyperParameterTuningJobConfig") or {}
    shared = config.get("HyperParameterTuningJobObjective") or {}
    metric = definition.get("objective_metric") or str(shared.get("MetricName", ""))
    kind = definition.get("objective_type") or str(shared.get("Type", "Maximize"))
    return metric, kind != "Minimize"


def evaluated(job: HpoJob):
    """The job's children that have an objective value (the rows importance is computed from)."""
    return job.training_jobs.filter(objective_value__isnull=False)


def compute(job: HpoJob) -> dict[str, Any]:
    """Importance (both methods) and narrowed ranges, per definition, from the evaluated children."""
    definitions = presenters.present_definitions(job.request)
    rows = list(evaluated(job).order_by().values_list("definition_name", "objective_metric_name", "objective_value",
                                                      "tuned_hyperparameters"))
    result: dict[str, Any] = {"evaluated": len(rows), "computed_at": timezone.now().isoformat(),
                              "min_evaluated": MIN_EVALUATED, "definitions": [], "summary": summary(job)}
    for definition in definitions:
        metric, maximize = _objective(definition, job)
        mine = [
            (hps or {}, value) for name, row_metric, value, hps in rows
            if (len(definitions) == 1 or name == definition["name"])
            and (not row_metric or not metric or row_metric == metric) and math.isfinite(value)
        ]
        entry: dict[str, Any] = {"name": definition["name"], "title": definition["title"], "metric": metric,
                                 "maximize": maximize, "evaluated": len(mine), "importance": None, "narrowed": None}
        result["definitions"].append(entry)
        if len(mine) < MIN_EVALUATED:
            continue
        dists = distributions(definition["ranges_raw"])
        if dists:
            study = build_study(mine, dists, maximize=maximize)
            entry["trials"] = len(study.trials)
            entry["importance"] = importance(study, dists) if len(study.trials) >= MIN_EVALUATED else None
        ranked = sorted(mine, key=lambda item: -item[1] if maximize else item[1])
        top = [hps for hps, _v in ranked[:max(TOP_MIN, math.ceil(len(ranked) * TOP_FRACTION))]]
        ranges, table = narrowed_ranges(definition["ranges_raw"], top)
        entry["narrowed"] = {"top": len(top), "ranges": ranges, "rows": table}
    return result


def narrowed_request(job: HpoJob) -> dict[str, Any] | None:
    """The job's request with each definition's ranges narrowed as its stored insights suggest;
    None when no definition has a suggestion yet."""
    stored = {d["name"]: d for d in (job.insights or {}).get("definitions") or [] if d.get("narrowed")}
    if not stored:
        return None
    defs = sagemaker_request.definitions(job.request)
    narrowed = []
    for definition in defs:
        found = stored.get(definition.name) or (next(iter(stored.values())) if len(defs) == 1 else None)
        plural = definition.as_plural()
        if found:
            plural["HyperParameterRanges"] = found["narrowed"]["ranges"]
        narrowed.append(plural)
    request = sagemaker_request.with_definitions(job.request, narrowed)
    return request


def view(job: HpoJob) -> dict[str, Any]:
    """The stored insights as the page shows them, with the threshold message where they are missing."""
    stored = job.insights or {}
    definitions = []
    for d in stored.get("definitions") or []:
        methods = []
        for key, label in METHODS.items():
            found = (d.get("importance") or {}).get(key)
            if found:
                methods.append({"key": key, "label": label, "ranked": found.get("ranked") or [],
                                "error": found.get("error", "")})
        definitions.append({**d, "methods": methods,
                            "not_enough": d["evaluated"] < MIN_EVALUATED})
    return {
        "computed": bool(stored),
        "evaluated": stored.get("evaluated", 0),
        "computed_at": stored.get("computed_at"),
        "min_evaluated": MIN_EVALUATED,
        "definitions": definitions,
        "can_narrow": any(d.get("narrowed") for d in definitions),
    }


def most_important(job: HpoJob, definition_name: str) -> list[str]:
    """The definition's tuned hyperparameters, most important first (fANOVA, else PED-ANOVA), as stored."""
    for d in (job.insights or {}).get("definitions") or []:
        if d["name"] == definition_name or len((job.insights or {}).get("definitions") or []) == 1:
            for key in METHODS:
                ranked = ((d.get("importance") or {}).get(key) or {}).get("ranked")
                if ranked:
                    return [name for name, _share in ranked]
    return []


# ---- time left, instance-hours and cost -----------------------------------------------------------
@dataclass
class TimeLeft:
    """When a running job should end: the likely time and a range, and what the estimate rests on."""

    seconds: float | None  # likely seconds left
    low_s: float | None
    high_s: float | None
    basis: str  # what the estimate rests on, for the page
    remaining_jobs: int | None = None
    waves: int | None = None
    median_s: float | None = None
    spread_s: float | None = None  # the interquartile range of the finished children's durations
    runtime_left_s: float | None = None  # what MaxRuntimeInSeconds leaves, by the engine's consumed runtime
    capped_by_runtime: bool = False

    @property
    def ends_at(self) -> datetime | None:
        return timezone.now() + timedelta(seconds=self.seconds) if self.seconds is not None else None


def _limits(job: HpoJob) -> dict[str, Any]:
    return (job.request.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits") or {}


def consumed_runtime_s(job: HpoJob, now: datetime | None = None) -> float | None:
    """The tuning job's runtime as its engine counts it (ConsumedResources); from its start when the
    engine has not said."""
    consumed = ((job.last_describe or {}).get("ConsumedResources") or {}).get("RuntimeInSeconds")
    if isinstance(consumed, (int, float)):
        return float(consumed)
    start = job.started_at or job.launched_at
    if start is None:
        return None
    return max(0.0, ((job.ended_at or now or timezone.now()) - start).total_seconds())


def duration_stats(job: HpoJob) -> dict[str, float] | None:
    """How long the job's finished children took: their number, median and quartiles (seconds)."""
    finished = job.training_jobs.filter(status__in=("Completed", "Failed", "Stopped"), end_time__isnull=False)
    durations = sorted(
        _seconds_of(value) for value in
        finished.annotate(run=_run_time()).order_by().values_list("run", flat=True).iterator(2000)
        if value is not None
    )
    if not durations:
        return None
    if len(durations) >= 4:
        q1, _q2, q3 = statistics.quantiles(durations, n=4)
    else:
        q1, q3 = durations[0], durations[-1]
    return {"n": len(durations), "median": statistics.median(durations), "q1": q1, "q3": q3}


def estimate_time_left(
    stats: dict[str, float] | None, *, max_jobs: int | None, parallel: int, started: int, running: int,
    runtime_left: float | None,
) -> TimeLeft:
    """The time left: the running children are, on average, half done; the ones not started yet run
    ``parallel`` at a time, each taking the median (the quartiles give the range); never past what
    MaxRuntimeInSeconds leaves."""
    parallel = max(1, parallel)
    if not stats or not max_jobs:
        basis = "No training job has finished yet." if not stats else "The job has no training job budget."
        if runtime_left is not None:
            return TimeLeft(runtime_left, 0.0, runtime_left, basis + " At most what MaxRuntimeInSeconds leaves.",
                            runtime_left_s=runtime_left, capped_by_runtime=True)
        return TimeLeft(None, None, None, basis)
    median, q1, q3 = stats["median"], stats["q1"], stats["q3"]
    not_started = max(0, int(max_jobs) - started)
    waves = math.ceil(not_started / parallel) if not_started else 0

    def estimate(duration: float) -> float:
        return (duration / 2 if running else 0.0) + waves * duration

    likely, low, high = estimate(median), estimate(q1), estimate(q3)
    capped = runtime_left is not None and high > runtime_left
    if capped:
        likely, low, high = min(likely, runtime_left), min(low, runtime_left), runtime_left
    n = int(stats["n"])
    basis = (f"{not_started} training job{'s' if not_started != 1 else ''} not started and {running} running, "
             f"{parallel} at a time; finished ones took {_short(median)} (median; {_short(q1)} to {_short(q3)} "
             f"for the middle half of {n}).")
    if capped:
        basis += " MaxRuntimeInSeconds ends it sooner."
    return TimeLeft(likely, low, high, basis, not_started + running, waves, median, q3 - q1, runtime_left, capped)


def time_left(job: HpoJob, now: datetime | None = None) -> TimeLeft | None:
    """An estimate of the time a running job has left, from its finished children's durations, its
    parallelism and its budget (MaxNumberOfTrainingJobs, MaxRuntimeInSeconds against the engine's
    consumed runtime); None when the job is not running."""
    if job.status not in (HpoJob.Status.IN_PROGRESS, HpoJob.Status.PENDING):
        return None
    limits = _limits(job)
    max_runtime = _number(limits.get("MaxRuntimeInSeconds"))
    consumed = consumed_runtime_s(job, now)
    stored = stored_summary(job)
    if stored is not None:
        counters = job.training_job_status_counters or {}
        counts = {"total": _counted(counters), "running": int(_number(counters.get("InProgress")) or 0)}
        durations = stored.get("durations")
    else:
        counts = job.training_jobs.aggregate(
            total=Count("id"), running=Count("id", filter=Q(status__in=("InProgress", "Stopping"))))
        durations = duration_stats(job)
    return estimate_time_left(
        durations, max_jobs=limits.get("MaxNumberOfTrainingJobs") or job.max_training_jobs,
        parallel=int(limits.get("MaxParallelTrainingJobs") or 1), started=counts["total"], running=counts["running"],
        runtime_left=max(0.0, max_runtime - consumed) if max_runtime and consumed is not None else None,
    )


def _short(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Usage:
    """What a job's training jobs used, per instance type and count, and its cost where staff priced it."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # type, count, jobs, seconds, hours, price, cost
    total_hours: float = 0.0
    total_cost: float | None = None  # None when some instance type has no price
    priced: bool = False  # at least one row has a price


def _resources(definition: dict[str, Any]) -> tuple[str, int]:
    if definition.get("instance_type"):
        return definition["instance_type"], int(definition.get("instance_count") or 1)
    configs = definition.get("instance_configs") or []
    # Flexible instances: which one SageMaker chose is not in the listing; the first is the preferred one.
    if configs:
        return str(configs[0].get("type") or "?"), int(configs[0].get("count") or 1)
    return "?", 1


def _run_time() -> ExpressionWrapper:
    """A child's time on its instances: start (or creation) to end, a running one's to now."""
    return ExpressionWrapper(Coalesce(F("end_time"), Now()) - Coalesce(F("start_time"), F("creation_time")),
                             output_field=DurationField())


def usage_rows(job: HpoJob) -> list[dict[str, Any]]:
    """Per instance type and count: the training jobs that ran on it and their instance-seconds
    (each child's run time times the instance count); one grouped query."""
    definitions = presenters.present_definitions(job.request)
    per_definition = (job.training_jobs.filter(status__in=RAN_STATUSES).order_by().values("definition_name")
                      .annotate(jobs=Count("id"), time=Sum(_run_time())))
    grouped: dict[tuple[str, int], dict[str, Any]] = {}
    for row in per_definition:
        definition = next((d for d in definitions if d["name"] == row["definition_name"]), None) or (
            definitions[0] if definitions else {})
        instance_type, count = _resources(definition)
        entry = grouped.setdefault((instance_type, count), {"type": instance_type, "count": count, "jobs": 0,
                                                             "seconds": 0.0})
        entry["jobs"] += row["jobs"]
        entry["seconds"] += max(0.0, _seconds_of(row["time"])) * count
    return sorted(grouped.values(), key=lambda r: (r["type"], r["count"]))


def _seconds_of(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1e6  # a backend that sums durations as microseconds


def priced(rows: list[dict[str, Any]], prices: dict[str, Any]) -> Usage:
    """Usage rows with their instance-hours and, where the instance type has a price, their cost."""
    result = Usage()
    complete = True
    for raw in rows:
        row = dict(raw, hours=raw["seconds"] / 3600)
        price = _number(prices.get(row["type"]))
        row["price"] = price
        row["cost"] = row["hours"] * price if price is not None else None
        complete &= price is not None
        result.priced |= price is not None
        result.total_hours += row["hours"]
        result.rows.append(row)
    if result.rows and complete:
        result.total_cost = sum(r["cost"] for r in result.rows)
    return result


def usage(job: HpoJob, prices: dict[str, Any] | None = None) -> Usage:
    """The instance-hours a job's training jobs used, per instance type and count, and their cost at
    the site settings' prices (USD per instance-hour; no price, no cost)."""
    if prices is None:
        prices = site_prices()
    stored = stored_summary(job)
    return priced(stored.get("usage") or [] if stored is not None else usage_rows(job), prices)


# Past this many training jobs, the overview and the API read a job's durations and usage from the
# summary stored with its insights (the task refreshes it when evaluated training jobs change, the
# sweep when it lags) instead of summing every child on each view; below it they are summed live.
LIVE_SUMMARY_MAX = 2000


def _counted(counters: dict[str, Any]) -> int:
    return sum(int(v) for v in counters.values() if isinstance(v, (int, float)) and not isinstance(v, bool))


def stored_summary(job: HpoJob) -> dict[str, Any] | None:
    """The durations and usage stored with the job's insights, when the job is past
    LIVE_SUMMARY_MAX training jobs (by its mirrored counters) and they have been computed; else None."""
    stored = (job.insights or {}).get("summary")
    if not isinstance(stored, dict) or _counted(job.training_job_status_counters or {}) <= LIVE_SUMMARY_MAX:
        return None
    return stored


def site_prices() -> dict[str, Any]:
    """The prices staff set on /settings/ (one query, and no row created by reading them)."""
    return SiteSettings.objects.filter(pk=1).values_list("instance_prices", flat=True).first() or {}


def summary(job: HpoJob) -> dict[str, Any]:
    """What the job list shows without reading the children: durations and usage, stored with the insights."""
    return {"durations": duration_stats(job), "usage": usage_rows(job)}


# What ``list_cells`` reads of each row, annotated on the job list's query (no query per row).
LIST_ANNOTATIONS = {
    "insight_summary": F("insights__summary"),
    "parallel_limit": KT("request__HyperParameterTuningJobConfig__ResourceLimits__MaxParallelTrainingJobs"),
    "runtime_limit": KT("request__HyperParameterTuningJobConfig__ResourceLimits__MaxRuntimeInSeconds"),
    "consumed_runtime": KT("last_describe__ConsumedResources__RuntimeInSeconds"),
}


def list_cells(row: dict[str, Any], prices: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The job list's time left and cost for one row of ``views.list_jobs``, from the summary stored
    with the job's insights (as of their last refresh) and the row's own counters."""
    stored = row.get("insight_summary") or {}
    if isinstance(stored, str):  # a JSON key read as text by some backends
        import json

        stored = json.loads(stored)
    used = priced(stored.get("usage") or [], prices)
    cells: dict[str, Any] = {"hours": used.total_hours if used.rows else None, "cost": used.total_cost,
                             "time_left": None}
    if row["status"] in (HpoJob.Status.IN_PROGRESS, HpoJob.Status.PENDING):
        counters = row.get("training_job_status_counters") or {}
        started = sum(int(v or 0) for v in counters.values() if isinstance(v, (int, float)))
        max_runtime = _number(row.get("runtime_limit"))
        consumed = _number(row.get("consumed_runtime"))
        if consumed is None and row.get("started_at"):
            consumed = (now - row["started_at"]).total_seconds()
        estimate = estimate_time_left(
            stored.get("durations"), max_jobs=row.get("max_training_jobs"),
            parallel=int(_number(row.get("parallel_limit")) or 1), started=started,
            running=int(counters.get("InProgress") or 0),
            runtime_left=max(0.0, max_runtime - consumed) if max_runtime and consumed is not None else None,
        )
        if estimate.seconds is not None:
            cells["time_left"] = timedelta(seconds=estimate.seconds)
    return cells


# ---- the insights tab -----------------------------------------------------------------------------
CHART_TABLE_MAX = 200  # the data table beside the charts lists each training job up to this many


def _evaluated(job: HpoJob, definition_name: str | None, metric: str) -> QuerySet:
    """The job's training jobs (of one definition, when named) with a finite objective value for
    ``metric``: those a definition's slice plots and contour draw."""
    rows = job.training_jobs.filter(objective_value__gte=-FLOAT_MAX, objective_value__lte=FLOAT_MAX)
    if definition_name is not None:
        rows = rows.filter(definition_name=definition_name)
    if metric:
        rows = rows.filter(Q(objective_metric_name="") | Q(objective_metric_name=metric))
    return rows


def _evenly_spaced(rows: QuerySet, count: int, fields: tuple[str, ...]) -> list[tuple]:
    """``rows`` (``count`` of them) in creation order, or past MARKS_MAX that many evenly spaced, as
    insight_charts.sample picks them, picked by the database: it numbers the rows, and keeps the k-th
    when a multiple of ``count`` falls in [k × MARKS_MAX, (k + 1) × MARKS_MAX)."""
    from . import insight_charts

    marks = insight_charts.MARKS_MAX
    ordered = rows.order_by("creation_time", "id")
    if count <= marks:
        return list(ordered.values_list(*fields))
    position = Window(RowNumber(), order_by=[F("creation_time").asc(), F("id").asc()]) - 1
    kept = ordered.alias(k=position).alias(slot=(count - F("k") * marks % count) % count).filter(slot__lt=marks)
    return list(kept.values_list(*fields)[:2 * marks])  # rows added since the count: a few more kept


def tab_context(job: HpoJob, drawn_part: dict[str, Any], *, can_clone: bool) -> dict[str, Any]:
    """The insights tab: ``drawn_part`` (tab_charts), and what is the viewer's or the moment's: whether
    they may clone with narrowed ranges, time left and usage."""
    now = timezone.now()
    return {
        **drawn_part,
        "can_narrow": can_clone and drawn_part["insights"]["can_narrow"],
        "time_left": time_left(job, now),
        "usage": usage(job),
    }


def tab_charts(job: HpoJob, url_of, best_name: str | None, total: int) -> dict[str, Any]:
    """The insights tab's stored importance and narrowed ranges, and the slice plots, contour and
    timeline drawn from the children, ``total`` of them (``url_of(name)`` is a training job's page):
    the same for every viewer, until the job's children or insights change."""
    from . import charts, insight_charts

    now = timezone.now()
    definitions = presenters.present_definitions(job.request)
    fields = ("name", "definition_name", "status", "objective_value", "objective_metric_name", "tuned_hyperparameters",
              "id")
    # Past MARKS_MAX training jobs the charts draw an evenly spaced sample: the database picks it (of
    # every child for the timeline, of each definition's evaluated ones for its charts), so that the tab
    # reads about that many rows, not every child's hyperparameters, however many the job has. The
    # same queries either way.
    drawn = _evenly_spaced(job.training_jobs.all(), total, (*fields, "creation_time", "start_time", "end_time"))
    times = {r[6]: (r[8] or r[7], r[9]) for r in drawn}
    detailed = total <= insight_charts.MARK_DETAIL_MAX

    def link(name: str) -> str | None:
        return url_of(name) if detailed else None

    stored = view(job)
    per_definition = []
    for index, definition in enumerate(definitions, start=1):
        metric, maximize = _objective(definition, job)
        # A sample among the definition's own evaluated jobs (definitions take turns: a sample of every
        # child could miss one of them), and the best one.
        evaluated = _evaluated(job, definition["name"] if len(definitions) > 1 else None, metric)
        evaluated_now = evaluated.count()  # how many the points stand for
        mine = _evenly_spaced(evaluated, evaluated_now, fields)
        if best_name and evaluated_now > insight_charts.MARKS_MAX:  # asked even when sampled: constant queries
            kept = {r[0] for r in mine}
            mine += [r for r in evaluated.filter(name=best_name).values_list(*fields) if r[0] not in kept]
        points = [insight_charts.SlicePoint(r[0], r[5] or {}, r[3], link(r[0])) for r in mine]
        of_total = evaluated_now if evaluated_now > len(points) else None
        axes = charts.axes_for(definition["ranges_raw"], (p.hyperparameters for p in points))
        group_best = best_name if any(p.name == best_name for p in points) else None
        slices = [{"name": axis.name, "svg": insight_charts.slice_plot(
            points, axis, maximize=maximize, metric_name=metric, chart_id=f"slice-{index}-{i}", best_name=group_best,
            of_total=of_total)}
            for i, axis in enumerate(axes, start=1)]
        order = most_important(job, definition["name"]) or [a.name for a in axes]
        by_name = {a.name: a for a in axes}
        pair = [by_name[n] for n in order if n in by_name][:2]
        contour_svg = None
        if len(pair) == 2:
            contour_svg = insight_charts.contour(points, pair[0], pair[1], maximize=maximize, metric_name=metric,
                                                 chart_id=f"contour-{index}", best_name=group_best, of_total=of_total)
        found = next((d for d in stored["definitions"] if d["name"] == definition["name"]), None)
        if found is None and len(definitions) == 1 and stored["definitions"]:
            found = stored["definitions"][0]
        methods = []
        for method in (found or {}).get("methods") or []:
            methods.append({**method, "svg": insight_charts.importance_bars(
                method["ranked"], method=method["label"].split(" (")[0], chart_id=f"importance-{index}-{method['key']}")
                if method["ranked"] else None})
        per_definition.append({
            "title": definition["title"] if len(definitions) > 1 else "",
            "metric": metric,
            "maximize": maximize,
            "evaluated": evaluated_now,
            "stored": found,
            "methods": methods,
            "not_enough": evaluated_now < MIN_EVALUATED,
            # Enough jobs, but the task has not stored their importance yet (it runs after each sync).
            "pending": evaluated_now >= MIN_EVALUATED and not methods,
            "slices": slices,
            "contour": contour_svg,
            "contour_pair": [a.name for a in pair],
            "sampled": evaluated_now > insight_charts.MARKS_MAX,
        })
    bars = [insight_charts.Bar(r[0], r[2], times[r[6]][0], times[r[6]][1], link(r[0]),
                               early_stopped=r[2] == "Stopped" and not job.stop_requested_at)
            for r in drawn if times.get(r[6], (None,))[0] is not None]
    table = [{"name": r[0], "url": link(r[0]), "status": r[2], "value": r[3], "start": times[r[6]][0],
              "end": times[r[6]][1], "hyperparameters": sorted((r[5] or {}).items())}
             for r in drawn[:CHART_TABLE_MAX]] if total <= CHART_TABLE_MAX else []
    return {
        "insights": stored,
        "insight_definitions": per_definition,
        "timeline_svg": insight_charts.timeline(bars, now=now, total=total),
        "timeline_count": total,
        "marks_max": insight_charts.MARKS_MAX,
        "insight_table": table,
        "insight_table_max": CHART_TABLE_MAX,
        "child_total": total,
    }
