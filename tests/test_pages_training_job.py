"""A training job's page: status and times, hyperparameters, final metrics, failure reason, the log
read from the engine, and the metric curves the engine read from the log (stored once it ended)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hpo_jobs.pages import views
from hpo_jobs.sagemaker.metrics import parse_text
from hpo_jobs.backends import NotFoundError, TransientBackendError

from .factories import bench_request

pytestmark = pytest.mark.django_db

# What SageMaker's XGBoost prints (a tab between the columns; CloudWatch shows it as #011).
XGB_LOG = "\n".join(
    ["[2026-01-05:09:00:01:INFO] Running XGBoost on 455 rows"]
    + [f"[{i}]\ttrain-auc:{0.90 + i / 100:.5f}\tvalidation-auc:{0.88 + i / 120:.5f}" for i in range(8)]
) + "\n"


class FakeBackend:
    """The engine seam: what get_backend(job.backend) returns to the page."""

    live_metrics = True
    name = "local"

    @property
    def capabilities(self):
        from hpo_jobs.backends.local import LocalBackend

        return LocalBackend().capabilities  # the jobs ran locally; pages name the engine from its capabilities

    def __init__(self, log: str = XGB_LOG, error: Exception | None = None):
        self.log, self.error, self.asked, self.metrics_asked = log, error, [], []

    def get_training_job_log(self, training_job_name: str, max_bytes: int = 1_000_000) -> str:
        self.asked.append(training_job_name)
        if self.error:
            raise self.error
        return self.log

    def get_training_job_metrics(self, training_job_name: str, metric_definitions: list[dict[str, str]]):
        # The engine's side: it reads its log once with the definitions (the page never does).
        self.metrics_asked.append(training_job_name)
        if self.error:
            raise self.error
        return parse_text(self.log, metric_definitions)


@pytest.fixture
def backend(monkeypatch):
    fake = FakeBackend()
    monkeypatch.setattr(views, "get_backend", lambda name: fake)
    return fake


@pytest.fixture
def job(make_job):
    now = timezone.now()
    job = make_job("xgb-job", status="Completed", request=bench_request("xgb-job", 4), children=2)
    tj = job.training_jobs.order_by("name").first()
    tj.tuned_hyperparameters = {"max_depth": "6", "eta": "0.134"}
    tj.objective_value, tj.objective_metric_name, tj.objective_status = 0.9383, "validation:auc", "Succeeded"
    tj.creation_time, tj.start_time, tj.end_time = now - timedelta(minutes=5), now - timedelta(minutes=4, seconds=30), now
    tj.save()
    return job


def url(job, tj_name: str) -> str:
    return f"/projects/demo/hpo-jobs/{job.name}/training-jobs/{tj_name}/"


def first(job):
    return job.training_jobs.order_by("name").first()


def test_it_shows_status_times_hyperparameters_and_the_objective(alice_client, job, backend):
    tj = first(job)
    html = alice_client.get(url(job, tj.name)).content.decode()
    for text in (tj.name, 'id="tj-status">Completed<', "0.9383", "Succeeded", "4m 30s", "XGBoost"):
        assert text in html, text
    tuned = html[html.index("Tuned hyperparameters"):html.index("Static hyperparameters")]
    # In the order the Definitions tab lists the ranges (integer, then continuous), as strings.
    assert tuned.index(">max_depth<") < tuned.index(">eta<") and ">0.134<" in tuned and ">6<" in tuned
    static = html[html.index("Static hyperparameters"):]
    assert ">binary:logistic<" in static and ">num_round<" in static
    assert backend.asked == [tj.name]


def test_it_reads_final_metrics_and_curves_from_the_log(alice_client, job, backend):
    html = alice_client.get(url(job, first(job).name)).content.decode()
    metrics = html[html.index("Final metrics"):html.index("Tuned hyperparameters")]
    assert "validation:auc" in metrics and "0.93833" in metrics  # the last validation-auc line
    assert "train:auc" in metrics and "0.97" in metrics
    assert metrics.index("validation:auc") < metrics.index("train:auc")  # the objective first
    assert 'class="row-objective"' in metrics
    curves = html[html.index("Metric curves"):html.index('id="log-heading"')]
    assert curves.count("<svg") == 2 and curves.count('class="mark"') == 16


def test_the_log_is_shown_as_the_engine_keeps_it(alice_client, job, backend):
    html = alice_client.get(url(job, first(job).name)).content.decode()
    log = html[html.index('<pre class="log"'):]
    assert "Running XGBoost on 455 rows" in log and "[7]\ttrain-auc:0.97000" in log


def test_a_log_with_one_value_per_metric_draws_no_curve(alice_client, job, backend):
    backend.log = "[0]\ttrain-auc:0.91\tvalidation-auc:0.9\n"
    tj = first(job)
    tj.status = "InProgress"  # not stored yet: read from the engine
    tj.save()
    html = alice_client.get(url(job, first(job).name)).content.decode()
    assert "Metric curves" not in html and "0.9" in html


@pytest.mark.parametrize("error,message", [
    (TransientBackendError("CloudWatch Logs timed out"), "CloudWatch Logs timed out"),
    (NotFoundError("No training job named x"), "No training job named x"),
])
def test_an_engine_that_cannot_give_the_log_gets_a_clear_message(alice_client, job, backend, error, message):
    backend.error = error
    response = alice_client.get(url(job, first(job).name))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The log could not be read from the local engine" in html and message in html
    assert "The metrics could not be read from the local engine" in html
    assert "0.9383" in html  # everything else still shows


def test_the_real_local_engine_without_this_job_says_so(alice_client, job, settings, tmp_path):
    settings.HPO_LOCAL_ENGINE_DIR = tmp_path / "engine"
    html = alice_client.get(url(job, first(job).name)).content.decode()
    assert "The log could not be read from the local engine" in html


def test_a_failed_training_job_shows_why(alice_client, job, backend):
    tj = first(job)
    tj.status, tj.failure_reason, tj.objective_value, tj.objective_status = "Failed", "AlgorithmError: out of memory", None, "Failed"
    tj.save()
    html = alice_client.get(url(job, tj.name)).content.decode()
    assert "Why it failed:</strong> AlgorithmError: out of memory" in html
    assert 'id="tj-status">Failed<' in html


def test_a_running_training_job_refreshes_its_page(alice_client, job, backend):
    tj = first(job)
    tj.status, tj.end_time = "InProgress", None
    tj.save()
    html = alice_client.get(url(job, tj.name)).content.decode()
    assert 'hx-trigger="every 10s"' in html and 'hx-select="#tj-live"' in html
    tj.status = "Completed"
    tj.save()
    assert "hx-trigger" not in alice_client.get(url(job, tj.name)).content.decode()


def test_a_training_job_of_another_job_is_not_found(alice_client, job, make_job, backend):
    other = make_job("other-job", children=1)
    assert alice_client.get(url(job, first(other).name)).status_code == 404
    assert alice_client.get(url(job, "no-such-training-job")).status_code == 404
    assert backend.asked == []


def test_markup_in_names_hyperparameters_and_log_is_text(alice_client, make_job, backend):
    evil = "<script>alert(1)</script>"
    job = make_job("markup-tj", children=1)
    tj = first(job)
    tj.tuned_hyperparameters = {evil: evil}
    tj.failure_reason = evil
    tj.save()
    backend.log = f"{evil}\n"
    html = alice_client.get(url(job, tj.name)).content.decode()
    assert "<script>alert(1)" not in html and html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3


def test_a_bad_metric_regex_is_reported_not_raised(alice_client, make_job, backend):
    request = bench_request("bad-regex", 2)
    request["TrainingJobDefinition"]["AlgorithmSpecification"] = {
        "TrainingImage": "hpo-portal/example-custom:latest", "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(["}]}
    job = make_job("bad-regex", request=request, children=1)
    backend.log = "loss=0.5\n"
    html = alice_client.get(url(job, first(job).name)).content.decode()
    assert "The metric definitions could not be applied" in html


def test_an_ended_training_jobs_metrics_are_read_once_and_stored(alice_client, bob_client, job, backend):
    tj = first(job)
    first_view = alice_client.get(url(job, tj.name)).content.decode()
    tj.refresh_from_db()
    assert tj.metric_series["validation:auc"][-1] == pytest.approx(0.93833, abs=1e-5)
    assert len(tj.metric_series["train:auc"]) == 8
    backend.log = "[0]\ttrain-auc:0.1\tvalidation-auc:0.1\n"  # the engine's log changes: the page keeps what it stored
    again = bob_client.get(url(job, tj.name)).content.decode()
    assert backend.metrics_asked == [tj.name]
    for html in (first_view, again):
        metrics = html[html.index("Final metrics"):html.index("Tuned hyperparameters")]
        assert "0.93833" in metrics and html.count('class="mark"') >= 16


def test_a_running_training_job_on_an_engine_that_reads_metrics_at_the_end_shows_none_yet(alice_client, job, backend):
    backend.live_metrics = False
    tj = first(job)
    tj.status, tj.end_time = "InProgress", None
    tj.save()
    html = alice_client.get(url(job, tj.name)).content.decode()
    assert backend.metrics_asked == [] and "Metric curves" not in html
    assert "metrics are read from the log once the training job has ended" in html
    tj.refresh_from_db()
    assert tj.metric_series is None
