"""The job pages at scale: SQL queries and wall time of each page for a job with 10, 1,000, 10,000
and 50,000 training jobs, and for a project with as many jobs, measured in one run on a throwaway
database: SQLite under var/bench/pages/, or PostgreSQL with BENCH_DB=postgres (see database.py;
``make bench`` runs both when DATABASE_URL names a PostgreSQL server).

    .venv/bin/python bench/bench_pages.py                    # 10, 1,000, 10,000 and 50,000
    .venv/bin/python bench/bench_pages.py --sizes 10,10000   # only these (the first is the reference)
    .venv/bin/python bench/bench_pages.py --cases "job list"  # only the pages whose label this finds

What must hold: the number of queries does not grow with the children (or the jobs), and each
page's wall time (the request as a client sees it, database included) stays within 1.5x of the
10 case at 10,000 and within 2x at 50,000 (the CSV, which writes every row, is shown as its cost per
row instead); the charts tab's size stays bounded. The exit status is
1 when one of them does not hold. The sizes are timed in turns, so that a busy moment of the machine
weighs on all alike; medians of RUNS requests are reported.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import database  # noqa: E402
from database import label as database_label  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench" / "pages"  # this script's own: it is wiped at each run
SIZES = (10, 1_000, 10_000, 50_000)
LIMITS = {10_000: 1.5, 50_000: 2.0}  # the largest wall-time ratio to the 10 case allowed at a size
RUNS = 7  # timed runs per page and size (the median is reported), after one warm-up run
MAX_CHARTS_BYTES = 1_000_000  # the charts tab may not grow past this, whatever the children


def setup_django() -> None:
    database.setup_django(BENCH_DIR, database.bench_database_url(BENCH_DIR / "bench.sqlite3"))


def measure(client, urls: list[str], streaming: bool = False) -> list[tuple[int, float, int]]:
    """For each URL: the queries of one request, the median wall time (ms) of RUNS requests, and the
    response's size in bytes. The URLs are timed in turns."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get(url: str) -> tuple[float, int]:
        wall = time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        size = sum(len(chunk) for chunk in response.streaming_content) if streaming else len(response.content)
        return (time.perf_counter() - wall) * 1000, size

    queries, sizes = [], []
    for url in urls:
        get(url)
        with CaptureQueriesContext(connection) as captured:
            _, size = get(url)
        queries.append(len(captured))
        sizes.append(size)
    times: list[list[float]] = [[] for _ in urls]
    for _ in range(RUNS):
        for i, url in enumerate(urls):
            times[i].append(get(url)[0])
    return [(queries[i], statistics.median(times[i]), sizes[i]) for i in range(len(urls))]


def main() -> int:
    global SIZES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated sizes to measure (default: 10,1000,10000,50000)")
    parser.add_argument("--cases", help="a regular expression: only the pages whose label it finds")
    args = parser.parse_args()
    if args.sizes:
        SIZES = tuple(int(n) for n in args.sizes.split(","))
    print(f"Setting up a throwaway database ({database_label()}) ...", flush=True)
    setup_django()
    from django.core.management import call_command
    from django.test import Client

    from hpo_jobs.management.commands.make_bench_jobs import ensure_project
    from hpo_jobs.pages import views

    t0 = time.perf_counter()
    quiet = open(os.devnull, "w")
    for size in SIZES:
        call_command("make_bench_jobs", project="bench", children=size, prefix=f"children-{size}", stdout=quiet)
        call_command("make_bench_jobs", project=f"jobs-{size}", jobs=size, children=0, prefix=f"jobs{size}", stdout=quiet)
    print(f"Stored the data in {time.perf_counter() - t0:.1f} s.", flush=True)
    # As in a running portal, where the task (or its sweep) has stored each job's insights: a job past
    # 2,000 training jobs is then shown from their summary, not summed child by child (as bench_api).
    from hpo_jobs import services
    from hpo_jobs.models import HpoJob

    t0 = time.perf_counter()
    for job_id in HpoJob.objects.filter(project__slug="bench").values_list("pk", flat=True):
        services.refresh_insights(job_id)
    print(f"Computed the jobs' insights in {time.perf_counter() - t0:.1f} s.", flush=True)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would have by the time anyone looks
    print(flush=True)

    _, owner = ensure_project("bench")
    for size in SIZES:
        ensure_project(f"jobs-{size}")
    client = Client()
    client.force_login(owner)

    def job(size: int, suffix: str = "") -> str:
        return f"/projects/bench/hpo-jobs/children-{size}/{suffix}"

    def middle(size: int) -> int:
        """The job list's middle page number (of 20-job pages)."""
        return max(1, (size + 19) // 20 // 2)

    def middle_by_next(size: int) -> str:
        """The middle page's address as the Next link of the page before it gives it (with its cursor)."""
        if middle(size) == 1:
            return f"/projects/jobs-{size}/hpo-jobs/"
        body = client.get(f"/projects/jobs-{size}/hpo-jobs/?page={middle(size) - 1}").content.decode()
        return html.unescape(re.search(r'href="([^"]*)" rel="next"', body).group(1))

    # (label, URL for a size, streaming): every page a member reads, each offered sort, first and
    # last page (a page number past the end gives the last page); the job list's middle page as its
    # Next link reaches it (with a cursor) and as a bookmarked page number reaches it (an OFFSET).
    cases: list[tuple[str, object, bool]] = [
        ("details page (overview)", lambda n: job(n), False),
        ("training jobs tab", lambda n: job(n, "?tab=training-jobs"), False),
    ]
    for sort in views.TRAINING_JOB_SORTS:
        cases.append((f"training jobs, sort {sort}", lambda n, s=sort: job(n, f"parts/training-jobs/?sort={s}"), False))
    cases += [
        # A tuned hyperparameter's order, from the keys the database keeps for it (TrainingJobSortKey).
        ("training jobs, sort hp:eta", lambda n: job(n, "parts/training-jobs/?sort=hp:eta"), False),
        ("training jobs, sort -hp:eta", lambda n: job(n, "parts/training-jobs/?sort=-hp:eta"), False),
        ("training jobs, sort -hp:eta, last page", lambda n: job(n, "parts/training-jobs/?sort=-hp:eta&last=1"), False),
        ("training jobs, last page", lambda n: job(n, "parts/training-jobs/?last=1"), False),
        ("charts tab", lambda n: job(n, "?tab=charts"), False),
        ("training-jobs.csv", lambda n: job(n, "training-jobs.csv"), True),
        ("job list", lambda n: f"/projects/jobs-{n}/hpo-jobs/", False),
        ("job list, last page", lambda n: f"/projects/jobs-{n}/hpo-jobs/?page=999999", False),
        ("job list, middle page by Next", lambda n: middle_by_next(n), False),
        ("job list, middle page by number", lambda n: f"/projects/jobs-{n}/hpo-jobs/?page={middle(n)}", False),
        ("job list, searched", lambda n: f"/projects/jobs-{n}/hpo-jobs/?q=00&status=Completed", False),
        ("job list, best first", lambda n: f"/projects/jobs-{n}/hpo-jobs/?sort=-best", False),
        ("job list, best first, middle page", lambda n: f"/projects/jobs-{n}/hpo-jobs/?sort=-best&page={middle(n)}",
         False),
    ]
    for sort in views.JOB_SORTS:  # every other order the list offers, its first page
        if sort not in ("-created", "-best"):
            cases.append((f"job list, sort {sort}", lambda n, s=sort: f"/projects/jobs-{n}/hpo-jobs/?sort={s}", False))
    if args.cases:
        cases = [case for case in cases if re.search(args.cases, case[0])]
    width = max(34, *(len(label) for label, _, _ in cases))
    sizes_header = "".join(f"{f'@{n:,}':>9}" for n in SIZES)
    ratios_header = "".join(f"{f'x@{n:,}':>9}" for n in SIZES[1:])
    header = f"{'page':{width}} {'queries':>9} {sizes_header}  {ratios_header}  verdict"
    print(f"{database_label()}: wall ms per request (medians of {RUNS}) for a job with N children "
          f"(or a project with N jobs), and the ratio to N={SIZES[0]}.")
    print(header)
    print("-" * len(header))
    failed = []
    for label, url_for, streaming in cases:
        results = measure(client, [url_for(n) for n in SIZES], streaming)
        queries = [q for q, _, _ in results]
        times = [w for _, w, _ in results]
        ratios = [w / times[0] for w in times[1:]]
        verdicts = []
        if any(later > earlier for earlier, later in zip(queries, queries[1:])):
            # Fewer queries for a larger job is allowed: past 2,000 children it reads stored figures.
            verdicts.append("QUERIES GROW")
        if streaming:
            # The CSV writes every row: its time grows with the rows by nature; its cost per row is shown.
            verdicts.append(f"{(times[-1] - times[0]) * 1000 / (SIZES[-1] - SIZES[0]):.0f} µs/row")
        for n, ratio in zip(SIZES[1:], ratios):
            if not streaming and n in LIMITS and ratio > LIMITS[n]:
                verdicts.append(f"@{n:,} over {LIMITS[n]}x")
        if label == "charts tab" and max(size for _, _, size in results) > MAX_CHARTS_BYTES:
            verdicts.append(f"SIZE {max(size for _, _, size in results):,} B")
        if any(not v.endswith("µs/row") for v in verdicts):
            failed.append(label)
        query_text = str(queries[0]) if len(set(queries)) == 1 else "→".join(map(str, queries))
        print(f"{label:{width}} {query_text:>9} {''.join(f'{w:>9.1f}' for w in times)}  "
              f"{''.join(f'{r:>8.2f}x' for r in ratios)}  {', '.join(verdicts) or 'ok'}", flush=True)
    print()
    print(f"Required: constant queries; wall time within {LIMITS[10_000]}x of N={SIZES[0]} at 10,000 and "
          f"{LIMITS[50_000]}x at 50,000; the charts tab under {MAX_CHARTS_BYTES:,} bytes.")
    if failed:
        print(f"NOT MET ({len(failed)} of {len(cases)}): {', '.join(failed)}")
        return 1
    print("All hold.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
