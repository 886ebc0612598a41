"""Store HPO jobs with many child training jobs, as the engine would have mirrored them, so that
anyone can measure the job pages at scale (``bench/bench_pages.py`` uses it) or look at a large
job in the browser. Nothing is sent to an engine: the jobs exist in the database only.

    manage.py make_bench_jobs --children 10000                 # one job with 10,000 training jobs
    manage.py make_bench_jobs --jobs 10000 --children 0        # a project with 10,000 jobs
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from hpo_jobs import services
from hpo_jobs.models import HpoJob, TrainingJob
from projects.models import Membership, Project

FAILURE_REASONS = [
    ("AlgorithmError: ExecuteUserScriptError: Command \"/usr/bin/python3 -m train\" exited with code 1 "
     "(MemoryError: unable to allocate 2.1 GiB for an array)", 5),
    ("ClientError: Unable to parse the training data: line 1812 has 31 columns, 30 expected", 3),
    ("AlgorithmError: max_depth 0 is not supported together with tree_method exact", 1),
    ("InternalServerError: We encountered an internal error. Please try again.", 1),
]


def bench_request(name: str, max_jobs: int, parallel: int = 10) -> dict[str, Any]:
    """A realistic XGBoost CreateHyperParameterTuningJob request (single definition, four ranges)."""
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
                    {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
                    {"Name": "min_child_weight", "MinValue": "0", "MaxValue": "10", "ScalingType": "Auto"},
                ],
                "IntegerParameterRanges": [
                    {"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Auto"},
                ],
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Auto",
            "TuningJobCompletionCriteria": {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 50}},
            "RandomSeed": 42,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                "TrainingInputMode": "File",
            },
            "StaticHyperParameters": {"objective": "binary:logistic", "num_round": "100", "eval_metric": "auc"},
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "InputDataConfig": [
                {"ChannelName": channel, "ContentType": "text/csv", "CompressionType": "None",
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                 "S3Uri": f"s3://bench-bucket/breast-cancer/{channel}/",
                                                 "S3DataDistributionType": "FullyReplicated"}}}
                for channel in ("train", "validation")
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://bench-bucket/output/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        "Tags": [{"Key": "project", "Value": "bench"}],
    }


def _auc(rng: random.Random, hps: dict[str, str]) -> float:
    """A plausible AUC: best near eta 0.1, depth 5, with noise."""
    eta, depth = float(hps["eta"]), int(hps["max_depth"])
    score = 0.985 - 0.02 * abs(math.log10(eta / 0.1)) - 0.004 * abs(depth - 5) - 0.01 * (1 - float(hps["subsample"]))
    return round(min(0.999, max(0.5, score + rng.gauss(0, 0.006))), 6)


def _summary(tj: TrainingJob, job_name: str) -> dict[str, Any]:
    return {
        "TrainingJobName": tj.name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{tj.name}",
        "TuningJobName": job_name,
        "CreationTime": tj.creation_time.isoformat(),
        "TrainingStartTime": tj.start_time.isoformat() if tj.start_time else None,
        "TrainingEndTime": tj.end_time.isoformat() if tj.end_time else None,
        "TrainingJobStatus": tj.status,
        "TunedHyperParameters": tj.tuned_hyperparameters,
        "FinalHyperParameterTuningJobObjectiveMetric": {"Type": "Maximize", "MetricName": "validation:auc",
                                                        "Value": tj.objective_value},
        "ObjectiveStatus": tj.objective_status,
    }


def build_job(project: Project, creator, name: str, children: int, *, status: str = HpoJob.Status.COMPLETED,
              seed: int = 1, started: datetime | None = None) -> HpoJob:
    """One job with ``children`` training jobs, its counters and best training job filled in as a
    sync would have left them."""
    rng = random.Random(f"{seed}-{name}")
    active = status in HpoJob.ACTIVE_STATUSES
    started = started or timezone.now() - timedelta(hours=6)
    job = HpoJob.objects.create(
        project=project, name=name, created_by=creator, backend="local", request=bench_request(name, max(children, 1)),
        strategy="Bayesian", status=status, engine_status=status, max_training_jobs=max(children, 1),
        started_at=started, launched_at=started,
    )
    rows = []
    step = timedelta(seconds=max(1.0, 5 * 3600 / max(children, 1)))
    for i in range(children):
        hps = {
            "eta": f"{10 ** rng.uniform(-2, math.log10(0.5)):.6g}",
            "max_depth": str(rng.randint(2, 10)),
            "subsample": f"{rng.uniform(0.5, 1):.4g}",
            "min_child_weight": f"{rng.uniform(0, 10):.4g}",
        }
        created = started + step * i
        start = created + timedelta(seconds=rng.randint(5, 40))
        roll = rng.random()
        if active and i >= children - 3:
            tj_status, value, objective_status, end, reason = "InProgress", None, "Pending", None, ""
        elif roll < 0.06:
            reason = rng.choices([r for r, _ in FAILURE_REASONS], weights=[w for _, w in FAILURE_REASONS])[0]
            tj_status, value, objective_status, end = "Failed", None, "Failed", start + timedelta(seconds=rng.randint(20, 90))
        elif roll < 0.10:
            tj_status, objective_status, reason = "Stopped", "Succeeded", ""
            value, end = _auc(rng, hps) - 0.03, start + timedelta(seconds=rng.randint(60, 200))
        else:
            tj_status, objective_status, reason = "Completed", "Succeeded", ""
            value, end = _auc(rng, hps), start + timedelta(seconds=rng.randint(120, 600))
        rows.append(TrainingJob(
            hpo_job=job, name=f"{name}-{i + 1:03d}-{rng.getrandbits(32):08x}"[:63], status=tj_status,
            tuned_hyperparameters=hps, objective_metric_name="validation:auc", objective_value=value,
            objective_status=objective_status, failure_reason=reason, creation_time=created, start_time=start,
            end_time=end, summary={},
        ))
    TrainingJob.objects.bulk_create(rows, batch_size=1000)

    counts: dict[str, int] = {}
    for tj in rows:
        counts[tj.status] = counts.get(tj.status, 0) + 1
    failed = [tj for tj in rows if tj.status == "Failed"]
    retryable = sum(1 for tj in failed if tj.failure_reason.startswith("InternalServerError"))
    scored = [tj for tj in rows if tj.objective_value is not None]
    best = max(scored, key=lambda tj: tj.objective_value) if scored else None
    ended = None if active else max((tj.end_time for tj in rows if tj.end_time), default=started)
    job.training_job_status_counters = {
        "Completed": counts.get("Completed", 0), "InProgress": counts.get("InProgress", 0),
        "RetryableError": retryable, "NonRetryableError": len(failed) - retryable, "Stopped": counts.get("Stopped", 0),
    }
    job.objective_status_counters = {
        "Succeeded": len(scored), "Pending": counts.get("InProgress", 0), "Failed": len(failed),
    }
    job.completed_count = counts.get("Completed", 0)
    job.finished_count = services.finished_training_jobs(job.training_job_status_counters)
    job.best_training_job = _summary(best, name) if best else None
    job.best_objective_value = best.objective_value if best else None
    job.ended_at = ended
    job.last_synced_at = timezone.now()
    job.last_describe = {"ConsumedResources": {"RuntimeInSeconds": sum(
        int(((tj.end_time or timezone.now()) - tj.start_time).total_seconds()) for tj in rows)}}
    job.save()
    return job


def ensure_project(slug: str, owner_name: str = "bench-owner") -> tuple[Project, Any]:
    """The project ``slug`` (made if missing) and an owner of it."""
    User = get_user_model()
    owner, created = User.objects.get_or_create(username=owner_name, defaults={"email": f"{owner_name}@example.com"})
    if created:
        owner.set_unusable_password()
        owner.save()
    project, _ = Project.objects.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})
    Membership.objects.get_or_create(project=project, user=owner, defaults={"role": Membership.Role.OWNER})
    return project, owner


class Command(BaseCommand):
    help = "Store HPO jobs with many child training jobs (database only), to measure the job pages at scale."

    def add_arguments(self, parser):
        parser.add_argument("--project", default="bench", help="project slug (made if missing)")
        parser.add_argument("--jobs", type=int, default=1, help="how many jobs (default 1)")
        parser.add_argument("--children", type=int, default=10, help="training jobs per job (default 10)")
        parser.add_argument("--prefix", default="bench", help="job names are PREFIX-N (or PREFIX for one job)")
        parser.add_argument("--status", default="Completed", choices=[s.value for s in HpoJob.Status])
        parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed makes the same data)")
        parser.add_argument("--replace", action="store_true", help="delete jobs with these names first")

    def handle(self, *args, project: str, jobs: int, children: int, prefix: str, status: str, seed: int,
               replace: bool, **options):
        if jobs < 1 or children < 0:
            raise CommandError("--jobs must be at least 1 and --children at least 0")
        names = [prefix] if jobs == 1 else [f"{prefix}-{i + 1:05d}" for i in range(jobs)]
        if any(len(n) > 32 for n in names):
            raise CommandError("Job names must have at most 32 characters: use a shorter --prefix")
        proj, owner = ensure_project(project)
        with transaction.atomic():
            existing = HpoJob.objects.filter(name__in=names)
            if existing.exists():
                if not replace:
                    raise CommandError(f"{existing.count()} of these jobs exist already: pass --replace")
                existing.delete()
            start = timezone.now() - timedelta(days=30)
            if children:
                for i, name in enumerate(names):
                    build_job(proj, owner, name, children, status=status, seed=seed,
                              started=start + timedelta(minutes=i))
            else:
                # Many jobs without children: one bulk insert, then spread their creation times
                # (auto_now_add stamps them all with now) so that the list sorts as it would.
                made = HpoJob.objects.bulk_create(
                    [HpoJob(project=proj, name=name, created_by=owner, backend="local",
                            request=bench_request(name, 20), strategy="Bayesian", status=status,
                            max_training_jobs=20, completed_count=20 if status == "Completed" else 0,
                            finished_count=20 if status == "Completed" else 0,
                            best_objective_value=0.9 + (i % 97) / 1000,
                            best_training_job={"TrainingJobName": f"{name}-001-00000000",
                                               "FinalHyperParameterTuningJobObjectiveMetric": {
                                                   "MetricName": "validation:auc", "Type": "Maximize",
                                                   "Value": 0.9 + (i % 97) / 1000}},
                            training_job_status_counters={"Completed": 20}, started_at=start + timedelta(minutes=i),
                            ended_at=start + timedelta(minutes=i + 45))
                     for i, name in enumerate(names)],
                    batch_size=500,
                )
                for i, job in enumerate(made):
                    job.created_at = start + timedelta(minutes=i)
                HpoJob.objects.bulk_update(made, ["created_at"], batch_size=500)
        self.stdout.write(f"Stored {len(names)} job(s) with {children} training job(s) each in project {proj.slug}.")
