"""The job pages in Chromium: the list, a job's tabs, the charts, a training job, in-place refresh,
and a real local job that turns Completed on screen without a reload.

Screenshots of every page go to var/screenshots/ each time these tests run.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from hpo_jobs.pages import presenters, views
from hpo_jobs.models import HpoJob
from hpo_jobs.sagemaker.metrics import parse_text

from .factories import build_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 900}
XGB_LOG = "\n".join(
    ["[2026-01-05:09:00:01:INFO] Running XGBoost on 455 rows x 30 columns", "[2026-01-05:09:00:01:INFO] Train matrix has 455 rows"]
    + [f"[{i}]\ttrain-auc:{min(0.999, 0.93 + i * 0.004):.5f}\tvalidation-auc:{0.91 + 0.07 * (1 - 0.8 ** i):.5f}"
       for i in range(25)]
    + ["[2026-01-05:09:01:12:INFO] Saved the model to /opt/ml/model/xgboost-model"]
) + "\n"


class FakeBackend:
    live_metrics = True

    def get_training_job_log(self, training_job_name: str, max_bytes: int = 1_000_000) -> str:
        return XGB_LOG

    def get_training_job_metrics(self, training_job_name: str, metric_definitions: list[dict[str, str]]):
        return parse_text(XGB_LOG, metric_definitions)  # what an engine reads from that log


@pytest.fixture
def jobs(project, alice, bob, make_job):
    """A project as people see it after a few weeks: jobs done, running, failed and stopped."""
    now = timezone.now()
    build_job(project, alice, "xgb-breast-cancer", 40, seed=7, started=now - timedelta(days=2, hours=3))
    build_job(project, bob, "xgb-depth-sweep", 24, seed=3, status="InProgress", started=now - timedelta(minutes=40))
    make_job("ll-churn-v2", status="Failed", created_by=bob, started_at=now - timedelta(days=1), ended_at=now - timedelta(hours=23),
             failure_reason="ClientError: The objective metric validation:objective_loss is not emitted by linear-learner")
    make_job("knn-baseline", status="Stopped", completed_count=2, finished_count=2, best_objective_value=0.912, started_at=now - timedelta(days=3),
             ended_at=now - timedelta(days=3) + timedelta(minutes=17),
             best_training_job={"TrainingJobName": "knn-baseline-002-abcdef12",
                                "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "test:accuracy", "Value": 0.912}})
    make_job("xgb-pending", status="Pending")
    return HpoJob.objects.get(name="xgb-breast-cancer")


@pytest.fixture
def dialogs(page):
    """Every JavaScript dialog the page opens (markup in data must never open one)."""
    opened = []
    page.on("dialog", lambda dialog: (opened.append(dialog.message), dialog.dismiss()))
    return opened


def open_as_alice(page, login):
    page.set_viewport_size(VIEWPORT)
    login(page, "alice")


def mark_document(page) -> None:
    """A flag that a full reload would wipe: its survival proves a change came in place."""
    page.evaluate("window.__stillTheSameDocument = true")


def same_document(page) -> bool:
    return page.evaluate("window.__stillTheSameDocument === true")


def objective_values(page) -> list[float]:
    """The objective column's numbers, top to bottom (a job with none shows a dash)."""
    values = []
    for text in page.locator("td.objective-cell").all_inner_texts():
        first = text.split()[0] if text.split() else ""
        if first[:1].isdigit():
            values.append(float(first))
    return values


# ---- the list ---------------------------------------------------------------------------------------
def test_the_job_list_sorts_filters_and_searches(page, live_server, login, jobs, screenshot_dir):
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/")
    rows = page.locator("tr[data-job]")
    expect(rows).to_have_count(5)
    page.screenshot(path=str(screenshot_dir / "hpo-jobs-list.png"), full_page=True)

    page.get_by_role("link", name="Name").click()
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Name")
    assert [r.get_attribute("data-job") for r in rows.all()] == sorted(
        ["xgb-breast-cancer", "xgb-depth-sweep", "ll-churn-v2", "knn-baseline", "xgb-pending"])

    page.get_by_label("Status").select_option("Failed")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ll-churn-v2")

    page.get_by_role("link", name="Clear filters").click()
    page.get_by_label("Search by name").fill("xgb")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(3)


def test_an_empty_project_points_to_the_wizard(page, live_server, login, project, screenshot_dir):
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/")
    expect(page.get_by_role("link", name="Create your first HPO job")).to_have_attribute("href", "/projects/demo/hpo-jobs/create/")
    expect(page.get_by_role("link", name="Import a CreateHyperParameterTuningJob request")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "hpo-jobs-empty.png"), full_page=True)


# ---- a job's page -----------------------------------------------------------------------------------
def test_the_details_page_and_its_tabs(page, live_server, login, jobs, screenshot_dir):
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-breast-cancer/")
    expect(page.locator("#job-status")).to_have_text("Completed")
    expect(page.get_by_role("heading", name="Best training job")).to_be_visible()
    expect(page.locator("#best")).to_contain_text(jobs.best_training_job["TrainingJobName"])
    expect(page.get_by_role("heading", name="Why training jobs failed")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "hpo-job-details.png"), full_page=True)

    for tab, shot, check in [
        ("Training jobs", "hpo-job-training-jobs.png", "tr[data-training-job]"),
        ("Definitions", "hpo-job-definitions.png", "section.definition"),
        ("Configuration", "hpo-job-configuration.png", "pre.request-json"),
    ]:
        page.locator("nav.tabs").get_by_role("link", name=tab).click()
        expect(page.locator(check).first).to_be_visible()
        expect(page.locator("nav.tabs a[aria-current=page]")).to_contain_text(tab)
        page.screenshot(path=str(screenshot_dir / shot), full_page=True)


def test_sorting_and_filtering_the_training_jobs_in_place(page, live_server, login, jobs):
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-breast-cancer/?tab=training-jobs")
    rows = page.locator("tr[data-training-job]")
    expect(rows).to_have_count(40)
    mark_document(page)

    # Best first by default (validation:auc is maximised): the values go down.
    values = objective_values(page)
    assert len(values) > 30 and values == sorted(values, reverse=True)

    # The objective header turns it around, in place, and the address follows.
    page.locator("th", has_text="validation:auc").get_by_role("link").click()
    expect(page.locator("table.tj-table")).to_have_attribute("data-sort", "objective")
    values = objective_values(page)
    assert len(values) > 30 and values == sorted(values)
    assert "sort=objective" in page.url and same_document(page)

    # Filtering by status keeps only those, in place.
    failed = jobs.training_jobs.filter(status="Failed").count()
    page.get_by_label("Status").select_option("Failed")
    expect(rows).to_have_count(failed)
    assert set(r.get_attribute("data-status") for r in rows.all()) == {"Failed"}
    assert "status=Failed" in page.url and same_document(page)

    # Sorting by status groups the statuses.
    page.get_by_label("Status").select_option("")
    expect(rows).to_have_count(40)
    page.locator("th", has_text="Status").get_by_role("link").click()
    expect(page.locator("table.tj-table")).to_have_attribute("data-sort", "status")
    statuses = [r.get_attribute("data-status") for r in rows.all()]
    assert statuses == sorted(statuses) and same_document(page)


def test_the_training_jobs_table_pages_in_place_by_cursor(page, live_server, login, make_job):
    make_job("paged", children=120)
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/paged/?tab=training-jobs&sort=name")
    rows = page.locator("tr[data-training-job]")
    expect(rows).to_have_count(50)
    mark_document(page)
    first = [r.get_attribute("data-training-job") for r in rows.all()]
    assert first[0] == "paged-001-abcdef12"

    pager = page.get_by_role("navigation", name="Training job pages")
    pager.get_by_role("link", name="Next ›").click()
    expect(rows.first).to_have_attribute("data-training-job", "paged-051-abcdef12")
    assert "after=" in page.url and "sort=name" in page.url and same_document(page)

    pager.get_by_role("link", name="Last page").click()
    expect(rows.last).to_have_attribute("data-training-job", "paged-120-abcdef12")
    expect(pager.get_by_text("Next ›")).to_have_attribute("aria-disabled", "true")

    pager.get_by_role("link", name="‹ Previous").click()
    expect(rows.last).to_have_attribute("data-training-job", "paged-070-abcdef12")
    pager.get_by_role("link", name="First page").click()
    expect(rows.first).to_have_attribute("data-training-job", "paged-001-abcdef12")
    assert [r.get_attribute("data-training-job") for r in rows.all()] == first and same_document(page)


def test_the_charts_draw_a_mark_per_training_job(page, live_server, login, jobs, screenshot_dir):
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-breast-cancer/?tab=charts")
    scored = jobs.training_jobs.exclude(objective_value=None).count()
    history = page.locator("svg#objective-history")
    expect(history).to_be_visible()
    expect(history.locator(".mark")).to_have_count(scored)
    expect(page.locator("svg#parallel-1 .mark")).to_have_count(40)
    expect(history).to_have_attribute("role", "img")
    assert "Objective value over time" in history.locator("title").first.text_content()
    page.screenshot(path=str(screenshot_dir / "hpo-job-charts.png"), full_page=True)

    # A mark is a link: reachable with the keyboard, and it opens its training job.
    first_link = history.locator("a").first
    first_link.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tj-title")).to_be_visible()


def test_the_training_job_page(page, live_server, login, jobs, monkeypatch, screenshot_dir):
    monkeypatch.setattr(views, "get_backend", lambda name: FakeBackend())
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-breast-cancer/")
    page.locator("#best a.strong").click()
    expect(page.locator("#tj-title")).to_have_text(jobs.best_training_job["TrainingJobName"])
    expect(page.locator(".badge-best")).to_be_visible()
    expect(page.locator("pre.log")).to_contain_text("Running XGBoost on 455 rows")
    expect(page.locator(".curve-grid svg")).to_have_count(2)  # validation:auc and train:auc per round
    page.screenshot(path=str(screenshot_dir / "training-job.png"), full_page=True)


def test_a_failed_training_job_and_a_failed_job_say_why(page, live_server, login, jobs, monkeypatch, screenshot_dir):
    monkeypatch.setattr(views, "get_backend", lambda name: FakeBackend())
    open_as_alice(page, login)
    failed = jobs.training_jobs.filter(status="Failed").first()
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-breast-cancer/training-jobs/{failed.name}/")
    expect(page.get_by_role("alert")).to_contain_text(failed.failure_reason)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/ll-churn-v2/")
    expect(page.get_by_role("alert")).to_contain_text("is not emitted by linear-learner")
    page.screenshot(path=str(screenshot_dir / "hpo-job-failed.png"), full_page=True)


def test_markup_in_names_is_shown_never_run(page, live_server, login, project, alice, make_job, dialogs, monkeypatch):
    monkeypatch.setattr(views, "get_backend", lambda name: FakeBackend())
    evil = "<img src=x onerror=alert(1)>"
    job = make_job(evil, status="InProgress", children=3, best_training_job={
        "TrainingJobName": f"{evil}-001", "TunedHyperParameters": {evil: evil},
        "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": evil, "Value": 1}})
    job.training_jobs.update(tuned_hyperparameters={evil: evil, "<script>alert(2)</script>": "1"}, failure_reason=evil)
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/")
    expect(page.locator("tbody a").first).to_have_text(evil)
    page.locator("tbody a").first.click()
    expect(page.locator("#job-title")).to_have_text(evil)
    for tab in ("training-jobs", "charts", "definitions", "configuration"):
        page.goto(f"{page.url.split('?')[0]}?tab={tab}")
        expect(page.locator("nav.tabs a[aria-current=page]")).to_be_visible()
    page.locator("nav.tabs").get_by_role("link", name="Training jobs").click()
    page.locator("tr[data-training-job] a").first.click()
    expect(page.locator("#tj-title")).to_be_visible()
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0


# ---- live refresh -----------------------------------------------------------------------------------
def test_an_active_job_refreshes_in_place_and_stops_when_it_ends(page, live_server, login, project, alice, screenshot_dir):
    job = build_job(project, alice, "xgb-live", 12, status="InProgress", seed=9)
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-live/")
    expect(page.locator("#job-status")).to_have_text("In Progress")
    expect(page.locator("#job-header .live")).to_be_visible()
    mark_document(page)
    page.screenshot(path=str(screenshot_dir / "hpo-job-running.png"), full_page=True)

    HpoJob.objects.filter(pk=job.pk).update(status="Completed", ended_at=timezone.now())
    job.training_jobs.filter(status="InProgress").update(status="Completed", objective_value=0.97, objective_status="Succeeded",
                                                         end_time=timezone.now())
    expect(page.locator("#job-status")).to_have_text("Completed", timeout=15_000)
    expect(page.locator("#job-header .live")).to_have_count(0)
    expect(page.locator("#overview [data-counter=InProgress] dd")).to_have_text("3", timeout=15_000)  # mirrored counters
    assert same_document(page)
    # Ended: neither part polls any more.
    assert page.locator("#job-header[hx-trigger]").count() == 0
    expect(page.locator("#overview[hx-trigger]")).to_have_count(0, timeout=15_000)


def test_stop_asks_first_survives_the_refresh_and_shows_stopping(page, live_server, login, project, alice, monkeypatch):
    from hpo_jobs import services

    queued = []
    monkeypatch.setattr(services, "_queue_stop", lambda job_id: queued.append(job_id) or True)
    job = build_job(project, alice, "xgb-to-stop", 6, status="InProgress", seed=2)
    HpoJob.objects.filter(pk=job.pk).update(launch_attempts=1, launched_at=timezone.now())
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-to-stop/")
    page.locator("summary", has_text="Stop…").click()
    confirm = page.get_by_role("button", name="Stop the job")
    expect(confirm).to_be_visible()
    with page.expect_response(lambda r: "/parts/header/" in r.url, timeout=15_000):
        pass  # a live refresh of the header happens while the question is open...
    expect(confirm).to_be_visible()  # ...and the question stays open
    confirm.click()
    expect(page.locator("#job-status")).to_have_text("Stopping")
    expect(page.get_by_role("status")).to_contain_text("Stopping “xgb-to-stop”")
    expect(page.locator("summary", has_text="Stop…")).to_have_count(0)
    assert queued == [job.pk]


def _local_request(name: str, data_root) -> dict:
    channels = [
        {"ChannelName": channel, "ContentType": "text/csv",
         "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{data_root / 'breast-cancer' / channel}",
                                         "S3DataDistributionType": "FullyReplicated"}}}
        for channel in ("train", "validation")
    ]
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.3", "ScalingType": "Logarithmic"}]},
            "TrainingJobEarlyStoppingType": "Off",
            "RandomSeed": 7,
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": settings.HPO_LOCAL_EXAMPLE_IMAGE, "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "validation:accuracy", "Regex": "validation_accuracy=([0-9.]+)"},
                    {"Name": "validation:loss", "Regex": "validation_loss=([0-9.]+)"},
                ],
            },
            "StaticHyperParameters": {"epochs": "4"},
            "RoleArn": "arn:aws:iam::123456789012:role/hpo-portal-execution",
            "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": "s3://hpo-portal-test/output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        },
    }


@pytest.fixture
def local_engine(settings, tmp_path):
    """The local engine on a private folder, with the demo datasets as the allowed data (set before
    the worker starts, which takes its folders from these settings)."""
    from hpo_jobs.local_engine.demo_data import write_demo_datasets

    data = tmp_path / "data"
    write_demo_datasets(data)
    settings.HPO_BACKEND = "local"
    settings.HPO_LOCAL_ENGINE_DIR = tmp_path / "engine"
    settings.HPO_LOCAL_DATA_DIRS = [data]
    return data


@pytest.mark.e2e
def test_a_running_local_job_turns_completed_without_a_reload(
    local_engine, celery_worker_process, page, live_server, login, project, alice, screenshot_dir
):
    from hpo_jobs import services

    job = services.create_job(project, alice, _local_request("live-local", local_engine))
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/live-local/")
    expect(page.locator("#job-header .live")).to_be_visible()
    mark_document(page)

    try:
        expect(page.locator("#job-status")).to_have_text("Completed", timeout=180_000)
    except AssertionError:
        job.refresh_from_db()
        log = celery_worker_process.log_path.read_text(errors="replace")[-4000:]
        raise AssertionError(f"the job is {job.status} ({job.engine_error or job.failure_reason!r}); worker log:\n{log}")
    assert same_document(page), "the page reloaded instead of refreshing in place"
    expect(page.locator("#overview [data-counter=Completed] dd")).to_have_text("3", timeout=30_000)
    expect(page.locator("#best")).to_contain_text("validation:accuracy", timeout=30_000)
    page.screenshot(path=str(screenshot_dir / "hpo-job-local-completed.png"), full_page=True)
    job.refresh_from_db()
    assert job.status == "Completed" and job.training_jobs.count() == 3, (
        job.status, celery_worker_process.log_path.read_text()[-3000:])


def test_the_insights_tab_draws_slices_a_contour_and_a_timeline(page, live_server, login, jobs, screenshot_dir):
    from hpo_jobs import services

    services.refresh_insights(jobs.pk)
    open_as_alice(page, login)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/xgb-breast-cancer/?tab=insights")
    scored = jobs.training_jobs.exclude(objective_value=None).count()
    started = jobs.training_jobs.exclude(start_time=None, creation_time=None).count()
    slices = page.locator("svg.chart-slice")
    tuned = presenters.present_definitions(jobs.request)[0]["tuned_names"]
    expect(slices).to_have_count(len(tuned))
    # eta's range is Logarithmic: its slice has a log axis.
    expect(page.locator('figure[data-hyperparameter="eta"] svg')).to_have_attribute("data-scale", "log")
    expect(page.locator('figure[data-hyperparameter="subsample"] svg')).to_have_attribute("data-scale", "linear")
    for i in range(len(tuned)):
        expect(slices.nth(i)).to_be_visible()
        expect(slices.nth(i).locator(".mark")).to_have_count(scored)
    expect(page.locator("svg.chart-contour .mark")).to_have_count(scored)
    timeline = page.locator("svg#timeline")
    expect(timeline).to_be_visible()
    expect(timeline.locator(".mark")).to_have_count(started)
    expect(page.locator("svg.chart-importance")).to_have_count(2)
    page.screenshot(path=str(screenshot_dir / "hpo-job-insights.png"), full_page=True)

    # A timeline bar is a link: reachable with the keyboard, it opens its training job.
    timeline.locator("a").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tj-title")).to_be_visible()
