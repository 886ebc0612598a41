"""Insights on a job through its pages, its task and the API: hyperparameter importance (fANOVA and
PED-ANOVA), slice, contour and timeline charts, the narrowed-range clone, comparing jobs, time
left, instance-hours and cost."""

from __future__ import annotations

import math
import random
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hpo_jobs import services, tasks
from hpo_jobs.models import HpoJob, SiteSettings
from hpo_jobs.pages import insights
from hpo_jobs.wizard import convert

from .aws_fakes import T0, child_summary, describe_response, list_pages, tuning_job_arn
from .factories import add_children, insight_request, local_request, make_request
from .wizard_helpers import WizardPage, data_dir

pytestmark = pytest.mark.django_db

URL = "/projects/demo/hpo-jobs/{}/"


def _synthetic(n: int, seed: int = 1) -> tuple[list[dict[str, str]], list[float]]:
    """``n`` tuned sets whose objective depends on ``lr`` alone (best near 10^-2.5)."""
    rng = random.Random(seed)
    hps, values = [], []
    for _ in range(n):
        lr = 10 ** rng.uniform(-4, -1)
        hps.append({"lr": f"{lr:.6g}", "depth": str(rng.randint(1, 10)), "booster": rng.choice(["gbtree", "dart", "gblinear"])})
        values.append(1 - (math.log10(lr) + 2.5) ** 2 / 3)
    return hps, values


@pytest.fixture
def count_refreshes(monkeypatch):
    """Every refresh_insights published, by job id, instead of sending it to a broker."""
    sent: list[int] = []
    monkeypatch.setattr(tasks.refresh_insights, "apply_async", lambda args=(), **kw: sent.append(args[0]))
    return sent


def _insight_job(make_job, name: str, n: int, **request_options) -> HpoJob:
    job = make_job(name, status="Completed", request=insight_request(name, **request_options))
    hps, values = _synthetic(n)
    add_children(job, hps, values)
    return job


def _svgs(html: str, css_class: str) -> list[str]:
    return re.findall(rf'<svg [^>]*class="chart {css_class}".*?</svg>', html, flags=re.S)


def _marks(svg: str) -> int:
    return len(re.findall(r'class="mark[ "]', svg))


# ---- importance -----------------------------------------------------------------------------------
def test_importance_ranks_the_one_hyperparameter_that_matters_first_by_both_methods(alice_client, make_job):
    job = _insight_job(make_job, "only-lr-matters", 80)
    tasks.refresh_insights.apply(args=(job.pk,)).get()
    job.refresh_from_db()
    assert job.insights_count == 80
    (definition,) = job.insights["definitions"]
    for method in ("fanova", "ped_anova"):
        ranked = definition["importance"][method]["ranked"]
        assert ranked[0][0] == "lr", (method, ranked)
        assert {name for name, _ in ranked} == {"lr", "depth", "booster"}

    html = alice_client.get(URL.format(job.name) + "?tab=insights").content.decode()
    bars = _svgs(html, "chart-importance")
    assert len(bars) == 2
    for svg in bars:
        assert re.findall(r'data-name="([^"]+)"', svg)[0] == "lr"
    assert "fANOVA" in html and "PED-ANOVA" in html


def test_below_the_threshold_the_page_says_there_are_not_enough_evaluated_jobs(alice_client, make_job):
    job = _insight_job(make_job, "too-few", 6)
    tasks.refresh_insights.apply(args=(job.pk,)).get()
    html = alice_client.get(URL.format(job.name) + "?tab=insights").content.decode()
    assert "Not enough evaluated training jobs yet (6 of 10)" in html
    assert not _svgs(html, "chart-importance")
    assert "Clone with these ranges" not in html


def test_the_task_runs_when_evaluated_children_change_and_never_on_a_page_view(
        sagemaker_stub, queued_tasks, submit, alice_client, count_refreshes):
    name = "tune-xgb"
    request = make_request(name)
    sagemaker_stub.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": tuning_job_arn(name)},
                                request)
    job = submit(request)
    queued_tasks.run()

    def sync(children, minute):
        sagemaker_stub.add_response("describe_hyper_parameter_tuning_job",
                                    describe_response(request, children=children, last_modified=T0 + timedelta(minutes=minute)),
                                    {"HyperParameterTuningJobName": name})
        for response, params in list_pages(name, children):
            sagemaker_stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", response, params)
        assert services.sync_job(job.pk)
        sagemaker_stub.assert_no_pending_responses()

    sync([child_summary(name, i) for i in range(1, 13)], 1)
    assert count_refreshes == [job.pk]
    tasks.refresh_insights.apply(args=(job.pk,)).get()

    for tab in ("", "?tab=insights", "?tab=charts", "?tab=training-jobs", "parts/overview/"):
        assert alice_client.get(URL.format(name) + tab).status_code == 200
    assert alice_client.get("/projects/demo/hpo-jobs/").status_code == 200
    assert count_refreshes == [job.pk]  # page views queue nothing

    # The same answer again: no listing, no refresh.
    sagemaker_stub.add_response("describe_hyper_parameter_tuning_job",
                                describe_response(request, children=[child_summary(name, i) for i in range(1, 13)],
                                                  last_modified=T0 + timedelta(minutes=1)),
                                {"HyperParameterTuningJobName": name})
    assert services.sync_job(job.pk)
    assert count_refreshes == [job.pk]

    sync([child_summary(name, i) for i in range(1, 16)], 2)
    assert count_refreshes == [job.pk, job.pk]


def test_the_sweep_queues_jobs_whose_insights_lag_their_children(make_job, count_refreshes):
    fresh = _insight_job(make_job, "fresh", 12)
    services.refresh_insights(fresh.pk)
    lagging = _insight_job(make_job, "lagging", 12)
    services.refresh_insights(lagging.pk)
    add_children(lagging, [{"lr": "0.01", "depth": "3", "booster": "dart"}], [0.9])
    never = _insight_job(make_job, "never-computed", 3)
    make_job("no-children", status="Completed")
    assert tasks.queue_missing_insights.apply().get() == 2
    assert sorted(count_refreshes) == sorted([lagging.pk, never.pk])
    # A refresh queued twice computes once.
    assert services.refresh_insights(lagging.pk) is True
    assert services.refresh_insights(lagging.pk) is False


# ---- slice, contour, timeline ---------------------------------------------------------------------
def test_slice_contour_and_timeline_draw_one_mark_per_training_job_with_log_axes_for_log_ranges(
        alice_client, make_job):
    job = make_job("charted", status="Completed", request=insight_request("charted"))
    hps, values = _synthetic(24)
    values[3] = values[7] = None  # two failed, not evaluated
    statuses = ["Completed"] * 24
    statuses[3] = statuses[7] = "Failed"
    statuses[10] = "Stopped"
    add_children(job, hps, values, statuses=statuses)
    services.refresh_insights(job.pk)
    html = alice_client.get(URL.format(job.name) + "?tab=insights").content.decode()

    slices = {re.search(r'<title id="[^"]+">[^<]* against (\w+)</title>', svg).group(1): svg
              for svg in _svgs(html, "chart-slice")}
    assert set(slices) == {"lr", "depth", "booster"}
    for svg in slices.values():
        assert _marks(svg) == 22  # every evaluated training job
    assert 'data-scale="log"' in slices["lr"] and 'data-scale="linear"' in slices["depth"]
    assert 'data-scale="categorical"' in slices["booster"]
    # On the log axis, equal ratios are equal distances: the decade ticks are evenly spaced.
    ticks = [(float(v), float(x)) for v, x in re.findall(r'class="tick" data-value="([^"]+)" x1="([^"]+)"', slices["lr"])]
    assert [v for v, _ in ticks] == [0.0001, 0.001, 0.01, 0.1]
    gaps = [b[1] - a[1] for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) - min(gaps) < 0.5
    # And each mark sits where its value's logarithm puts it.
    (lo, x_lo), (hi, x_hi) = ticks[0], ticks[-1]
    for value, cx in re.findall(r'class="mark" data-x="([^"]+)" cx="([^"]+)"', slices["lr"]):
        expected = x_lo + (math.log10(float(value)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (x_hi - x_lo)
        assert abs(float(cx) - expected) < 0.2

    (contour,) = _svgs(html, "chart-contour")
    assert _marks(contour) == 22
    assert 'data-x-scale="log"' in contour  # lr is the most important, so it is the contour's x axis

    (timeline,) = _svgs(html, "chart-timeline")
    assert _marks(timeline) == 24
    assert timeline.count('data-status="Failed"') == 2 and timeline.count('data-status="Stopped"') == 1
    assert "stopped early" in timeline
    assert "<title" in timeline and 'aria-labelledby="timeline-title timeline-desc"' in timeline
    assert "Data table (24 training jobs)" in html


def test_past_a_few_thousand_training_jobs_the_charts_draw_a_bounded_sample(alice_client, make_job):
    from hpo_jobs.pages import insight_charts

    job = make_job("huge", status="Completed", request=insight_request("huge", max_jobs=3000))
    hps, values = _synthetic(insight_charts.MARKS_MAX + 300)
    add_children(job, hps, values)
    with CaptureQueriesContext(connection) as queries:
        html = alice_client.get(URL.format(job.name) + "?tab=insights").content.decode()
    (timeline,) = _svgs(html, "chart-timeline")
    assert _marks(timeline) == insight_charts.MARKS_MAX
    for svg in _svgs(html, "chart-slice"):
        assert _marks(svg) == insight_charts.MARKS_MAX
        # The sample stands for every evaluated training job, and says so.
        assert f"{len(values):,}".replace(",", "") + " training jobs" in svg and "a sample of 2000 drawn" in svg
    assert "an evenly spaced sample is drawn" in html
    # No query reads every child's hyperparameters: a sample of them, however many the job has.
    for query in queries.captured_queries:
        sql = query["sql"]
        if "tuned_hyperparameters" in sql and "hpo_jobs_trainingjob" in sql.split(" FROM ", 1)[-1][:40]:
            limit = re.search(r"LIMIT (\d+)", sql)
            assert (limit and int(limit.group(1)) <= insight_charts.MARKS_MAX) or '"name" = ' in sql, sql


# ---- clone with these ranges ----------------------------------------------------------------------
def test_clone_with_these_ranges_opens_the_wizard_with_the_narrowed_ranges_which_validate(
        bob_client, alice, project, make_job):
    original = convert.apply_project_policy(local_request(data_dir(), name="wide"), project, alice)
    original["TrainingJobDefinition"]["RoleArn"] = convert.LOCAL_ROLE_ARN
    job = make_job("wide", request=original, status="Completed")
    rng = random.Random(4)
    hps = [{"eta": f"{rng.uniform(0.1, 0.5):.4f}", "max_depth": str(rng.randint(2, 8))} for _ in range(40)]
    # The best jobs have eta near 0.2 and max_depth 4 to 6.
    values = [1 - abs(float(h["eta"]) - 0.2) - abs(int(h["max_depth"]) - 5) / 10 for h in hps]
    add_children(job, hps, values)
    services.refresh_insights(job.pk)
    job.refresh_from_db()
    narrowed = job.insights["definitions"][0]["narrowed"]
    top = sorted(zip(values, hps), key=lambda item: -item[0])[:narrowed["top"]]
    assert narrowed["top"] == 4
    eta = [float(h["eta"]) for _v, h in top]
    depth = [int(h["max_depth"]) for _v, h in top]

    html = bob_client.get(URL.format("wide") + "?tab=insights").content.decode()
    assert 'id="clone-narrowed"' in html
    response = bob_client.get(URL.format("wide") + "clone-narrowed/")
    assert response.status_code == 200
    page = WizardPage(bob_client, response)
    assert page.step == "job" and page.value("job-name") == "wide-copy"
    page = page.next().next().next()
    assert page.step == "review", page.errors()
    ranges = page.request_json()["HyperParameterTuningJobConfig"]["ParameterRanges"]
    (eta_range,) = ranges["ContinuousParameterRanges"]
    (depth_range,) = ranges["IntegerParameterRanges"]
    assert float(eta_range["MinValue"]) == pytest.approx(min(eta), rel=1e-5)
    assert float(eta_range["MaxValue"]) == pytest.approx(max(eta), rel=1e-5)
    assert (int(depth_range["MinValue"]), int(depth_range["MaxValue"])) == (min(depth), max(depth))
    assert 0.1 <= min(eta) < max(eta) <= 0.5
    page.submit()
    assert HpoJob.objects.get(name="wide-copy").request["HyperParameterTuningJobConfig"]["ParameterRanges"] == ranges


def test_without_enough_jobs_clone_with_these_ranges_goes_back_to_the_insights(bob_client, make_job):
    _insight_job(make_job, "not-yet", 4)
    response = bob_client.get(URL.format("not-yet") + "clone-narrowed/")
    assert response.status_code == 302 and response["Location"].endswith("?tab=insights")


# ---- compare --------------------------------------------------------------------------------------
def _compare(client, *names):
    return client.get("/projects/demo/hpo-jobs/compare/", {"job": list(names)})


def test_compare_marks_exactly_the_fields_that_differ(bob_client, make_job):
    a = insight_request("cmp-a")
    b = insight_request("cmp-b", strategy="Random", parallel=5)
    b["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"][0]["MaxValue"] = "12"
    job_a = make_job("cmp-a", status="Completed", request=a)
    job_b = make_job("cmp-b", status="Completed", request=b)
    add_children(job_a, *_synthetic(5))
    add_children(job_b, *_synthetic(8, seed=2))
    html = _compare(bob_client, "cmp-a", "cmp-b").content.decode()
    differing = set(re.findall(r'data-differs="yes" data-field="([^"]+)"', html))
    assert differing == {"settings.strategy", "resources.max_parallel", "definitions[Definition 1].ranges[depth].max"}
    assert "3 fields differ" in html
    assert "tune for different objectives" not in html
    best_a, best_b = max(_synthetic(5)[1]), max(_synthetic(8, seed=2)[1])
    assert html.count('class="mark series"') == 2
    winner = "cmp-a" if best_a > best_b else "cmp-b"
    assert re.search(rf'<tr data-job="{winner}"><td>{winner} <span class="badge status-completed">best</span>', html)


def test_jobs_with_different_objectives_are_compared_only_by_what_they_share(bob_client, make_job):
    make_job("auc-job", status="Completed", request=insight_request("auc-job"))
    make_job("loss-job", status="Completed", request=insight_request("loss-job", objective=("Minimize", "validation:logloss")))
    html = _compare(bob_client, "auc-job", "loss-job").content.decode()
    assert "These jobs tune for different objectives." in html
    assert "no objective metric is common to all of them" in html
    assert 'class="mark series"' not in html
    assert 'data-field="definitions[Definition 1].objective_metric"' in html


def test_outsiders_get_404_and_members_get_404_for_a_job_they_cannot_see(
        bob_client, charlie_client, make_job, project):
    from projects.models import Project

    make_job("mine-1")
    make_job("mine-2")
    other = Project.objects.create(name="Other", slug="other")
    make_job("theirs", project_=other)
    assert _compare(charlie_client, "mine-1", "mine-2").status_code == 404
    assert _compare(bob_client, "mine-1", "mine-2").status_code == 200
    assert _compare(bob_client, "mine-1", "theirs").status_code == 404
    assert _compare(bob_client, "mine-1", "no-such-job").status_code == 404
    assert _compare(bob_client, "mine-1").status_code == 400
    assert _compare(bob_client, *[make_job(f"many-{i}").name for i in range(6)]).status_code == 400


def test_the_job_list_offers_the_comparison(bob_client, make_job):
    make_job("pick-a")
    make_job("pick-b")
    html = bob_client.get("/projects/demo/hpo-jobs/").content.decode()
    assert 'action="/projects/demo/hpo-jobs/compare/"' in html
    assert 'name="job" value="pick-a"' in html and 'name="job" value="pick-b"' in html


# ---- time left, instance-hours and cost -----------------------------------------------------------
def _running_job(make_job, **request_options) -> HpoJob:
    """In progress, 10 jobs 2 at a time: 4 finished (60, 100, 100 and 140 s), 2 running."""
    job = make_job("running-est", status="InProgress", request=insight_request("running-est", max_jobs=10,
                                                                               parallel=2, **request_options),
                   training_job_status_counters={"Completed": 4, "InProgress": 2})
    hps, values = _synthetic(6)
    add_children(job, hps, values[:4] + [None, None], durations=[60, 100, 100, 140, None, None],
                 statuses=["Completed"] * 4 + ["InProgress"] * 2, start=timezone.now() - timedelta(minutes=10))
    return job


def test_time_left_of_a_running_job_from_its_finished_durations_parallelism_and_budget(
        alice_client, make_job, api_client_for):
    job = _running_job(make_job)
    # 4 not started, 2 at a time: 2 waves of the median (100 s), plus half a job for the running ones.
    # The quartiles of 60, 100, 100, 140 are 70 and 130: 35 + 140 = 175 to 65 + 260 = 325.
    html = alice_client.get(URL.format(job.name)).content.decode()
    assert 'data-seconds="250"' in html
    assert "between 2m 55s and 5m 25s" in html
    data = api_client_for("alice").get(f"/api/v1/projects/demo/jobs/{job.name}/").json()
    assert data["time_left"]["seconds"] == 250
    assert (data["time_left"]["low_seconds"], data["time_left"]["high_seconds"]) == (175, 325)
    assert "4 training jobs not started and 2 running" in data["time_left"]["basis"]


def test_the_runtime_limit_caps_the_estimate_by_the_engines_consumed_runtime(make_job, api_client_for):
    job = _running_job(make_job, max_runtime=1000)
    HpoJob.objects.filter(pk=job.pk).update(last_describe={"ConsumedResources": {"RuntimeInSeconds": 880}})
    data = api_client_for("alice").get(f"/api/v1/projects/demo/jobs/{job.name}/").json()
    assert data["consumed_runtime_seconds"] == 880
    assert data["time_left"]["seconds"] == 120 and data["time_left"]["high_seconds"] == 120
    assert "MaxRuntimeInSeconds ends it sooner" in data["time_left"]["basis"]


def test_the_job_list_shows_time_left_and_usage_from_the_stored_summary(alice_client, make_job):
    job = _running_job(make_job)
    services.refresh_insights(job.pk)
    html = alice_client.get("/projects/demo/hpo-jobs/").content.decode()
    row = re.search(r'<tr data-job="running-est".*?</tr>', html, flags=re.S).group(0)
    assert "about 4m 10s left" in row
    assert re.search(r'usage-cell" title="[^"]*">0\.\d instance-h', row)


def test_cost_appears_only_where_staff_set_a_price(alice_client, admin_client_, make_job, api_client_for):
    job = make_job("priced", status="Completed", request=insight_request("priced", instance_count=2))
    hps, values = _synthetic(4)
    add_children(job, hps, values, durations=[60, 100, 100, 140])  # 400 s, on 2 instances each
    html = alice_client.get(URL.format("priced")).content.decode()
    assert 'data-hours="0.2222' in html and "no price set" in html and 'id="job-cost"' not in html
    data = api_client_for("alice").get("/api/v1/projects/demo/jobs/priced/").json()
    assert data["time_left"] is None
    assert data["usage"]["instance_hours"] == pytest.approx(800 / 3600)
    assert data["usage"]["cost_usd"] is None
    assert data["usage"]["by_instance"][0]["instance_type"] == "ml.m5.large"

    settings_page = admin_client_.get("/settings/").content.decode()
    assert 'name="instance_prices"' in settings_page
    form = {"ecr_allowed": "", "instance_types": "ml.m5.large\nml.m5.xlarge", "instance_prices": '{"ml.m5.large": 0.9}'}
    assert admin_client_.post("/settings/", form).status_code == 302
    assert SiteSettings.load().instance_prices == {"ml.m5.large": 0.9}
    html = alice_client.get(URL.format("priced")).content.decode()
    assert re.search(r'id="job-cost">\$0\.20<', html)
    data = api_client_for("alice").get("/api/v1/projects/demo/jobs/priced/").json()
    assert data["usage"]["cost_usd"] == pytest.approx(0.2)
    assert data["usage"]["by_instance"][0]["price_per_hour_usd"] == 0.9


def test_the_price_setting_refuses_what_is_not_a_price(admin_client_):
    form = {"ecr_allowed": "", "instance_types": "ml.m5.large", "instance_prices": '{"m5.large": 0.9, "ml.c5.xlarge": "x"}'}
    response = admin_client_.post("/settings/", form)
    assert response.status_code == 400
    assert "Not understood: m5.large, ml.c5.xlarge" in response.content.decode()
    assert SiteSettings.load().instance_prices == {}


@pytest.fixture
def api_client_for(alice, bob):
    from django.test import Client

    from hpo_jobs.api.models import ApiToken

    users = {"alice": alice, "bob": bob}

    def make(username: str) -> Client:
        _token, text = ApiToken.issue(users[username], "insights", 90)
        return Client(HTTP_AUTHORIZATION=f"Bearer {text}")

    return make



def test_past_two_thousand_training_jobs_the_overview_reads_usage_and_durations_stored_with_the_insights(
        alice_client, make_job, monkeypatch):
    # Summing every child's run time on each view grew with the job (0.4 s at 10,000 children).
    total = insights.LIVE_SUMMARY_MAX + 1
    job = make_job("big-usage", status="InProgress", request=insight_request("big-usage", max_jobs=5000, parallel=4),
                   training_job_status_counters={"Completed": total - 2, "InProgress": 2})
    hps, values = _synthetic(total)
    add_children(job, hps, values[:-2] + [None, None], durations=[60.0] * (total - 2) + [None, None],
                 statuses=["Completed"] * (total - 2) + ["InProgress"] * 2)
    services.refresh_insights(job.pk)
    job.refresh_from_db()
    stored_hours = sum(row["seconds"] for row in job.insights["summary"]["usage"]) / 3600

    def not_on_a_page_view(*args, **kwargs):
        raise AssertionError("the children were summed on a page view")

    monkeypatch.setattr(insights, "usage_rows", not_on_a_page_view)
    monkeypatch.setattr(insights, "duration_stats", not_on_a_page_view)
    response = alice_client.get(URL.format("big-usage"))
    assert response.status_code == 200
    assert insights.usage(job).total_hours == pytest.approx(stored_hours)
    assert insights.time_left(job) is not None and stored_hours > 30  # 1,999 jobs of a minute each


def test_below_the_threshold_usage_is_summed_live(make_job):
    job = make_job("small-usage", status="Completed", request=insight_request("small-usage"),
                   training_job_status_counters={"Completed": 4})
    hps, values = _synthetic(4)
    add_children(job, hps, values, durations=[60, 60, 60, 60])
    services.refresh_insights(job.pk)
    job.refresh_from_db()
    add_children(job, *_synthetic(1, seed=9), durations=[3600])  # after the refresh: only a live sum sees it
    assert insights.usage(job).total_hours == pytest.approx((4 * 60 + 3600) / 3600, rel=1e-3)


def test_a_sampled_tab_counts_each_definitions_evaluated_training_jobs(alice_client, make_job, monkeypatch):
    """Past MARKS_MAX training jobs the tab reads a sample; each definition's charts still say how many
    evaluated training jobs of its own they stand for (counted, not read)."""
    from hpo_jobs.models import TrainingJob
    from hpo_jobs.pages import insight_charts

    from .factories import multi_definition_request

    monkeypatch.setattr(insight_charts, "MARKS_MAX", 20)
    job = make_job("two-defs", status="Completed", request=multi_definition_request("two-defs"),
                   training_job_status_counters={"Completed": 90})
    rng = random.Random(3)
    TrainingJob.objects.bulk_create(
        TrainingJob(hpo_job=job, name=f"two-defs-{i:03d}", status="Completed", objective_status="Succeeded",
                    definition_name="deep" if i % 3 else "shallow", objective_metric_name="validation:auc",
                    objective_value=None if i % 10 == 9 else rng.random(), creation_time=T0 + timedelta(minutes=i),
                    start_time=T0 + timedelta(minutes=i), end_time=T0 + timedelta(minutes=i + 1),
                    tuned_hyperparameters={"max_depth": str(rng.randint(1, 3)), "eta": f"{rng.uniform(0.01, 0.5):.3f}"})
        for i in range(90)
    )
    evaluated = {"deep": sum(1 for i in range(90) if i % 3 and i % 10 != 9),
                 "shallow": sum(1 for i in range(90) if not i % 3 and i % 10 != 9)}
    html = alice_client.get(URL.format(job.name) + "?tab=insights").content.decode()
    slices = [svg for svg in _svgs(html, "chart-slice") if "data-marks" in svg]  # the hyperparameters they tune
    assert {'id="slice-1-' in svg for svg in slices} == {True, False}
    for svg in slices:
        definition = "shallow" if 'id="slice-2-' in svg else "deep"
        assert f"{evaluated[definition]} training jobs" in svg, svg[:400]
        assert _marks(svg) <= 20 + 1  # the sample, and the best job when it is not in it
