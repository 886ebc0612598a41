"""The best training job: one definition, used by every card, chart, table and export.

The best training job is the one the engine names (SageMaker's ``BestTrainingJob``, stored on the
job from its describe answer). Until the engine names one, it is the training job SageMaker would
name: the best final objective value among the jobs whose objective was evaluated (ObjectiveStatus
Succeeded), and on a tie the one that reported it first. SageMaker replaces its best so far only
when a later job does strictly better, so the first job to end with the value keeps it (then the
first created, then the name, so that the choice never depends on a query's order).

Its standing among the other evaluated jobs (rank, ties, the runner-up, the median) is computed
among the jobs ranked on the same objective metric: a job with two definitions whose objective
metrics differ never ranks one metric's values against the other's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from django.db.models import F, QuerySet

from hpo_jobs.models import HpoJob, TrainingJob

# How many tied jobs a card names; the rest are counted.
TIES_NAMED = 5


def evaluated(job: HpoJob) -> QuerySet[TrainingJob]:
    """The job's training jobs whose objective was evaluated, the only ones that can be best."""
    return job.training_jobs.filter(objective_value__isnull=False).exclude(objective_status__in=("Failed", "Pending"))


def _order(maximize: bool) -> tuple:
    value = F("objective_value").desc() if maximize else F("objective_value").asc()
    # The first to report the value keeps it (end time, then creation time, then name).
    return (value, F("end_time").asc(nulls_last=True), F("creation_time").asc(nulls_last=True), "name")


def best_row(job: HpoJob, *, maximize: bool, metric: str | None = None) -> TrainingJob | None:
    """The stored training job the tie rule names best (one query on the (hpo_job, objective_value) index)."""
    rows = evaluated(job)
    if metric:
        rows = rows.filter(objective_metric_name__in=(metric, ""))
    return rows.order_by(*_order(maximize)).first()


def best_name(job: HpoJob) -> str | None:
    """The name of the job's best training job as the engine named it, when it is one of this job's own."""
    summary = job.best_training_job or {}
    owner = str(summary.get("TuningJobName") or job.name)
    if summary.get("TrainingJobName") and owner.lower() == job.name.lower():
        return str(summary["TrainingJobName"])
    return None


def the_best_name(job: HpoJob, *, maximize: bool, metric: str | None = None) -> str | None:
    """The one training job every page marks as best: the engine's, else the stored rows' by the tie rule."""
    named = best_name(job)
    if named or job.best_training_job:
        return named
    row = best_row(job, maximize=maximize, metric=metric)
    return row.name if row is not None else None


@dataclass
class Point:
    """A training job as the tie rule sees it."""

    name: str
    value: float
    ended: Any = None
    created: Any = None


def pick(points: Iterable[Point], *, maximize: bool) -> Point | None:
    """The best of ``points`` by the same rule as ``best_row`` (for charts that hold their rows already)."""
    best: Point | None = None
    for p in points:
        if p.value is None or not math.isfinite(p.value):
            continue
        if best is None or _better(p, best, maximize):
            best = p
    return best


def _better(a: Point, b: Point, maximize: bool) -> bool:
    if a.value != b.value:
        return a.value > b.value if maximize else a.value < b.value

    def key(p: Point) -> tuple:
        return (p.ended is None, p.ended or 0, p.created is None, p.created or 0, p.name)

    try:
        return key(a) < key(b)
    except TypeError:  # mixed datetimes and None beyond the flags: fall back on the name
        return a.name < b.name


@dataclass
class Standing:
    """How the best job stands among the evaluated jobs ranked on its metric."""

    evaluated: int
    rank: int | None  # 1 when it is the best stored job; None when it is not among the stored rows
    ties: list[str] = field(default_factory=list)  # other jobs with exactly the best value (up to TIES_NAMED)
    tie_count: int = 0
    runner_up: float | None = None  # the best value below the best one
    runner_up_name: str = ""
    median: float | None = None
    gap_runner_up: float | None = None  # how much better than the runner-up (always >= 0)
    gap_median: float | None = None
    digits: int = 4  # significant digits that tell the best value, the runner-up and the median apart

    @property
    def more_ties(self) -> int:
        """Tied jobs beyond those named."""
        return self.tie_count - len(self.ties)


def standing(job: HpoJob, name: str, value: float | None, *, maximize: bool, metric: str | None) -> Standing | None:
    """The best job's rank, ties, runner-up and median among the stored evaluated jobs on ``metric``."""
    if value is None or not math.isfinite(value):
        return None
    rows = evaluated(job)
    if metric:
        rows = rows.filter(objective_metric_name__in=(metric, ""))
    count = rows.count()
    if not count:
        return None
    better = rows.filter(objective_value__gt=value) if maximize else rows.filter(objective_value__lt=value)
    better_count = better.count()
    tie_rows = rows.filter(objective_value=value).exclude(name=name)
    tie_count = tie_rows.count()
    ties = list(tie_rows.order_by(*_order(maximize)).values_list("name", flat=True)[:TIES_NAMED])
    worse = rows.filter(objective_value__lt=value) if maximize else rows.filter(objective_value__gt=value)
    runner = worse.order_by(*_order(maximize)).values_list("name", "objective_value").first()
    values = rows.order_by("objective_value").values_list("objective_value", flat=True)
    mid = count // 2
    if count % 2:
        median = values[mid]
    else:
        low, high = list(values[mid - 1:mid + 1])
        median = (low + high) / 2
    sign = 1 if maximize else -1
    own = rows.filter(name=name).exists()
    runner_value = runner[1] if runner else None
    return Standing(
        evaluated=count,
        rank=better_count + 1 if own else None,
        ties=ties,
        tie_count=tie_count,
        runner_up=runner[1] if runner else None,
        runner_up_name=runner[0] if runner else "",
        median=median,
        gap_runner_up=sign * (value - runner[1]) if runner else None,
        gap_median=sign * (value - median),
        digits=digits_to_tell_apart([value, runner_value, median]),
    )


def jobs_since(job: HpoJob, ended: Any, *, metric: str | None = None) -> int | None:
    """How many evaluated training jobs ended after the best one (None while the best has no end time)."""
    if ended is None:
        return None
    rows = evaluated(job).filter(end_time__gt=ended)
    if metric:
        rows = rows.filter(objective_metric_name__in=(metric, ""))
    return rows.count()


def digits_to_tell_apart(values: Sequence[float | None], *, least: int = 4, most: int = 12) -> int:
    """The fewest significant digits (at least ``least``) at which the distinct ``values`` print differently."""
    distinct = sorted({v for v in values if v is not None and math.isfinite(v)})
    for digits in range(least, most + 1):
        printed = {f"{v:.{digits}g}" for v in distinct}
        if len(printed) == len(distinct):
            return digits
    return most
