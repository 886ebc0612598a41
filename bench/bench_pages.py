"""The job pages at scale: SQL queries and server time for a job with 10 and with 10,000 training
jobs, and for a project with 10 and with 10,000 jobs, measured in one run on a throwaway SQLite
database under var/bench/pages/.

    .venv/bin/python bench/bench_pages.py

What must hold (the issue's speed rules): the number of queries does not grow with the children
(or the jobs), and the details page and the job list take at most 1.5x the time of their small
counterparts. The exit status is 1 when one of them does not hold.

Server time is judged on CPU time: the time the request costs this process, database included
(SQLite runs in-process). Wall time is printed beside it; on a machine busy with other work it
mostly measures the scheduler, so it is shown, not judged.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench" / "pages"  # this script's own: it is wiped at each run
SMALL, LARGE = 10, 10_000
RUNS = 15  # timed runs per page (the median is reported), after two warm-up runs
MAX_RATIO = 1.5


def setup_django() -> None:
    shutil.rmtree(BENCH_DIR, ignore_errors=True)
    BENCH_DIR.mkdir(parents=True)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "hpo_portal.settings",
        "HPO_VAR_DIR": str(BENCH_DIR),
        "DATABASE_URL": f"sqlite:///{BENCH_DIR / 'bench.sqlite3'}",
        "SECRET_KEY": "bench-only-secret-key",
        "DEBUG": "0",  # measure what production runs: no debug templates, no query log
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "LOG_LEVEL": "WARNING",
    })
    sys.path.insert(0, str(ROOT))
    from django.conf import settings

    # Static URLs without a collectstatic manifest (the pages are what is measured, not static files).
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def measure(client, small_url: str, large_url: str, streaming: bool = False) -> list[tuple[int, float, float]]:
    """For the small and the large URL: the queries of one request, and the median server time of
    RUNS requests, as CPU time (ms) and as wall time (ms). The two URLs are timed in turns, so
    that a busy moment of the machine weighs on both alike."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get(url: str) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if streaming:
            for _ in response.streaming_content:
                pass
        return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000

    queries = []
    for url in (small_url, large_url):
        for _ in range(2):
            get(url)
        with CaptureQueriesContext(connection) as captured:
            get(url)
        queries.append(len(captured))  # now: the next request clears the connection's query log
    times: tuple[list, list] = ([], [])
    for _ in range(RUNS):
        times[0].append(get(small_url))
        times[1].append(get(large_url))
    return [
        (queries[i], statistics.median(t[0] for t in times[i]), statistics.median(t[1] for t in times[i]))
        for i in (0, 1)
    ]


def main() -> int:
    print(f"Setting up a throwaway database in {BENCH_DIR.relative_to(ROOT)} ...", flush=True)
    setup_django()
    from django.core.management import call_command
    from django.test import Client

    from hpo_jobs.management.commands.make_bench_jobs import ensure_project

    t0 = time.perf_counter()
    call_command("make_bench_jobs", project="bench", children=SMALL, prefix="bench-small", stdout=open(os.devnull, "w"))
    call_command("make_bench_jobs", project="bench", children=LARGE, prefix="bench-large", stdout=open(os.devnull, "w"))
    call_command("make_bench_jobs", project="few-jobs", jobs=SMALL, children=0, prefix="few",
                 stdout=open(os.devnull, "w"))
    call_command("make_bench_jobs", project="many-jobs", jobs=LARGE, children=0, prefix="many",
                 stdout=open(os.devnull, "w"))
    print(f"Stored the data in {time.perf_counter() - t0:.1f} s.\n", flush=True)

    _, owner = ensure_project("bench")
    for slug in ("few-jobs", "many-jobs"):
        ensure_project(slug)
    client = Client()
    client.force_login(owner)

    def job(name: str, suffix: str = "") -> str:
        return f"/projects/bench/hpo-jobs/{name}/{suffix}"

    cases = [
        # (label, small URL, large URL, streaming, time ratio required)
        ("details page (overview)", job("bench-small"), job("bench-large"), False, True),
        ("training jobs tab (page)", job("bench-small", "?tab=training-jobs"), job("bench-large", "?tab=training-jobs"),
         False, False),
        ("training jobs table (part)", job("bench-small", "parts/training-jobs/"),
         job("bench-large", "parts/training-jobs/"), False, False),
        ("training jobs, sorted by status", job("bench-small", "parts/training-jobs/?sort=status"),
         job("bench-large", "parts/training-jobs/?sort=status"), False, False),
        ("training-jobs.csv", job("bench-small", "training-jobs.csv"), job("bench-large", "training-jobs.csv"),
         True, False),
        ("charts tab (one mark per job)", job("bench-small", "?tab=charts"), job("bench-large", "?tab=charts"),
         False, False),
        ("job list", "/projects/few-jobs/hpo-jobs/", "/projects/many-jobs/hpo-jobs/", False, True),
        ("job list, searched", "/projects/few-jobs/hpo-jobs/?q=00&status=Completed",
         "/projects/many-jobs/hpo-jobs/?q=00&status=Completed", False, False),
    ]
    header = (f"{'page':32} {'queries':>13} {'cpu ms @10':>11} {'@10k':>8} {'ratio':>6}   "
              f"{'wall ms @10':>11} {'@10k':>8} {'ratio':>6}  verdict")
    print(f"Children per job (or jobs per project): {SMALL} vs {LARGE:,}; medians of {RUNS} runs each.")
    print(header)
    print("-" * len(header))
    failed = []
    for label, small_url, large_url, streaming, ratio_required in cases:
        (q_small, c_small, w_small), (q_large, c_large, w_large) = measure(client, small_url, large_url, streaming)
        ratio = c_large / c_small
        verdicts = []
        if q_small != q_large:
            verdicts.append("QUERIES GROW")
        if ratio_required and ratio > MAX_RATIO:
            verdicts.append(f"SLOWER THAN {MAX_RATIO}x")
        verdict = ", ".join(verdicts) or ("ok" if ratio_required else "ok (queries)")
        if verdicts:
            failed.append(label)
        print(f"{label:32} {q_small:>5} → {q_large:<5} {c_small:>11.1f} {c_large:>8.1f} {ratio:>5.2f}x   "
              f"{w_small:>11.1f} {w_large:>8.1f} {w_large / w_small:>5.2f}x  {verdict}", flush=True)
    print()
    print(f"Required: constant queries everywhere; CPU time ratio ≤ {MAX_RATIO}x for the details page and the job list.")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("All hold.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
