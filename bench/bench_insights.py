"""Insights at scale: the time of the ``refresh_insights`` task (fANOVA and PED-ANOVA importance and
the narrowed ranges) and the time and SQL queries of the insights tab (slice, contour, timeline) for
a job with 10, 1,000, 10,000 and 50,000 evaluated training jobs, as ratios to the 10-job case, measured in
one run on a throwaway database: SQLite under var/bench/insights/, or PostgreSQL with
BENCH_DB=postgres (see database.py).

    .venv/bin/python bench/bench_insights.py

What must hold: the tab's queries do not grow with the children, its size stays under
MAX_TAB_BYTES (the charts sample past a few thousand training jobs), its time at 50,000 stays within
SAMPLED_LIMIT of its time at 10,000 (both draw a sample of the same size, which the database picks),
and the task at 10,000 finishes within TASK_MAX_S. The task's time grows with the children by nature (it is a random
forest over them): its ratio is shown, not judged. The exit status is 1 when one does not hold.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import database  # noqa: E402
from database import label as database_label  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench" / "insights"  # this script's own: it is wiped at each run
SIZES = (10, 1_000, 10_000, 50_000)
TASK_JUDGED_AT = 10_000  # the task's time grows with the children by nature: judged at this size
SAMPLED_LIMIT = 1.5  # the tab at 50,000 against 10,000
RUNS = 5  # timed runs per size (the median is reported), after one warm-up run
TASK_MAX_S = 60.0  # the task at 10,000 evaluated training jobs must finish within this
MAX_TAB_BYTES = 3_000_000


def setup_django() -> None:
    database.setup_django(BENCH_DIR, database.bench_database_url(BENCH_DIR / "bench.sqlite3"))


def main() -> int:
    print(f"Setting up a throwaway database ({database_label()}) ...", flush=True)
    setup_django()
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from hpo_jobs import tasks
    from hpo_jobs.management.commands.make_bench_jobs import build_job, ensure_project
    from hpo_jobs.models import HpoJob

    project, owner = ensure_project("bench")
    t0 = time.perf_counter()
    jobs = {}
    for size in SIZES:
        job = build_job(project, owner, f"insights-{size}", size, seed=5)
        # Every child evaluated: the sizes are evaluated training jobs, as the issue counts them.
        job.training_jobs.filter(objective_value__isnull=True).update(objective_value=0.5, status="Completed")
        jobs[size] = job
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(f"Stored the data in {time.perf_counter() - t0:.1f} s.\n", flush=True)

    # One untimed run first: importing Optuna and scikit-learn is paid once per worker, not per task.
    tasks.refresh_insights.apply(args=(jobs[SIZES[0]].pk,)).get()
    task_s = {}
    for size, job in jobs.items():
        HpoJob.objects.filter(pk=job.pk).update(insights=None, insights_count=0)
        wall = time.perf_counter()
        tasks.refresh_insights.apply(args=(job.pk,)).get()
        task_s[size] = time.perf_counter() - wall

    client = Client()
    client.force_login(owner)
    urls = {size: f"/projects/bench/hpo-jobs/insights-{size}/?tab=insights" for size in SIZES}
    queries, sizes, times = {}, {}, {size: [] for size in SIZES}
    for size, url in urls.items():
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        queries[size], sizes[size] = len(captured), len(response.content)
    cold = {size: [] for size in SIZES}
    for _ in range(RUNS):
        for size, url in urls.items():
            wall = time.perf_counter()
            client.get(url)
            times[size].append((time.perf_counter() - wall) * 1000)
    for _ in range(RUNS):
        for size, url in urls.items():
            cache.clear()  # as after a sync: a large job's charts are drawn again
            wall = time.perf_counter()
            client.get(url)
            cold[size].append((time.perf_counter() - wall) * 1000)
    tab_ms = {size: statistics.median(t) for size, t in times.items()}
    cold_ms = {size: statistics.median(t) for size, t in cold.items()}

    base = SIZES[0]
    print(f"{database_label()}: for a job with N evaluated training jobs, and the ratio to N={base}.")
    header = f"{'':28}" + "".join(f"{f'@{n:,}':>12}" for n in SIZES) + "".join(f"{f'x@{n:,}':>10}" for n in SIZES[1:])
    print(header)
    print("-" * len(header))
    print(f"{'refresh_insights task, s':28}" + "".join(f"{task_s[n]:>12.2f}" for n in SIZES)
          + "".join(f"{task_s[n] / task_s[base]:>9.1f}x" for n in SIZES[1:]))
    print(f"{'insights tab, ms':28}" + "".join(f"{tab_ms[n]:>12.1f}" for n in SIZES)
          + "".join(f"{tab_ms[n] / tab_ms[base]:>9.1f}x" for n in SIZES[1:]))
    print(f"{'  first view after a sync':28}" + "".join(f"{cold_ms[n]:>12.1f}" for n in SIZES)
          + "".join(f"{cold_ms[n] / cold_ms[base]:>9.1f}x" for n in SIZES[1:]))
    print(f"{'insights tab, SQL queries':28}" + "".join(f"{queries[n]:>12}" for n in SIZES)
          + "".join(f"{queries[n] / queries[base]:>9.1f}x" for n in SIZES[1:]))
    print(f"{'insights tab, bytes':28}" + "".join(f"{sizes[n]:>12,}" for n in SIZES))
    print()
    failed = []
    counts = [queries[n] for n in SIZES]
    if any(later > earlier for earlier, later in zip(counts, counts[1:])):
        # Fewer queries for a larger job is allowed: past 2,000 children it reads stored figures.
        failed.append("the tab's queries grow with the children")
    if max(sizes.values()) > MAX_TAB_BYTES:
        failed.append(f"the tab is over {MAX_TAB_BYTES:,} bytes")
    if task_s[TASK_JUDGED_AT] > TASK_MAX_S:
        failed.append(f"the task takes over {TASK_MAX_S:.0f} s at {TASK_JUDGED_AT:,}")
    if tab_ms[SIZES[-1]] > SAMPLED_LIMIT * tab_ms[SIZES[-2]]:
        failed.append(f"the tab at {SIZES[-1]:,} takes over {SAMPLED_LIMIT}x its time at {SIZES[-2]:,}")
    print(f"Required: constant queries; the tab under {MAX_TAB_BYTES:,} bytes and at {SIZES[-1]:,} within "
          f"{SAMPLED_LIMIT}x of {SIZES[-2]:,}; the task within {TASK_MAX_S:.0f} s at {TASK_JUDGED_AT:,}.")
    if failed:
        print("NOT MET: " + "; ".join(failed))
        return 1
    print("All hold.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
