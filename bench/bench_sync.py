"""Benchmark the poller: AWS calls and time per poll cycle over 100 active jobs of 750 children each,
how a cycle grows with the number of active jobs when every AWS call takes 50 ms, and how many rows a
changed poll of a 10,000-child job writes.

    .venv/bin/python bench/bench_sync.py

Runs the real services and SageMaker backend over boto3 clients whose HTTP exchange is replaced by
tests.aws_fakes.FakeSageMaker (it counts calls by operation), on a throwaway SQLite database under
var/bench/ (or, with BENCH_DB=postgres, a throwaway PostgreSQL database: see database.py). In the first table times are this machine's work per cycle (database, botocore, our
code) with no network, and the last column adds an assumed 50 ms per AWS call to show what the call
counts mean in practice. The second table really waits 50 ms in every answer, so it shows what the
side-by-side describes of a batch (HPO_SYNC_CONCURRENCY) buy; the whole cycle is synced in this one
process (BENCH_FAN_OUT=1,500 picks the job counts), as the beat's task does when no other worker
takes the batches it queues.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from database import bench_database_url  # noqa: E402
from database import label as database_label  # noqa: E402
BENCH_DIR = ROOT / "var" / "bench"
JOBS = 100
CHILDREN = 750
NEW_CHILDREN = 10
CALL_LATENCY_S = 0.05
FAN_OUT_JOBS = tuple(int(n) for n in os.environ.get("BENCH_FAN_OUT", "1,10,100,500").split(","))
BIG_JOB_CHILDREN = 10_000


def configure() -> None:
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    sys.path.insert(0, str(ROOT))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "hpo_portal.settings",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "DEBUG": "0",
        "HPO_VAR_DIR": str(BENCH_DIR),
        "DATABASE_URL": bench_database_url(BENCH_DIR / "bench.sqlite3"),
        "HPO_BACKEND": "sagemaker",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "LOG_LEVEL": "WARNING",
    })
    for key in ("AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(key, None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main() -> int:
    configure()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from hpo_jobs import aws, services
    from hpo_jobs.backends import get_backend
    from hpo_jobs.models import HpoJob, TrainingJob
    from projects.models import Membership, Project
    from tests.aws_fakes import FakeSageMaker
    from tests.factories import make_request

    fake = FakeSageMaker(validate=False)
    fake.attach(aws.client("sagemaker"))
    user = get_user_model().objects.create_user("bench", email="bench@example.com")
    project = Project.objects.create(name="Bench", slug="bench")
    Membership.objects.create(project=project, user=user, role=Membership.Role.OWNER)
    now = timezone.now()
    for i in range(JOBS):
        request = make_request(f"bench-{i:03d}")
        fake.add_job(request).add_children(CHILDREN)
        HpoJob.objects.create(
            project=project, name=request["HyperParameterTuningJobName"], created_by=user, backend="sagemaker",
            request=request, strategy="Bayesian", max_training_jobs=CHILDREN, status=HpoJob.Status.IN_PROGRESS,
            launched_at=now, arn="arn:placeholder",
        )

    rows: list[tuple[str, int, int, float]] = []

    def cycle(label: str, poll=services.sync_active_jobs, repeat: int = 1) -> None:
        times = []
        for _ in range(repeat):
            fake.reset_counts()
            start = time.perf_counter()
            poll()
            times.append(time.perf_counter() - start)
        rows.append((label, fake.calls["DescribeHyperParameterTuningJob"],
                     fake.calls["ListTrainingJobsForHyperParameterTuningJob"], statistics.median(times)))

    cycle(f"first mirror: {JOBS} jobs x {CHILDREN} new children")
    assert TrainingJob.objects.count() == JOBS * CHILDREN
    cycle(f"poll, all {JOBS * CHILDREN:,} children mirrored", repeat=3)
    fake.job("bench-042").add_children(NEW_CHILDREN, status="InProgress")
    cycle(f"poll, {NEW_CHILDREN} new children in one job")
    fake.job("bench-042").finish_children()
    cycle(f"poll, those {NEW_CHILDREN} children completed")
    assert TrainingJob.objects.filter(status="Completed").count() == JOBS * CHILDREN + NEW_CHILDREN

    backend = get_backend("sagemaker")

    def naive_poll() -> None:
        # What a poller without fingerprints does: describe, then read and upsert every page.
        for job in HpoJob.objects.filter(status=HpoJob.Status.IN_PROGRESS):
            backend.describe_tuning_job(job.name)
            token, summaries = None, []
            while True:
                page = backend.list_training_jobs(job.name, next_token=token)
                summaries += page["TrainingJobSummaries"]
                token = page.get("NextToken")
                if not token:
                    break
            services.upsert_children(job, summaries)

    cycle("naive full re-list, same state (for comparison)", poll=naive_poll)

    width = max(len(label) for label, *_ in rows)
    print(f"{'poll cycle':<{width}}  {'describe':>8}  {'list':>5}  {'time/cycle':>10}  {'+50 ms/call':>11}")
    for label, describes, lists, seconds in rows:
        with_latency = seconds + (describes + lists) * CALL_LATENCY_S
        print(f"{label:<{width}}  {describes:>8}  {lists:>5}  {seconds:>9.2f}s  {with_latency:>10.1f}s")
    print(f"\nGoal: {JOBS} describes and 0 lists per cycle when nothing changed; 1-2 lists for new children "
          f"in one job.\n{database_label()}; times are medians of the repeats on this machine.")

    fake.detach()
    fan_out(project, user)
    changed_poll(project, user)
    return 0


def slow_fake():
    """A FakeSageMaker whose every answer waits CALL_LATENCY_S first, as a call to AWS would."""
    from tests.aws_fakes import FakeSageMaker

    class SlowFakeSageMaker(FakeSageMaker):
        def _answer(self, model, context, **kwargs):
            if model.name in self.operations:
                time.sleep(CALL_LATENCY_S)
            return super()._answer(model, context, **kwargs)

    return SlowFakeSageMaker(validate=False)


def _jobs(project, user, fake, prefix: str, count: int, children: int = 0) -> list:
    from django.utils import timezone

    from hpo_jobs.models import HpoJob
    from hpo_jobs.sagemaker import request as facts
    from tests.factories import make_request

    now = timezone.now()
    jobs = []
    for i in range(count):
        request = make_request(f"{prefix}-{i:03d}")
        fake.add_job(request).add_children(children)
        jobs.append(HpoJob(
            project=project, name=request["HyperParameterTuningJobName"], created_by=user, backend="sagemaker",
            request=request, strategy="Bayesian", max_training_jobs=max(children, 1),
            status=HpoJob.Status.IN_PROGRESS, launched_at=now, arn="arn:placeholder",
            sort_hyperparameters=facts.tuned_names(request),  # as save() sets it (bulk_create does not call it)
        ))
    return HpoJob.objects.bulk_create(jobs)


def fan_out(project, user) -> None:
    """An unchanged poll cycle of 1, 10, 100 and 500 active jobs, each AWS call taking 50 ms."""
    from django.conf import settings

    from hpo_jobs import aws, services
    from hpo_jobs.models import HpoJob

    print(f"\nPoll cycle against active jobs, every AWS call taking {CALL_LATENCY_S * 1000:.0f} ms "
          f"(HPO_SYNC_BATCH_SIZE={settings.HPO_SYNC_BATCH_SIZE}, HPO_SYNC_CONCURRENCY={settings.HPO_SYNC_CONCURRENCY}, "
          "one process):")
    print(f"{'active jobs':>11}  {'describes':>9}  {'time/cycle':>10}  {'vs 1 job':>8}  {'one after another':>17}")
    single = None
    for count in FAN_OUT_JOBS:
        HpoJob.objects.all().delete()
        fake = slow_fake()
        fake.attach(aws.client("sagemaker"))
        _jobs(project, user, fake, f"fan-{count}", count)
        services.sync_active_jobs()  # the first mirror (one empty listing each)
        fake.reset_counts()
        start = time.perf_counter()
        result = services.sync_active_jobs()
        seconds = time.perf_counter() - start
        fake.detach()
        assert result["synced"] == count, result
        single = single or seconds
        print(f"{count:>11}  {fake.calls['DescribeHyperParameterTuningJob']:>9}  {seconds:>9.2f}s  "
              f"{seconds / single:>7.1f}x  {count * CALL_LATENCY_S:>16.1f}s")
    print(f"Goal: a cycle takes about the time of one job, not the sum (the last column: "
          f"{CALL_LATENCY_S * 1000:.0f} ms per job one after another, the AWS waits alone).")


def changed_poll(project, user) -> None:
    """A changed poll of a 10,000-child job with 10 new children: rows written and time."""
    from tests.aws_fakes import FakeSageMaker

    from hpo_jobs import aws, services
    from hpo_jobs.models import HpoJob, TrainingJob

    HpoJob.objects.all().delete()
    fake = FakeSageMaker(validate=False)
    fake.attach(aws.client("sagemaker"))
    (job,) = _jobs(project, user, fake, "big", 1, children=BIG_JOB_CHILDREN)
    services.sync_job(job.pk)
    assert TrainingJob.objects.filter(hpo_job=job).count() == BIG_JOB_CHILDREN
    written: list[int] = []
    real = TrainingJob.objects.bulk_create

    def counting(rows, *args, **kwargs):
        rows = list(rows)
        written.append(len(rows))
        return real(rows, *args, **kwargs)

    TrainingJob.objects.bulk_create = counting
    try:
        fake.job(job.name).add_children(NEW_CHILDREN, status="InProgress")
        fake.reset_counts()
        start = time.perf_counter()
        services.sync_job(job.pk)
        seconds = time.perf_counter() - start
    finally:
        del TrainingJob.objects.bulk_create
    fake.detach()
    print(f"\nChanged poll of a {BIG_JOB_CHILDREN:,}-child job with {NEW_CHILDREN} new children: "
          f"{sum(written)} rows written, {fake.calls['ListTrainingJobsForHyperParameterTuningJob']} list call(s), "
          f"{seconds * 1000:.0f} ms (goal: only the {NEW_CHILDREN} new rows written).")


if __name__ == "__main__":
    sys.exit(main())
