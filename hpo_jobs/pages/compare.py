"""Compare two to five jobs of a project: their settings side by side with the differences marked,
their best objective values, and their best-so-far histories on one chart against the training
jobs run.

The settings are the one presenter's (``presenters.present_request``) output, flattened to one row
per field, so that what the configuration tab shows is what is compared. Jobs that tune for
different objective metrics are compared only by the metrics they all share, and the page says so.
Any job of the list that the person may not see (another project's, or a project they are not in)
makes the whole page 404, as each job's own page would.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from projects import access
from projects.models import Project

from hpo_jobs.models import HpoJob

from . import insight_charts, presenters
from .views import get_job

COMPARE_MIN, COMPARE_MAX = 2, 5
# Fields of the presented request that say nothing a reader compares (or repeat another field).
SKIPPED = ("name", "ranges_raw", "metric_regexes", "tuned_names", "index")


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """A presented request as {"field path": "value"}: lists of named items are keyed by their
    name (a range by its hyperparameter, a definition by its title), other lists by position."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SKIPPED:
                continue
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            for i, item in enumerate(value, start=1):
                label = item.get("title") or item.get("name") or item.get("key") or str(i)
                out.update(flatten(item, f"{prefix}[{label}]"))
        else:
            out[prefix] = ", ".join(str(v) for v in value)
    else:
        out[prefix] = "" if value is None else str(value)
    return out


def setting_rows(jobs: list[HpoJob]) -> list[dict[str, Any]]:
    """One row per settings field any job has: each job's value and whether they differ."""
    flat = [flatten(presenters.present_request(job.request)) for job in jobs]
    keys: dict[str, None] = {}
    for f in flat:
        keys.update(dict.fromkeys(f))
    rows = []
    for key in keys:
        values = [f.get(key, "") for f in flat]
        rows.append({"field": key, "values": values, "differs": len(set(values)) > 1})
    return rows


def objectives(job: HpoJob) -> dict[str, str]:
    """The job's objective metrics (each definition's, else the job's) and their directions."""
    presented = presenters.present_request(job.request)
    metrics = {d["objective_metric"]: d["objective_type"] or "Maximize"
               for d in presented["definitions"] if d["objective_metric"]}
    shared = presented["settings"]["objective"]
    if not metrics and shared["metric"]:
        metrics[shared["metric"]] = shared["type"] or "Maximize"
    return metrics


def _history(job: HpoJob, metric: str, maximize: bool) -> list[float]:
    """The best value of ``metric`` after each evaluated training job, in the order they ended."""
    values = job.training_jobs.filter(objective_value__isnull=False).filter(
        objective_metric_name__in=[metric, ""]).order_by(
        F("end_time").asc(nulls_last=True), "creation_time", "id").values_list("objective_value", flat=True)
    best: float | None = None
    out = []
    for value in values.iterator(2000):
        if best is None or (value > best if maximize else value < best):
            best = value
        out.append(best)
    return out


def _best(job: HpoJob, metric: str, maximize: bool) -> float | None:
    rows = job.training_jobs.filter(objective_value__isnull=False, objective_metric_name__in=[metric, ""])
    row = rows.order_by(F("objective_value").desc() if maximize else F("objective_value").asc()).values_list(
        "objective_value", flat=True).first()
    return row


@require_safe
@access.project_view()
def compare_jobs(request: HttpRequest, project: Project) -> HttpResponse:
    names = list(dict.fromkeys(n for n in request.GET.getlist("job") if n))
    # Every named job must be one the person sees: one that is not makes the page 404.
    jobs = [get_job(project, name) for name in names[:20]]
    context: dict[str, Any] = {"project": project, "jobs": jobs, "compare_min": COMPARE_MIN,
                               "compare_max": COMPARE_MAX}
    if not jobs:
        return render(request, "hpo_jobs/compare.html", context)
    if not COMPARE_MIN <= len(jobs) <= COMPARE_MAX:
        context["problem"] = f"Choose {COMPARE_MIN} to {COMPARE_MAX} jobs to compare (you chose {len(names)})."
        return render(request, "hpo_jobs/compare.html", context, status=400)

    per_job = [objectives(job) for job in jobs]
    shared = [m for m in per_job[0] if all(m in o for o in per_job[1:])]
    # A metric counts as shared only when every job optimises it the same way.
    shared = [m for m in shared if len({o[m] for o in per_job}) == 1]
    differ = any(set(o) != set(per_job[0]) for o in per_job[1:]) or len(shared) < len(per_job[0])
    metrics = []
    for metric in shared:
        maximize = per_job[0][metric] != "Minimize"
        bests = [_best(job, metric, maximize) for job in jobs]
        series = [insight_charts.Series(job.name, _history(job, metric, maximize)) for job in jobs]
        present = [b for b in bests if b is not None]
        winner = (max(present) if maximize else min(present)) if present else None
        metrics.append({
            "metric": metric, "maximize": maximize,
            "bests": [{"job": job.name, "value": b, "winner": b is not None and b == winner}
                      for job, b in zip(jobs, bests)],
            "svg": insight_charts.compare_history(series, metric_name=metric, maximize=maximize,
                                                  chart_id=f"compare-{len(metrics) + 1}"),
        })
    rows = setting_rows(jobs)
    context.update({
        "rows": rows,
        "differing": sum(r["differs"] for r in rows),
        "metrics": metrics,
        "objectives_differ": differ,
        "job_objectives": [{"job": job.name, "metrics": o} for job, o in zip(jobs, per_job)],
    })
    return render(request, "hpo_jobs/compare.html", context)
