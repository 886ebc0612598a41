"""Why a tuning job or one of its training jobs ended before running its course, in words.

Read from what the engine reports (statuses, failure reasons, the request's completion criteria,
``TrainingJobEarlyStoppingType`` and strategy, the describe answer's ``TuningJobCompletionDetails``
and ``ConsumedResources``) and from what the portal knows itself: who asked for a stop, and when.
SageMaker's training job summaries carry no stop reason, so a training job's is inferred from those
facts, in this order: a stop the user asked for, the tuning job's completion, then the rule that
stops training jobs early (Hyperband, or the median stopping rule of early stopping Auto).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hpo_jobs.models import HpoJob, TrainingJob
from hpo_jobs.sagemaker import request as facts

# A training job still running when its tuning job completes is stopped then; SageMaker gives it
# up to 120 s between SIGTERM and SIGKILL, so it may end that much after the tuning job's end time.
WIND_DOWN = timedelta(seconds=150)


@dataclass
class Ending:
    """How something ended: a CSS kind ("failed", "stopped", "completed"), a label and the words."""

    kind: str
    label: str
    text: str


def _config(job: HpoJob) -> dict[str, Any]:
    return job.request.get("HyperParameterTuningJobConfig") or {}


def _who(job: HpoJob) -> str:
    user = getattr(job, "stop_requested_by", None)
    return user.get_username() if user is not None else "a project member"


def completion_reason(job: HpoJob) -> str | None:
    """Which of the job's own limits ended it as Completed before it ran every training job, or None."""
    if job.status != HpoJob.Status.COMPLETED:
        return None
    config = _config(job)
    criteria = config.get("TuningJobCompletionCriteria") or {}
    details = job.completion_details or {}
    target = criteria.get("TargetObjectiveMetricValue")
    best = job.best_objective_value
    objective = facts.objective(job.request)
    maximize = objective.get("Type", "Maximize") != "Minimize"
    if target is not None and best is not None and (best >= target if maximize else best <= target):
        return (f"the best {objective.get('MetricName') or 'objective'} reached the target value {target:g} "
                "(completion criterion TargetObjectiveMetricValue)")
    limit = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
    not_improving = details.get("NumberOfTrainingJobsObjectiveNotImproving")
    if limit and not_improving is not None and not_improving >= limit:
        return (f"{not_improving} training jobs in a row did not improve the best objective by 1% "
                f"(completion criterion BestObjectiveNotImproving, limit {limit})")
    if details.get("ConvergenceDetectedTime"):
        return "the search converged: new training jobs no longer improved the objective (completion criterion ConvergenceDetected)"
    runtime_limit = (config.get("ResourceLimits") or {}).get("MaxRuntimeInSeconds")
    consumed = ((job.last_describe or {}).get("ConsumedResources") or {}).get("RuntimeInSeconds")
    if runtime_limit and consumed is not None and consumed >= runtime_limit:
        return f"its maximum runtime of {runtime_limit:,} seconds was used up (ResourceLimits.MaxRuntimeInSeconds)"
    return None


def job_ending(job: HpoJob) -> Ending | None:
    """Why the tuning job ended early (a criterion, a limit, or a user's stop); None when it ran its course."""
    if job.status in (HpoJob.Status.STOPPED, HpoJob.Status.STOPPING) and job.stop_requested_at:
        from hpo_jobs.templatetags.hpo_format import format_time

        verb = "Stopped" if job.status == HpoJob.Status.STOPPED else "Stopping"
        return Ending("stopped", f"{verb}:", f"{_who(job)} asked for the stop at {format_time(job.stop_requested_at)}; "
                      "training jobs still running then were stopped, finished ones kept their results.")
    if job.status == HpoJob.Status.STOPPED:
        return Ending("stopped", "Stopped:", "the job was stopped outside the portal (in the engine's console or API).")
    reason = completion_reason(job)
    if reason:
        return Ending("completed", "Completed early:", reason + ".")
    return None


def _early_stopping_rule(job: HpoJob) -> str | None:
    config = _config(job)
    if config.get("Strategy") == "Hyperband":
        return "Hyperband stopped it early: its objective at an early epoch was not among the best of its bracket"
    if config.get("TrainingJobEarlyStoppingType") == "Auto":
        return ("the median stopping rule (early stopping Auto) stopped it: its objective was worse than the median "
                "of the earlier training jobs at the same epoch")
    return None


def training_job_ending(job: HpoJob, tj: TrainingJob, *, epochs: int | None = None) -> Ending | None:
    """Why a training job failed or was stopped, in words; None when it completed."""
    if tj.status == "Failed":
        return Ending("failed", "Why it failed:", tj.failure_reason or "the engine gave no reason.")
    if tj.status not in ("Stopped", "Stopping"):
        return None
    after = f" after {epochs} epoch{'s' if epochs != 1 else ''}" if epochs else ""
    ended: datetime | None = tj.end_time
    if job.stop_requested_at and (ended is None or ended >= job.stop_requested_at):
        text = f"stopped{after} because {_who(job)} stopped the tuning job."
    else:
        completion = completion_reason(job)
        rule = _early_stopping_rule(job)
        near_end = ended is not None and job.ended_at is not None and ended >= job.ended_at - WIND_DOWN
        if completion and (near_end or rule is None):
            text = f"stopped{after} when the tuning job completed: {completion}."
        elif rule:
            text = f"{rule}{after}."
        elif ended is not None and tj.start_time is not None and _max_runtime(job, tj) and \
                (ended - tj.start_time).total_seconds() >= _max_runtime(job, tj):
            text = f"stopped{after} at its maximum runtime of {_max_runtime(job, tj):,} seconds (StoppingCondition)."
        else:
            text = f"stopped by the engine{after}."
    if tj.failure_reason:
        text += f" Engine message: {tj.failure_reason}"
    return Ending("stopped", "Why it stopped:", text[0].upper() + text[1:])


def _max_runtime(job: HpoJob, tj: TrainingJob) -> int | None:
    definitions = job.definitions
    definition = definitions[0] if len(definitions) == 1 else next(
        (d for d in definitions if d.name == tj.definition_name), None)
    return ((definition.data if definition else {}).get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
