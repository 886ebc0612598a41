"""A job's page: header and actions, overview, best training job, training jobs table, definitions,
configuration, charts, the live parts htmx refreshes, and stop."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hpo_jobs.models import HpoJob, TrainingJob

from .factories import bench_request, build_job, multi_definition_request

pytestmark = pytest.mark.django_db
URL = "/projects/demo/hpo-jobs/{}/"


@pytest.fixture
def rich_job(project, alice):
    """A completed XGBoost job with 40 training jobs: some failed, some stopped, a best one."""
    return build_job(project, alice, "xgb-rich", 40, seed=7)


def page(client, name: str, **params) -> str:
    response = client.get(URL.format(name), params)
    assert response.status_code == 200
    return response.content.decode()


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start: start + 20_000]


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-training-job="([^"]*)"', html)


# ---- header -----------------------------------------------------------------------------------------
def test_the_header_shows_status_progress_best_value_and_exports(alice_client, rich_job):
    header = section(page(alice_client, "xgb-rich"), "job-header")
    assert 'id="job-status"' in header and ">Completed<" in header
    assert f"{rich_job.finished_count} <span class=\"muted\">of 40 finished" in header
    assert "Best validation:auc" in header
    assert "/projects/demo/hpo-jobs/xgb-rich/training-jobs.csv" in header
    assert "/projects/demo/hpo-jobs/xgb-rich/request.json" in header
    assert "/projects/demo/hpo-jobs/xgb-rich/clone/" in header


@pytest.mark.parametrize("client_name,status,shown", [
    ("alice_client", "InProgress", True),  # creator and owner
    ("bob_client", "InProgress", False),  # a member who did not create it
    ("admin_client_", "InProgress", True),  # staff
    ("alice_client", "Pending", True),
    ("alice_client", "Stopping", False),  # already on its way
    ("alice_client", "Completed", False),
    ("alice_client", "Failed", False),
])
def test_stop_is_offered_only_to_who_may_and_only_while_the_job_runs(request, make_job, client_name, status, shown):
    client = request.getfixturevalue(client_name)
    make_job("stoppable", status=status)
    html = page(client, "stoppable")
    assert ('action="/projects/demo/hpo-jobs/stoppable/stop/"' in html) is shown


def test_a_member_may_stop_their_own_job(bob_client, bob, make_job):
    make_job("bobs-job", created_by=bob)
    assert 'action="/projects/demo/hpo-jobs/bobs-job/stop/"' in page(bob_client, "bobs-job")


def test_clone_is_not_offered_to_staff_outside_the_project(admin_client_, make_job):
    make_job("some-job")
    assert "/clone/" not in page(admin_client_, "some-job")


def test_a_stopping_job_says_it_waits_for_the_engine(alice_client, make_job):
    make_job("halting", status="Stopping", stop_requested_at=timezone.now())
    header = section(page(alice_client, "halting"), "job-header")
    assert ">Stopping<" in header and "waiting for the engine to confirm" in header


def test_a_failed_job_shows_why(alice_client, make_job):
    make_job("broken", status="Failed", failure_reason="ResourceLimitExceeded: The account-level service limit was exceeded")
    header = section(page(alice_client, "broken"), "job-header")
    assert "Why it failed:" in header and "ResourceLimitExceeded: The account-level service limit" in header


def test_an_engine_error_on_an_active_job_is_shown(alice_client, make_job):
    make_job("throttled", engine_error="ThrottlingException: Rate exceeded")
    assert "Rate exceeded" in section(page(alice_client, "throttled"), "job-header")


def test_an_unknown_job_is_not_found(alice_client, project):
    assert alice_client.get(URL.format("no-such-job")).status_code == 404


def test_job_names_are_case_insensitive_in_the_address(alice_client, make_job):
    make_job("Mixed-Case")
    html = page(alice_client, "mixed-case")
    assert 'id="job-title">Mixed-Case<' in html  # shown (and linked) by its own name


def test_a_job_of_another_project_is_not_found_here(alice_client, make_job, alice):
    from projects.models import Membership, Project

    other = Project.objects.create(name="Other", slug="other")
    Membership.objects.create(project=other, user=alice, role=Membership.Role.OWNER)
    make_job("elsewhere", project_=other)
    assert alice_client.get(URL.format("elsewhere")).status_code == 404
    assert alice_client.get("/projects/other/hpo-jobs/elsewhere/").status_code == 200


# ---- overview ---------------------------------------------------------------------------------------
def test_the_overview_shows_the_engines_counters(alice_client, make_job):
    make_job("counted", training_job_status_counters={
        "Completed": 7, "InProgress": 2, "Stopped": 1, "RetryableError": 3, "NonRetryableError": 4},
        objective_status_counters={"Succeeded": 8, "Pending": 2, "Failed": 7})
    html = section(page(alice_client, "counted"), "overview")
    for key, value in [("Completed", 7), ("InProgress", 2), ("Stopped", 1), ("RetryableError", 3),
                       ("NonRetryableError", 4)]:
        assert re.search(rf'data-counter="{key}"><dt>[^<]+</dt><dd>{value}</dd>', html), key
    for key, value in [("Succeeded", 8), ("Pending", 2), ("Failed", 7)]:
        assert re.search(rf'data-objective-counter="{key}"><dt>[^<]+</dt><dd>{value}</dd>', html), key
    assert "Retryable failures" in html and "Non-retryable failures" in html


def test_without_engine_counters_the_stored_rows_are_counted(alice_client, make_job):
    job = make_job("fresh", children=3)
    TrainingJob.objects.filter(hpo_job=job, name__endswith="001-abcdef12").update(status="Failed")
    html = section(page(alice_client, "fresh"), "overview")
    assert re.search(r'data-counter="Completed"><dt>[^<]+</dt><dd>2</dd>', html)
    assert re.search(r'data-counter="Failed"><dt>[^<]+</dt><dd>1</dd>', html)


def test_the_failure_rollup_groups_child_failures_by_reason(alice_client, make_job):
    job = make_job("flaky", children=9)
    children = list(job.training_jobs.order_by("name"))
    for tj, reason in zip(children, ["OOM"] * 4 + ["Bad CSV"] * 2 + [""]):
        tj.status, tj.failure_reason = "Failed", reason
        tj.save()
    html = page(alice_client, "flaky")
    rollup = html[html.index("Why training jobs failed"):]
    assert "7 training jobs failed, for 3 different reasons" in rollup
    found = re.findall(r'<div class="reason">([^<]+)</div></td>\s*<td class="num"><span class="rollup-count">(\d+)', rollup)
    assert found == [("OOM", "4"), ("Bad CSV", "2"), ("No reason given", "1")]
    assert "?tab=training-jobs&amp;status=Failed" in rollup


def test_the_rollup_lists_ten_reasons_and_counts_the_rest(alice_client, make_job):
    job = make_job("many-reasons", children=14)
    for i, tj in enumerate(job.training_jobs.order_by("name")):
        tj.status, tj.failure_reason = "Failed", f"reason {i:02d}"
        tj.save()
    rollup = page(alice_client, "many-reasons").split("Why training jobs failed")[1]
    assert rollup.count('<div class="reason">') == 10
    assert re.search(r'Other reasons</td><td class="num">4<', rollup)


def test_the_best_training_job_shows_every_hyperparameter_and_links_to_its_page(alice_client, rich_job):
    best = rich_job.best_training_job
    html = section(page(alice_client, "xgb-rich"), "best")
    assert best["TrainingJobName"] in html
    assert f'href="/projects/demo/hpo-jobs/xgb-rich/training-jobs/{best["TrainingJobName"]}/"' in html
    for name, value in best["TunedHyperParameters"].items():
        assert re.search(rf'<th scope="row" class="mono">{name}</th><td class="mono">{re.escape(value)}</td>', html), name
    for name, value in rich_job.request["TrainingJobDefinition"]["StaticHyperParameters"].items():
        assert re.search(rf'<th scope="row" class="mono">{name}</th><td class="mono">{re.escape(value)}</td>', html), name
    assert "validation:auc" in html


def test_warm_started_jobs_show_the_overall_best_too(alice_client, make_job):
    parent = make_job("parent-job", status="Completed", children=2)
    request = bench_request("warm-child", 4)
    request["WarmStartConfig"] = {"WarmStartType": "IdenticalDataAndAlgorithm",
                                  "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-job"}]}
    parent_child = parent.training_jobs.first()
    make_job("warm-child", status="Completed", request=request,
             best_training_job={"TrainingJobName": "warm-child-001-aaaaaaaa", "TunedHyperParameters": {"eta": "0.2"},
                                "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc", "Value": 0.8}},
             overall_best_training_job={"TrainingJobName": parent_child.name, "TuningJobName": "parent-job",
                                        "TunedHyperParameters": {"eta": "0.1"},
                                        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc",
                                                                                        "Value": 0.9}})
    html = page(alice_client, "warm-child")
    assert "Overall best training job" in html
    overall = html[html.index("Overall best training job"):]
    assert f'href="/projects/demo/hpo-jobs/parent-job/training-jobs/{parent_child.name}/"' in overall
    assert "a warm-start parent" in overall and "0.9" in overall


def test_before_the_engine_names_a_best_job_the_best_stored_child_is_shown(alice_client, make_job):
    make_job("early", children=5)  # make_job's children: values 0.5 .. 0.504, no BestTrainingJob yet
    html = section(page(alice_client, "early"), "best")
    assert "early-005-abcdef12" in html and "best of the stored training jobs" in html


# ---- training jobs ----------------------------------------------------------------------------------
def test_the_training_jobs_tab_lists_them_best_first_with_hyperparameter_columns(alice_client, rich_job):
    html = page(alice_client, "xgb-rich", tab="training-jobs")
    values = list(rich_job.training_jobs.exclude(objective_value=None).order_by("-objective_value")
                  .values_list("name", flat=True))
    assert rows(html)[: len(values)] == values
    for name in ("eta", "max_depth", "subsample", "min_child_weight"):
        assert re.search(rf'<th scope="col" class="num mono hp-col">\s*<a class="sort-link" href="[^"]*sort=hp%3A{name}"', html)
    assert len(rows(html)) == 40


@pytest.mark.parametrize("sort,key,reverse", [
    ("objective", "objective_value", False),
    ("created", "creation_time", False),
    ("-created", "creation_time", True),
    ("name", "name", False),
])
def test_the_training_jobs_sort(alice_client, rich_job, sort, key, reverse):
    html = page(alice_client, "xgb-rich", tab="training-jobs", sort=sort)
    jobs = list(rich_job.training_jobs.all())
    with_value = [j for j in jobs if getattr(j, key) is not None]
    expected = [j.name for j in sorted(with_value, key=lambda j: getattr(j, key), reverse=reverse)]
    expected += [j.name for j in jobs if getattr(j, key) is None]
    assert rows(html)[: len(with_value)] == expected[: len(with_value)]
    assert set(rows(html)) == {j.name for j in jobs}


def test_sorting_by_duration_puts_running_jobs_after_every_ended_one(alice_client, make_job):
    job = make_job("lasting", children=0)
    now = timezone.now()
    for name, minutes, ended in [("short", 2, True), ("running", 1, False), ("long", 30, True), ("mid", 9, True)]:
        job.training_jobs.create(name=name, status="Completed" if ended else "InProgress", creation_time=now,
                                 start_time=now - timezone.timedelta(minutes=minutes),
                                 end_time=now if ended else None)
    assert rows(page(alice_client, "lasting", tab="training-jobs", sort="duration")) == ["short", "mid", "long", "running"]
    assert rows(page(alice_client, "lasting", tab="training-jobs", sort="-duration")) == ["running", "long", "mid", "short"]


def test_sorting_by_status_groups_statuses(alice_client, rich_job):
    html = page(alice_client, "xgb-rich", tab="training-jobs", sort="status")
    statuses = re.findall(r'data-training-job="[^"]*" data-status="([^"]*)"', html)
    assert statuses == sorted(statuses)


def test_the_training_jobs_filter_by_status(alice_client, rich_job):
    html = page(alice_client, "xgb-rich", tab="training-jobs", status="Failed")
    failed = set(rich_job.training_jobs.filter(status="Failed").values_list("name", flat=True))
    assert failed and set(rows(html)) == failed
    assert f"{len(failed)} of 40 training jobs match" in html


def test_the_training_jobs_filter_by_definition(alice_client, make_job):
    job = make_job("two-defs", request=multi_definition_request("two-defs"), children=6)
    for i, tj in enumerate(job.training_jobs.order_by("name")):
        tj.definition_name = "deep" if i < 4 else "shallow"
        tj.save()
    html = page(alice_client, "two-defs", tab="training-jobs", definition="shallow")
    assert len(rows(html)) == 2
    assert "deep (4)" in html and "shallow (2)" in html


def link(html: str, rel: str) -> str | None:
    """The href of the table's pagination link ``rel`` (next, prev) or labelled ``rel`` (Last page)."""
    nav = html[html.index('aria-label="Training job pages"'):] if 'aria-label="Training job pages"' in html else ""
    found = re.search(rf'href="([^"]*)" (?:rel="{rel}"|aria-label="{rel}")', nav)
    return unescape(found.group(1)) if found else None


def get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def walk(client, html: str, rel: str) -> list[list[str]]:
    """The rows of this page and of every page reached by following ``rel`` links."""
    pages = [rows(html)]
    while (url := link(html, rel)) is not None:
        html = get(client, url)
        pages.append(rows(html))
        assert len(pages) < 100
    return pages


def test_the_training_jobs_page_by_cursor_forwards_backwards_and_to_the_last_page(alice_client, make_job):
    make_job("big", children=120)
    first = page(alice_client, "big", tab="training-jobs", sort="name")
    forwards = walk(alice_client, first, "next")
    assert [len(p) for p in forwards] == [50, 50, 20]
    everything = [name for p in forwards for name in p]
    assert everything == [f"big-{i:03d}-abcdef12" for i in range(1, 121)]
    assert "Page 1 of" not in first and link(first, "prev") is None

    # The last page is the last 50 rows; from there the previous pages lead back to the first row.
    last = get(alice_client, link(first, "Last page"))
    assert rows(last) == everything[-50:] and link(last, "next") is None
    backwards = walk(alice_client, last, "prev")
    assert [len(p) for p in backwards] == [50, 50, 20]
    assert [name for p in backwards[::-1] for name in p] == everything


@pytest.mark.parametrize("sort", ["-objective", "objective", "status", "-created", "duration", "hp:eta"])
def test_paging_misses_and_repeats_nothing_under_ties_and_while_rows_are_added(alice_client, make_job, sort):
    job = make_job("ties", children=0, request=bench_request("ties", 200))  # it tunes eta
    now = timezone.now()
    TrainingJob.objects.bulk_create(
        # Three values only, some with none; many creation times alike: every sort key ties.
        TrainingJob(hpo_job=job, name=f"ties-{i:03d}", status=("Completed", "Failed")[i % 2],
                    objective_value=None if i % 7 == 0 else float(i % 3), objective_status="Succeeded",
                    creation_time=now - timezone.timedelta(minutes=i % 4), end_time=now,
                    tuned_hyperparameters={"eta": str(i % 5)})
        for i in range(130)
    )
    html = page(alice_client, "ties", tab="training-jobs", sort=sort)
    seen = rows(html)
    # Rows arrive while someone pages: they may show or not, but nothing seen repeats, nothing is lost.
    TrainingJob.objects.bulk_create(
        TrainingJob(hpo_job=job, name=f"ties-new-{i}", status="Completed", objective_value=float(i % 3),
                    creation_time=now, tuned_hyperparameters={"eta": str(i % 5)})
        for i in range(30)
    )
    while (url := link(html, "next")) is not None:
        html = get(alice_client, url)
        seen += rows(html)
    assert len(seen) == len(set(seen))
    assert {f"ties-{i:03d}" for i in range(130)} <= set(seen)


def test_a_deep_page_costs_the_queries_of_the_first_and_counts_nothing(alice_client, make_job):
    job = make_job("deep", children=160, training_job_status_counters={"Completed": 160})
    url = URL.format("deep") + "parts/training-jobs/"
    with CaptureQueriesContext(connection) as first_queries:
        html = get(alice_client, url + "?sort=name")
    html = get(alice_client, link(html, "next").replace(URL.format("deep"), url))
    with CaptureQueriesContext(connection) as deep_queries:
        get(alice_client, link(html, "next").replace(URL.format("deep"), url))
    assert len(deep_queries) == len(first_queries)
    table = f'"hpo_jobs_trainingjob"."hpo_job_id" = {job.pk}'
    for query in deep_queries.captured_queries:
        assert not ("COUNT(" in query["sql"] and "hpo_jobs_trainingjob" in query["sql"]), query["sql"]
        assert "OFFSET" not in query["sql"]
    assert any(table in q["sql"] for q in deep_queries.captured_queries)


@pytest.mark.parametrize("suffix", ["parts/header/", "parts/training-jobs/", "?tab=training-jobs"])
def test_the_tabs_and_live_parts_read_the_stored_counters_instead_of_counting_the_children(
        alice_client, make_job, suffix):
    # The engine counted more than the stored rows yet: the pages say what the engine said.
    make_job("counted", children=12, training_job_status_counters={
        "Completed": 30, "InProgress": 2, "Stopped": 1, "RetryableError": 1, "NonRetryableError": 3})
    with CaptureQueriesContext(connection) as captured:
        response = alice_client.get(URL.format("counted") + suffix)
    html = response.content.decode()
    assert response.status_code == 200
    counting = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"] and "trainingjob" in q["sql"]]
    assert counting == []
    assert ">37<" in html or "All (37)" in html
    if "training-jobs" in suffix:
        assert "Failed (4)" in html and "Completed (30)" in html


def test_a_cursor_of_another_sort_or_not_ours_gives_the_first_page(alice_client, make_job):
    make_job("cursors", children=60)
    first = page(alice_client, "cursors", tab="training-jobs", sort="name")
    cursor = re.search(r"after=([^&\"]+)", link(first, "next")).group(1)
    for params in ({"sort": "-created", "after": cursor}, {"sort": "name", "after": "bm90IG91cnM"},
                   {"sort": "name", "before": "!!"}, {"sort": "-objective", "after": cursor}):
        html = page(alice_client, "cursors", tab="training-jobs", **params)
        assert len(rows(html)) == 50 and link(html, "prev") is None


@pytest.mark.parametrize("params", [
    {"sort": "objective_value; drop"}, {"status": "Nope"}, {"definition": "<x>"}, {"page": "last"},
    {"tab": "../../etc"}, {"tab": "training-jobs", "sort": "-nope", "page": "0"},
])
def test_bad_parameters_fall_back_to_defaults(alice_client, rich_job, params):
    assert alice_client.get(URL.format("xgb-rich"), params).status_code == 200
    assert alice_client.get(URL.format("xgb-rich") + "parts/training-jobs/", params).status_code == 200


def test_hyperparameter_names_with_markup_are_shown_as_text(alice_client, make_job):
    evil = '<script>alert("hp")</script>'
    job = make_job("markup-hp", children=2, best_training_job={
        "TrainingJobName": "markup-hp-001-abcdef12", "TunedHyperParameters": {evil: evil},
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": evil, "Value": 1.0}})
    job.training_jobs.update(tuned_hyperparameters={evil: evil}, failure_reason=evil, definition_name=evil)
    for tab in ("overview", "training-jobs", "charts", "definitions", "configuration"):
        html = page(alice_client, "markup-hp", tab=tab)
        assert "<script>alert" not in html, tab
    assert "&lt;script&gt;alert(&quot;hp&quot;)&lt;/script&gt;" in page(alice_client, "markup-hp", tab="training-jobs")


def test_a_job_name_with_markup_is_shown_as_text(alice_client, make_job):
    name = "<img src=x onerror=alert(1)>"
    make_job(name, children=1)
    response = alice_client.get(f"/projects/demo/hpo-jobs/{name}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


# ---- timing: the completion criteria a job was given -----------------------------------------------
def _timing_text(client, job) -> str:
    html = client.get(f"/projects/{job.project.slug}/hpo-jobs/{job.name}/").content.decode()
    timing = html.split('id="timing-heading"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", timing))


def test_jobs_not_improving_count_is_not_presented_as_a_criterion_nobody_set(alice_client, make_job):
    # The engine always reports how many training jobs in a row did not improve the best by 1%; a job
    # created with no completion criteria must not read as if "11 (completion criterion)" had been
    # asked for, nor is that count "jobs since the best" (the pages count those from the rows).
    job = make_job("no-criterion", status="Completed", children=12,
                   completion_details={"NumberOfTrainingJobsObjectiveNotImproving": 11})
    text = _timing_text(alice_client, job)
    assert "completion criterion" not in text
    assert "Without a 1% improvement" not in text and "Jobs since the best 11" not in text


def test_jobs_not_improving_count_shows_the_criterion_when_one_was_set(alice_client, make_job):
    request = {
        "HyperParameterTuningJobName": "with-criterion",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2},
            "TrainingJobEarlyStoppingType": "Off",
            "TuningJobCompletionCriteria": {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5}},
        },
        "TrainingJobDefinitions": [],
    }
    job = make_job("with-criterion", status="InProgress", children=4, request=request,
                   completion_details={"NumberOfTrainingJobsObjectiveNotImproving": 3})
    text = _timing_text(alice_client, job)
    assert "Without a 1% improvement 3 (the job completes at 5)" in text


# ---- definitions and configuration ------------------------------------------------------------------
def test_the_definitions_tab_shows_each_definition_in_full(alice_client, make_job):
    make_job("two-defs", request=multi_definition_request("two-defs"))
    html = page(alice_client, "two-defs", tab="definitions")
    for text in ("deep", "shallow", "XGBoost", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                 "validation:auc", "eta", "0.01 – 0.5", "Logarithmic", "max_depth", "1 – 3", "binary:logistic",
                 "s3://bench-bucket/breast-cancer/train/", "text/csv", "ml.m5.large", "10 GB", "1h 00m",
                 "arn:aws:iam::123456789012:role/SageMakerExecution", "s3://bench-bucket/output/", "File"):
        assert text in html, text


def test_the_configuration_tab_shows_the_settings_and_the_exact_request(alice_client, make_job):
    request = bench_request("configured", 30, parallel=3)
    request["WarmStartConfig"] = {"WarmStartType": "TransferLearning",
                                  "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "older-job"}]}
    request["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"]["TargetObjectiveMetricValue"] = 0.99
    make_job("older-job", status="Completed")
    make_job("configured", request=request)
    html = page(alice_client, "configured", tab="configuration")
    for text in ("Bayesian", "Max training jobs</dt><dd>30", "Max in parallel</dt><dd>3", "Early stopping</dt><dd>Auto",
                 "Random seed</dt><dd>42", "after 50 training jobs", "0.99", "TransferLearning",
                 'href="/projects/demo/hpo-jobs/older-job/"', "&quot;HyperParameterTuningJobName&quot;: &quot;configured&quot;"):
        assert text in html, text


# ---- charts -----------------------------------------------------------------------------------------
def test_the_charts_tab_draws_a_mark_per_training_job(alice_client, rich_job):
    html = page(alice_client, "xgb-rich", tab="charts")
    scored = rich_job.training_jobs.exclude(objective_value=None).count()
    history = html[html.index('id="objective-history"'): html.index("</svg>", html.index('id="objective-history"'))]
    assert history.count('class="mark"') + history.count('class="mark best-mark"') == scored
    parallel = html[html.index('id="parallel-1"'):]
    parallel = parallel[: parallel.index("</svg>")]
    assert parallel.count('class="mark"') + parallel.count('class="mark best-mark"') == 40
    assert 'role="img"' in history and "Data table" in html


def test_charts_of_a_job_with_two_definitions_get_one_parallel_chart_each(alice_client, make_job):
    job = make_job("two-defs", request=multi_definition_request("two-defs"), children=6)
    for i, tj in enumerate(job.training_jobs.order_by("name")):
        tj.definition_name = "deep" if i < 4 else "shallow"
        tj.save()
    html = page(alice_client, "two-defs", tab="charts")
    assert 'id="parallel-1"' in html and 'id="parallel-2"' in html
    assert "Definition deep · 4 training jobs" in html and "Definition shallow · 2 training jobs" in html


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg class=\"chart .*?</svg>", html, flags=re.S)


def test_the_charts_of_a_large_job_stay_small_and_aggregate(alice_client, project, alice):
    from hpo_jobs.pages import charts

    large = build_job(project, alice, "large", 5_000, seed=5)
    html = page(alice_client, "large", tab="charts")
    history, parallel = _svgs(html)
    # A density of bounded cells, not a mark per job; the best job keeps its ring and its link.
    assert history.count("<rect") <= charts.DENSITY_COLUMNS * charts.DENSITY_ROWS
    assert history.count('class="mark') == 1 and f'data-best="{large.best_training_job["TrainingJobName"]}"' in history
    assert "5,000 training jobs with an objective value" not in history  # only those with a value count
    assert "drawn as a density" in history and 'class="best-line"' in history
    lines = parallel.count('class="mark"') + parallel.count('class="mark best-mark"')
    assert charts.PARALLEL_TOP < lines <= charts.PARALLEL_TOP + charts.PARALLEL_SAMPLE
    assert "of 5,000 training jobs" in parallel and 'class="mark best-mark"' in parallel
    assert len(history) + len(parallel) < 400_000

    # The size does not grow with the job, nor do the queries.
    larger_job = build_job(project, alice, "larger", 12_000, seed=5)
    cache.clear()
    with CaptureQueriesContext(connection) as large_queries:
        page(alice_client, "large", tab="charts")
    with CaptureQueriesContext(connection) as larger_queries:
        larger = page(alice_client, "larger", tab="charts")
    assert len(larger_queries) == len(large_queries)
    assert sum(map(len, _svgs(larger))) < 1.2 * (len(history) + len(parallel))

    # Computed once per state of the job: read again from the cache, until a sync changes the job.
    with CaptureQueriesContext(connection) as cached_queries:
        assert _svgs(page(alice_client, "larger", tab="charts")) == _svgs(larger)
    assert len(cached_queries) < len(larger_queries)
    larger_job.training_jobs.filter(objective_value__gt=0.95).update(objective_value=None)
    HpoJob.objects.filter(pk=larger_job.pk).update(last_synced_at=timezone.now())
    assert _svgs(page(alice_client, "larger", tab="charts"))[0] != _svgs(larger)[0]

    # The CSV keeps every training job.
    response = alice_client.get(URL.format("large") + "training-jobs.csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 5_001


def test_the_best_jobs_standing_in_a_large_job_is_counted_once_per_state_of_the_job(alice_client, project, alice):
    job = build_job(project, alice, "ranked", 2_500, seed=9)
    cache.clear()
    with CaptureQueriesContext(connection) as first:
        html = section(page(alice_client, "ranked"), "best-standing")
    evaluated = job.training_jobs.exclude(objective_value=None).count()
    assert f"1 of {evaluated:,} evaluated training jobs" in html
    with CaptureQueriesContext(connection) as again:
        assert section(page(alice_client, "ranked"), "best-standing")[:2000] == html[:2000]
    assert len(again) < len(first)
    # A sync stored children that are not evaluated any more: the next view counts again.
    job.training_jobs.filter(status="Stopped").update(objective_value=None)
    HpoJob.objects.filter(pk=job.pk).update(last_synced_at=timezone.now())
    now_evaluated = job.training_jobs.exclude(objective_value=None).count()
    assert now_evaluated < evaluated
    assert f"1 of {now_evaluated:,} evaluated training jobs" in section(page(alice_client, "ranked"), "best-standing")


# ---- live parts -------------------------------------------------------------------------------------
PARTS = ["parts/header/", "parts/overview/", "parts/training-jobs/", "parts/charts/"]


@pytest.mark.parametrize("part", PARTS)
def test_an_active_jobs_parts_refresh_themselves(alice_client, make_job, part):
    make_job("live-job", status="InProgress", children=2)
    html = alice_client.get(URL.format("live-job") + part).content.decode()
    assert 'hx-trigger="every ' in html
    assert f'hx-get="/projects/demo/hpo-jobs/live-job/{part}' in html


@pytest.mark.parametrize("part", PARTS)
def test_an_ended_jobs_parts_stop_refreshing(alice_client, make_job, part):
    make_job("ended-job", status="Completed", children=2)
    html = alice_client.get(URL.format("ended-job") + part).content.decode()
    assert "hx-trigger" not in html.replace('hx-trigger="change"', "")


@pytest.mark.parametrize("tab,part", [("overview", "overview"), ("training-jobs", "training-jobs"),
                                      ("charts", "charts")])
def test_the_page_of_an_active_job_polls_its_header_and_tab(alice_client, make_job, tab, part):
    make_job("live-job", status="InProgress", children=2)
    html = page(alice_client, "live-job", tab=tab)
    assert f'hx-get="/projects/demo/hpo-jobs/live-job/parts/header/?tab={tab}&amp;shown=InProgress"' in html
    assert f'hx-get="/projects/demo/hpo-jobs/live-job/parts/{part}/' in html
    assert "django_htmx/htmx-2.min.js" in html


def test_the_table_part_keeps_the_sort_and_filter(alice_client, make_job):
    make_job("live-job", status="InProgress", children=2)
    html = page(alice_client, "live-job", tab="training-jobs", sort="name", status="Completed")
    poll = re.search(r'hx-get="(/projects/demo/hpo-jobs/live-job/parts/training-jobs/\?[^"]*)"', html).group(1)
    assert "sort=name" in poll and "status=Completed" in poll and "tab=training-jobs" in poll


def test_the_header_part_turns_completed_when_the_job_does(alice_client, make_job):
    job = make_job("turning", status="InProgress")
    assert ">In Progress<" in alice_client.get(URL.format("turning") + "parts/header/").content.decode()
    HpoJob.objects.filter(pk=job.pk).update(status="Completed", ended_at=timezone.now())
    html = alice_client.get(URL.format("turning") + "parts/header/").content.decode()
    assert ">Completed<" in html and "hx-trigger" not in html


# ---- stop -------------------------------------------------------------------------------------------
def test_stop_asks_the_service_and_says_so(alice_client, make_job, monkeypatch):
    from hpo_jobs import services

    calls = []

    def fake_request_stop(job, user):
        calls.append((job.name, user.username))
        HpoJob.objects.filter(pk=job.pk).update(status="Stopping")
        job.refresh_from_db()
        return True

    monkeypatch.setattr(services, "request_stop", fake_request_stop)
    make_job("to-stop", status="InProgress")
    response = alice_client.post(URL.format("to-stop") + "stop/", follow=True)
    assert calls == [("to-stop", "alice")]
    html = response.content.decode()
    assert "Stopping “to-stop”" in html and ">Stopping<" in html


def test_stop_through_the_real_service_marks_the_job_stopping(alice_client, make_job, django_capture_on_commit_callbacks,
                                                              monkeypatch):
    from hpo_jobs import services

    queued = []
    monkeypatch.setattr(services, "_queue_stop", lambda job_id: queued.append(job_id) or True)
    job = make_job("real-stop", status="InProgress", launch_attempts=1, launched_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(URL.format("real-stop") + "stop/")
    job.refresh_from_db()
    assert job.status == "Stopping" and queued == [job.pk]


def test_stopping_an_ended_job_changes_nothing(alice_client, make_job, monkeypatch):
    from hpo_jobs import services

    monkeypatch.setattr(services, "request_stop", lambda job, user: pytest.fail("must not be called"))
    make_job("done-job", status="Completed")
    html = alice_client.post(URL.format("done-job") + "stop/", follow=True).content.decode()
    assert "has already ended" in html


def test_stop_is_post_only_and_checks_who_asks(alice_client, bob_client, make_job):
    make_job("guarded", status="InProgress")
    assert alice_client.get(URL.format("guarded") + "stop/").status_code == 405
    assert bob_client.post(URL.format("guarded") + "stop/").status_code == 403
    assert HpoJob.objects.get(name="guarded").status == "InProgress"


# ---- speed ------------------------------------------------------------------------------------------
def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200
        if response.streaming:
            b"".join(response.streaming_content)
    return len(captured)


@pytest.mark.parametrize("suffix", ["", "?tab=training-jobs", "?tab=training-jobs&sort=-duration&status=Completed", "?tab=insights",
                                    "?tab=charts", "?tab=definitions", "?tab=configuration", "parts/overview/",
                                    "parts/training-jobs/", "parts/charts/", "parts/header/"])
def test_the_number_of_queries_does_not_grow_with_the_children(alice_client, project, alice, suffix):
    build_job(project, alice, "small", 5, seed=3)
    build_job(project, alice, "large", 150, seed=3)
    assert _queries(alice_client, URL.format("small") + suffix) == _queries(alice_client, URL.format("large") + suffix)


def test_the_training_jobs_table_prints_every_value_of_a_row_as_text(alice_client, make_job):
    """Names in attributes and links, hyperparameters (compact past SORTED_HYPERPARAMETERS_MAX) and a
    failure reason: escaped, however the row is put together."""
    evil = '"><b>x</b>'
    job = make_job("markup-row", children=2)
    many = {f"{evil}{i}": evil for i in range(HpoJob.SORTED_HYPERPARAMETERS_MAX + 1)}
    failed, done = job.training_jobs.order_by("id")
    failed.name, failed.status, failed.failure_reason = f"tj{evil}", "Failed", evil
    failed.tuned_hyperparameters = many
    failed.save()
    done.tuned_hyperparameters = many
    done.save()
    html = page(alice_client, "markup-row", tab="training-jobs")
    table = html.split('<table class="table tj-table"', 1)[1].split("</table>", 1)[0]
    assert "<b>" not in table
    assert 'data-training-job="tj&quot;&gt;&lt;b&gt;x&lt;/b&gt;"' in table
    assert 'href="/projects/demo/hpo-jobs/markup-row/training-jobs/tj%22%3E%3Cb%3Ex%3C%2Fb%3E/"' in table
    assert '<span class="hp-v">&quot;&gt;&lt;b&gt;x&lt;/b&gt;</span>' in table
    assert '<span class="reason-label">' in table and "&lt;b&gt;x&lt;/b&gt;</td></tr>" in table


def test_a_long_failure_reason_is_cut_at_300_characters_in_the_table(alice_client, make_job):
    job = make_job("long-reason", children=2)
    short, long = job.training_jobs.order_by("id")
    job.training_jobs.filter(pk=short.pk).update(status="Failed", failure_reason="y" * 300)
    job.training_jobs.filter(pk=long.pk).update(status="Failed", failure_reason="x" * 400)
    table = page(alice_client, "long-reason", tab="training-jobs").split('<table class="table tj-table"', 1)[1]
    assert "x" * 299 + "…" in table and "x" * 300 not in table
    assert "y" * 300 + "</td>" in table  # exactly 300: shown whole
