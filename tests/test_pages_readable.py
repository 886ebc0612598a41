"""The pages a data scientist reads every day: one best training job everywhere (with its tie rule),
how it stands among the rest, jobs since the best, why jobs ended early, labels of jobs that tune
several metrics, and messages that do not outlive the state they describe."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from hpo_jobs.models import HpoJob, TrainingJob
from hpo_jobs.templatetags import hpo_format

pytestmark = pytest.mark.django_db
URL = "/projects/demo/hpo-jobs/{}/"
T0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)


def page(client, name: str, **params) -> str:
    response = client.get(URL.format(name), params)
    assert response.status_code == 200
    return response.content.decode()


def child(job, number: int, value, *, ended_min: int, status="Completed", objective_status="Succeeded",
          metric="validation:auc", definition="", reason="", **hps) -> TrainingJob:
    return TrainingJob.objects.create(
        hpo_job=job, name=f"{job.name}-{number:03d}-abcdef12", status=status, objective_status=objective_status,
        objective_value=value, objective_metric_name=metric if value is not None else "", definition_name=definition,
        failure_reason=reason, creation_time=T0 + timedelta(minutes=number), start_time=T0 + timedelta(minutes=number),
        end_time=T0 + timedelta(minutes=ended_min), tuned_hyperparameters={"eta": str(hps.get("eta", 0.1 * number))},
    )


def xgb_request(name: str, **config) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"MetricName": "validation:auc", "Type": "Maximize"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "1"}]},
            "TrainingJobEarlyStoppingType": "Off",
            **config,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingImage": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                                       "TrainingInputMode": "File"},
            "StaticHyperParameters": {"objective": "binary:logistic"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }


@pytest.fixture
def tie_job(make_job):
    """Eight evaluated jobs; 001 and 007 tie on the best value, 001 reported it first (the xgb-demo case)."""
    job = make_job("tie-demo", status=HpoJob.Status.IN_PROGRESS, request=xgb_request("tie-demo"))
    values = {1: 0.999375, 2: 0.95, 3: 0.97, 4: 0.9, 5: 0.98, 6: 0.96, 7: 0.999375, 8: 0.91}
    for number, value in values.items():
        child(job, number, value, ended_min=10 + number)
    return job


# ---- one best training job, marked the same everywhere -------------------------------------------
def test_a_tie_marks_the_job_that_reported_the_value_first_everywhere(alice_client, tie_job):
    first = "tie-demo-001-abcdef12"
    overview = page(alice_client, "tie-demo")
    assert f'<div class="best" data-best="{first}">' in overview
    table = page(alice_client, "tie-demo", tab="training-jobs")
    assert re.findall(r'data-best="([^"]+)"', table) == [first]
    charts = page(alice_client, "tie-demo", tab="charts")
    assert set(re.findall(r'data-best="([^"]+)"', charts)) == {first}
    assert len(re.findall(r'data-best="', charts)) == 2  # the history's ring and the parallel chart's line
    rows = list(csv.DictReader(io.StringIO(alice_client.get(URL.format("tie-demo") + "training-jobs.csv")
                                           .getvalue().decode())))
    assert [r["training_job_name"] for r in rows if r["best_training_job"] == "yes"] == [first]
    detail = alice_client.get(URL.format("tie-demo") + f"training-jobs/{first}/").content.decode()
    assert "Best training job" in detail


def test_the_engines_named_best_job_wins_over_the_stored_rows(alice_client, tie_job):
    named = "tie-demo-007-abcdef12"
    tie_job.best_training_job = {"TrainingJobName": named, "TuningJobName": "tie-demo",
                                 "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:auc",
                                                                                 "Type": "Maximize", "Value": 0.999375}}
    tie_job.best_objective_value = 0.999375
    tie_job.save()
    table = page(alice_client, "tie-demo", tab="training-jobs")
    assert re.findall(r'data-best="([^"]+)"', table) == [named]
    charts = page(alice_client, "tie-demo", tab="charts")
    assert set(re.findall(r'data-best="([^"]+)"', charts)) == {named}


def test_the_best_card_tells_rank_ties_runner_up_and_median(alice_client, tie_job):
    html = page(alice_client, "tie-demo")
    standing = html[html.index('id="best-standing"'):]
    standing = standing[: standing.index("</dl>")]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", standing))
    assert "1 of 8 evaluated training jobs" in text
    assert "tied with 1 other at exactly this value: tie-demo-007-abcdef12" in text
    assert "0.98 (tie-demo-005-abcdef12): better by 0.0193" in text
    # median of 0.9, 0.91, 0.95, 0.96, 0.97, 0.98, 0.999375, 0.999375 = 0.965
    assert "0.965: better by 0.0343" in text
    assert 'title="0.999375"' in html  # the full value on hover


def test_values_print_with_the_digits_that_tell_them_apart(alice_client, make_job):
    job = make_job("close", status=HpoJob.Status.COMPLETED, request=xgb_request("close"))
    child(job, 1, 0.17030341498857426, ended_min=5)
    child(job, 2, 0.17030311, ended_min=6)
    html = page(alice_client, "close")
    big = re.search(r'<span class="big-value" title="([^"]+)">([^<]+)</span>', html)
    assert big.group(1) == "0.17030341498857426"
    assert big.group(2) == "0.1703034"  # 7 digits: the first at which the two values differ
    assert "0.1703031" in html


# ---- jobs since the best --------------------------------------------------------------------------
def test_jobs_since_the_best_counts_the_jobs_that_ended_after_it(alice_client, make_job):
    job = make_job("since", status=HpoJob.Status.COMPLETED, request=xgb_request("since"),
                   completion_details={"NumberOfTrainingJobsObjectiveNotImproving": 7})
    # The best is the 5th of 8 to finish; one job before it improved by less than 1%.
    for number, (value, ended) in enumerate([(0.90, 1), (0.91, 2), (0.905, 3), (0.95, 4), (0.955, 5),
                                             (0.93, 6), (0.94, 7), (0.92, 8)], start=1):
        child(job, number, value, ended_min=ended)
    html = page(alice_client, "since")
    assert re.search(r'id="since-best">3 ', html)
    assert 'id="not-improving"' not in html  # no such completion criterion was set, so its count is not shown


def test_the_not_improving_count_is_labelled_for_what_it_is(alice_client, make_job):
    request = xgb_request("crit", TuningJobCompletionCriteria={"BestObjectiveNotImproving": {
        "MaxNumberOfTrainingJobsNotImproving": 5}})
    job = make_job("crit", status=HpoJob.Status.IN_PROGRESS, request=request,
                   completion_details={"NumberOfTrainingJobsObjectiveNotImproving": 4})
    child(job, 1, 0.9, ended_min=1)
    html = page(alice_client, "crit")
    assert re.search(r'Without a 1% improvement</dt><dd id="not-improving">4 <span class="muted">\(the job completes at 5\)', html)


# ---- stopped by the user, and other early endings -------------------------------------------------
def test_training_jobs_stopped_by_the_user_say_so_and_are_not_failures(alice_client, bob, make_job):
    job = make_job("stopped-by-hand", status=HpoJob.Status.STOPPED, request=xgb_request("stopped-by-hand"),
                   stop_requested_at=T0 + timedelta(minutes=9), stop_requested_by=bob, ended_at=T0 + timedelta(minutes=11),
                   training_job_status_counters={"Completed": 1, "Stopped": 1})
    child(job, 1, 0.9, ended_min=5)
    child(job, 2, None, ended_min=10, status="Stopped", objective_status="Failed")
    table = page(alice_client, "stopped-by-hand", tab="training-jobs")
    stopped = table[table.index('data-training-job="stopped-by-hand-002-abcdef12"'):]
    stopped = stopped[: stopped.index("</tr>", stopped.index('class="reason-row'))]
    assert "Why it stopped:" in stopped and "because bob stopped the tuning job" in stopped
    assert "Why it failed" not in stopped and "not evaluated" not in stopped and "regex" not in stopped
    header = page(alice_client, "stopped-by-hand")
    assert re.search(r'id="job-ending"><strong>Stopped:</strong> bob asked for the stop at \d{4}-\d\d-\d\d', header)
    assert "No training job has failed" in header


def test_a_job_completed_by_a_criterion_says_which(alice_client, make_job):
    request = xgb_request("target", TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.95},
                          TrainingJobEarlyStoppingType="Off")
    job = make_job("target", status=HpoJob.Status.COMPLETED, request=request, best_objective_value=0.97,
                   ended_at=T0 + timedelta(minutes=3), completed_count=1)
    child(job, 1, 0.97, ended_min=2)
    child(job, 2, None, ended_min=3, status="Stopped", objective_status="Failed")
    header = page(alice_client, "target")
    assert "Completed early:</strong> the best validation:auc reached the target value 0.95" in header
    table = page(alice_client, "target", tab="training-jobs")
    assert "Stopped when the tuning job completed: the best validation:auc reached the target value 0.95" in table


@pytest.mark.parametrize("config,words", [
    ({"Strategy": "Hyperband"}, "Hyperband stopped it early"),
    ({"TrainingJobEarlyStoppingType": "Auto"}, "the median stopping rule (early stopping Auto) stopped it"),
])
def test_training_jobs_stopped_by_an_early_stopping_rule_name_it(alice_client, make_job, config, words):
    job = make_job("pruned", status=HpoJob.Status.IN_PROGRESS, request=xgb_request("pruned", **config))
    child(job, 1, 0.9, ended_min=2)
    child(job, 2, 0.5, ended_min=3, status="Stopped", objective_status="Succeeded")
    table = page(alice_client, "pruned", tab="training-jobs")
    assert words[0].upper() + words[1:] in table


def test_the_training_job_page_says_after_how_many_epochs_it_stopped(alice_client, make_job, monkeypatch):
    from hpo_jobs.pages import views

    job = make_job("epochs", status=HpoJob.Status.IN_PROGRESS, request=xgb_request("epochs", Strategy="Hyperband"))
    child(job, 1, 0.5, ended_min=3, status="Stopped")
    # Three values of its objective, as the engine stored them from its log.
    monkeypatch.setattr(views, "_read_log", lambda backend, job, tj: ("", ""))
    monkeypatch.setattr(views, "_read_metrics", lambda backend, job, tj, regexes: (
        {"validation:auc": [0.50, 0.51, 0.52]}, ""))
    html = alice_client.get(URL.format("epochs") + "training-jobs/epochs-001-abcdef12/").content.decode()
    assert "Hyperband stopped it early: its objective at an early epoch was not among the best of its bracket after 3 epochs" in html


def test_a_member_who_cannot_stop_a_running_job_is_told_why(bob_client, make_job):
    make_job("alices-run", status=HpoJob.Status.IN_PROGRESS)
    html = page(bob_client, "alices-run")
    assert 'action="/projects/demo/hpo-jobs/alices-run/stop/"' not in html
    assert "Only alice, who created this job, and the project&#x27;s owners can stop it." in html


# ---- definitions that tune different metrics ------------------------------------------------------
def two_metric_request(name: str) -> dict:
    base = xgb_request(name)
    config = base["HyperParameterTuningJobConfig"]
    ranges = config.pop("ParameterRanges")
    config.pop("HyperParameterTuningJobObjective")
    definition = base.pop("TrainingJobDefinition")
    base["TrainingJobDefinitions"] = [
        {**definition, "DefinitionName": "auc", "HyperParameterRanges": ranges,
         "TuningObjective": {"MetricName": "validation:auc", "Type": "Maximize"}},
        {**definition, "DefinitionName": "err", "HyperParameterRanges": ranges,
         "TuningObjective": {"MetricName": "validation:error", "Type": "Minimize"}},
    ]
    return base


def test_a_job_tuning_two_metrics_labels_each_value_and_never_ranks_them_together(alice_client, make_job):
    job = make_job("two-metrics", status=HpoJob.Status.COMPLETED, request=two_metric_request("two-metrics"))
    child(job, 1, 0.80, ended_min=1, definition="auc")
    child(job, 2, 0.90, ended_min=2, definition="auc")
    child(job, 3, 0.05, ended_min=3, definition="err", metric="validation:error")
    child(job, 4, 0.20, ended_min=4, definition="err", metric="validation:error")
    header = page(alice_client, "two-metrics")
    assert 'id="mixed-metrics"' in header and "2 different metrics" in header
    table = page(alice_client, "two-metrics", tab="training-jobs")
    order = re.findall(r'<tr data-training-job="two-metrics-(\d+)', table)
    # Best first within each metric, each in its own direction; the metrics are not interleaved.
    assert order == ["002", "001", "003", "004"]
    assert table.count('<span class="meta mono">validation:error</span>') == 2
    assert table.count('<span class="meta mono">validation:auc</span>') == 2
    # The best-job card ranks the best job among its own metric's jobs only.
    assert re.search(r"1 of 2 evaluated training jobs", re.sub(r"<[^>]+>", "", header))


# ---- sortable hyperparameter columns --------------------------------------------------------------
def test_a_hyperparameter_column_sorts_numerically_and_says_so(alice_client, make_job):
    job = make_job("hp-sort", status=HpoJob.Status.COMPLETED, request=xgb_request("hp-sort"))
    for number, eta in enumerate(["0.5", "0.05", "1e-3", "0.25"], start=1):
        child(job, number, 0.9, ended_min=number, eta=eta)
    table = page(alice_client, "hp-sort", tab="training-jobs", sort="hp:eta")
    assert re.findall(r'<tr data-training-job="hp-sort-(\d+)', table) == ["003", "002", "004", "001"]
    assert re.search(r'<th scope="col" class="num mono hp-col" aria-sort="ascending">', table)
    table = page(alice_client, "hp-sort", tab="training-jobs", sort="-hp:eta")
    assert re.findall(r'<tr data-training-job="hp-sort-(\d+)', table) == ["001", "004", "002", "003"]


# ---- messages that describe a state go when the state changes -------------------------------------
def test_a_status_message_is_cleared_once_the_status_changes(alice_client, make_job):
    job = make_job("moving", status=HpoJob.Status.IN_PROGRESS)
    part = alice_client.get(URL.format("moving") + "parts/header/", {"tab": "overview", "shown": "Pending"})
    assert '<div id="messages" hx-swap-oob="true"></div>' in part.content.decode()
    part = alice_client.get(URL.format("moving") + "parts/header/", {"tab": "overview", "shown": "InProgress"})
    assert 'id="messages"' not in part.content.decode()
    assert job.status == "InProgress"


# ---- one time format --------------------------------------------------------------------------------
def test_times_have_one_format_with_the_zone_and_the_relative_time_on_hover(alice_client, tie_job):
    for tab in ("overview", "training-jobs"):
        html = page(alice_client, "tie-demo", tab=tab)
        times = re.findall(r'<time datetime="[^"]+" title="([^"]+)">(.*?)</time>', html, re.S)
        assert times
        for hover, text in times:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d <span class=\"nowrap\">\d\d:\d\d:\d\d UTC</span>", text), text
            assert hover.endswith("ago") or hover == "just now"


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Sao_Paulo"])
def test_the_tables_times_are_in_the_portals_time_zone(alice_client, tie_job, settings, zone):
    """The table formats its times with the zone looked up once a page: the same text as everywhere else."""
    from zoneinfo import ZoneInfo

    settings.TIME_ZONE = zone
    table = page(alice_client, "tie-demo", tab="training-jobs")
    tj = tie_job.training_jobs.get(name="tie-demo-001-abcdef12")
    local = tj.creation_time.astimezone(ZoneInfo(zone))
    shown = f'{local:%Y-%m-%d} <span class="nowrap">{local:%H:%M:%S %Z}</span>'
    expected = rf'<time datetime="{re.escape(tj.creation_time.isoformat())}" title="[^"]+">{re.escape(shown)}</time>'
    row = re.search(r'<tr data-training-job="tie-demo-001-abcdef12".*?</tr>', table, re.S).group(0)
    assert re.search(expected, row), row
    assert re.fullmatch(expected, hpo_format.when(tj.creation_time))


# ---- small things that got in the way -------------------------------------------------------------
def test_the_clone_wizard_says_what_it_cloned(alice_client, make_job):
    from .factories import local_request
    from .wizard_helpers import data_dir

    request = local_request(data_dir())
    request["HyperParameterTuningJobName"] = "cloned-one"
    make_job("cloned-one", status=HpoJob.Status.COMPLETED, request=request)
    response = alice_client.get(URL.format("cloned-one") + "clone/", follow=True)
    html = response.content.decode()
    assert re.search(r"Cloned from cloned-one \(Completed, created \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\): its 1 definition, "
                     r"strategy, resources and tags are filled in; the new job is named cloned-one-copy\.", html), html[:3000]


def test_an_empty_project_page_offers_to_create_a_job(alice_client, project):
    html = alice_client.get("/projects/demo/").content.decode()
    assert 'href="/projects/demo/hpo-jobs/create/"' in html and "Create your first HPO job" in html


def test_the_log_shows_tabs_where_cloudwatch_writes_011(alice_client, make_job, monkeypatch):
    from hpo_jobs.pages import views

    job = make_job("tabs", status=HpoJob.Status.COMPLETED, request=xgb_request("tabs"))
    child(job, 1, 0.5, ended_min=3)
    monkeypatch.setattr(views, "_read_log", lambda backend, job, tj: ("[0]#011validation-auc:0.5\n", ""))
    html = alice_client.get(URL.format("tabs") + "training-jobs/tabs-001-abcdef12/").content.decode()
    assert "[0]\tvalidation-auc:0.5" in html and "#011" not in html.split('class="log')[1][:200]


def test_the_history_chart_of_a_two_metric_job_draws_one_metric(alice_client, make_job):
    job = make_job("two-charts", status=HpoJob.Status.COMPLETED, request=two_metric_request("two-charts"))
    child(job, 1, 0.80, ended_min=1, definition="auc")
    child(job, 2, 0.90, ended_min=2, definition="auc")
    child(job, 3, 0.05, ended_min=3, definition="err", metric="validation:error")
    html = page(alice_client, "two-charts", tab="charts")
    history = html[html.index('id="objective-history"'): html.index("</svg>", html.index('id="objective-history"'))]
    assert history.count("<circle") == 2 and "two-charts-003" not in history
    assert 'id="history-one-metric"' in html
