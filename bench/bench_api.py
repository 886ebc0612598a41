"""The JSON API at scale: SQL queries and server time of the jobs list and the training jobs list
(and a job, and the CSV) at 10 and at 10,000, measured in one run on a throwaway SQLite database
under var/bench/api/, as bench_pages.py measures the pages.

    .venv/bin/python bench/bench_api.py

What must hold: the number of queries does not grow with the jobs or the children (a large job may
run fewer, reading figures stored for it), and the jobs
list and a job's details take at most 1.5x the wall time of their small counterparts (the request,
database included). The exit status is 1 when one of them does not hold.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_pages  # noqa: E402  (its setup and its measure, with this script's own folder)

bench_pages.BENCH_DIR = bench_pages.ROOT / "var" / "bench" / "api"
SMALL, LARGE = 10, 10_000
RUNS, MAX_RATIO = bench_pages.RUNS, bench_pages.LIMITS[LARGE]


def main() -> int:
    print(f"Setting up a throwaway database in {bench_pages.BENCH_DIR.relative_to(bench_pages.ROOT)} ...", flush=True)
    bench_pages.setup_django()
    from django.core.management import call_command
    from django.test import Client

    from hpo_jobs.api.models import ApiToken
    from hpo_jobs.management.commands.make_bench_jobs import ensure_project

    t0 = time.perf_counter()
    quiet = open(os.devnull, "w")
    call_command("make_bench_jobs", project="bench", children=SMALL, prefix="bench-small", stdout=quiet)
    call_command("make_bench_jobs", project="bench", children=LARGE, prefix="bench-large", stdout=quiet)
    call_command("make_bench_jobs", project="few-jobs", jobs=SMALL, children=0, prefix="few", stdout=quiet)
    call_command("make_bench_jobs", project="many-jobs", jobs=LARGE, children=0, prefix="many", stdout=quiet)
    print(f"Stored the data in {time.perf_counter() - t0:.1f} s.", flush=True)
    # As in a running portal, where the task (or its sweep) has stored each job's insights: a job past
    # 2,000 training jobs is then shown from their summary, not summed child by child.
    from hpo_jobs import services
    from hpo_jobs.models import HpoJob

    t0 = time.perf_counter()
    for job_id in HpoJob.objects.filter(project__slug="bench").values_list("pk", flat=True):
        services.refresh_insights(job_id)
    print(f"Computed the jobs' insights in {time.perf_counter() - t0:.1f} s.\n", flush=True)

    _, owner = ensure_project("bench")
    for slug in ("few-jobs", "many-jobs"):
        ensure_project(slug)
    _token, text = ApiToken.issue(owner, "bench", 1)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {text}")

    def job(name: str, suffix: str = "") -> str:
        return f"/api/v1/projects/bench/jobs/{name}/{suffix}"

    def third_page(url: str) -> str:
        """The address of the third cursor page of ``url`` (the cursor carries the position)."""
        for _ in range(2):
            url = client.get(url).json()["next"].replace("http://testserver", "")
        return url

    cases = [
        # (label, small URL, large URL, streaming, time ratio required)
        ("jobs list", "/api/v1/projects/few-jobs/jobs/", "/api/v1/projects/many-jobs/jobs/", False, True),
        ("jobs list, searched", "/api/v1/projects/few-jobs/jobs/?q=00&status=Completed",
         "/api/v1/projects/many-jobs/jobs/?q=00&status=Completed", False, False),
        ("jobs list, sorted by best", "/api/v1/projects/few-jobs/jobs/?sort=-best",
         "/api/v1/projects/many-jobs/jobs/?sort=-best", False, False),
        ("a job", job("bench-small"), job("bench-large"), False, True),
        ("training jobs, first page", job("bench-small", "training-jobs/"), job("bench-large", "training-jobs/"),
         False, False),
        ("training jobs, by name", job("bench-small", "training-jobs/?sort=name&page_size=3"),
         job("bench-large", "training-jobs/?sort=name&page_size=3"), False, False),
        ("training jobs, third page", third_page(job("bench-small", "training-jobs/?page_size=3")),
         third_page(job("bench-large", "training-jobs/?page_size=3")), False, False),
        ("training-jobs.csv", job("bench-small", "training-jobs.csv"), job("bench-large", "training-jobs.csv"),
         True, False),
    ]
    header = f"{'route':32} {'queries':>13} {'wall ms @10':>11} {'@10k':>8} {'ratio':>6}  verdict"
    print(f"Children per job (or jobs per project): {SMALL} vs {LARGE:,}; medians of {RUNS} runs each.")
    print(header)
    print("-" * len(header))
    failed = []
    for label, small_url, large_url, streaming, ratio_required in cases:
        (q_small, w_small, _), (q_large, w_large, _) = bench_pages.measure(
            client, [small_url, large_url], streaming)
        ratio = w_large / w_small
        verdicts = []
        if q_large > q_small:  # fewer is allowed: past 2,000 children a job reads stored figures
            verdicts.append("QUERIES GROW")
        if ratio_required and ratio > MAX_RATIO:
            verdicts.append(f"SLOWER THAN {MAX_RATIO}x")
        verdict = ", ".join(verdicts) or ("ok" if ratio_required else "ok (queries)")
        if verdicts:
            failed.append(label)
        print(f"{label:32} {q_small:>5} → {q_large:<5} {w_small:>11.1f} {w_large:>8.1f} {ratio:>5.2f}x  {verdict}",
              flush=True)
    print()
    print(f"Required: constant queries everywhere; wall time ratio ≤ {MAX_RATIO}x for the jobs list and a job.")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("All hold.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
