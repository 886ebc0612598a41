"""The pages a data scientist reads every day, in Chromium at 1280x800: tables that fit, every
server error on a wizard step visible, one best job marked everywhere on a tie, a job list that
follows running jobs by itself and stops when none runs, sorts that the address keeps, and a
confirm before an edit is lost.

The README's screenshots are made here (var/screenshots/; the chosen ones are copied to docs/).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from hpo_jobs.management.commands.make_bench_jobs import build_job
from hpo_jobs.models import HpoJob, TrainingJob

from .wizard_helpers import data_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1280, "height": 800}


def overflow(page, selector: str) -> list[dict]:
    """Each element matching ``selector`` whose content is wider than its box (it would scroll sideways)."""
    return page.evaluate(
        """(selector) => Array.from(document.querySelectorAll(selector)).map(el => {
            const box = el.closest('.table-wrap') || el.parentElement;
            return {scroll: box.scrollWidth, client: box.clientWidth, table: el.scrollWidth};
        }).filter(m => m.scroll > m.client + 1)""",
        selector,
    )


@pytest.fixture
def alice_page(page, login, project):
    page.set_viewport_size(VIEWPORT)
    login(page, "alice")
    return page


@pytest.fixture
def busy_project(project, alice, bob, make_job):
    """Jobs with long names and every kind of row, as a team's list looks after a few weeks."""
    now = timezone.now()
    build_job(project, alice, "xgb-breast-cancer-depth-and-eta", 40, seed=7, started=now - timedelta(days=2))
    build_job(project, bob, "xgb-depth-sweep-rather-long-name", 24, seed=3, status="InProgress",
              started=now - timedelta(minutes=40))
    make_job("ll-churn-v2", status="Failed", created_by=bob, started_at=now - timedelta(days=1),
             ended_at=now - timedelta(hours=23), failure_reason="ClientError: no objective metric")
    make_job("knn-baseline-breast-cancer-data", status="Stopped", completed_count=2, best_objective_value=0.912,
             best_training_job={"TrainingJobName": "knn-baseline-002-abcdef12", "FinalHyperParameterTuningJobObjectiveMetric": {
                 "MetricName": "test:accuracy", "Value": 0.912}})
    return HpoJob.objects.get(name="xgb-breast-cancer-depth-and-eta")


# ---- tables that fit ------------------------------------------------------------------------------
def test_no_main_table_scrolls_sideways_at_1280(alice_page, live_server, busy_project, screenshot_dir):
    page = alice_page
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/")
    expect(page.locator("tr[data-job]")).to_have_count(4)
    assert overflow(page, "table.jobs-table") == []

    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/{busy_project.name}/?tab=training-jobs")
    expect(page.locator("tr[data-training-job]").first).to_be_visible()
    assert overflow(page, "table.tj-table") == []
    page.screenshot(path=str(screenshot_dir / "readable-training-jobs.png"), full_page=False)

    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/{busy_project.name}/")
    expect(page.locator("#best-standing")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "readable-job-page.png"), full_page=True)

    root = data_dir("browser-fit")
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/create/")
    page.get_by_label("Job name").fill("fits")
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Data location of train").fill((root / "train").as_uri() + "/")
    page.get_by_label("Data location of validation").fill((root / "validation").as_uri() + "/")
    page.get_by_role("button", name="Add channel").click()  # a round trip: the path's end shows under its box
    channels = page.locator("table.rows-table", has=page.locator("input[name$='-uri']"))
    expect(channels).to_be_visible()
    expect(channels.locator(".path-tail").first).to_have_text("…/browser-fit/train/")
    assert overflow(page, "table.rows-table:has(input[name$='-uri'])") == []
    # Every channel column is on screen, Input mode and Remove included.
    for label in ("Input mode", "Record wrapper"):
        box = channels.locator("th", has_text=label).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], (label, box)
    remove = channels.get_by_role("button", name="Remove channel train").bounding_box()
    assert remove and remove["x"] + remove["width"] <= VIEWPORT["width"], remove
    page.screenshot(path=str(screenshot_dir / "readable-wizard-definitions.png"), full_page=True)
    page.locator("#definition-editor legend", has_text="Hyperparameters").evaluate("el => el.scrollIntoView()")
    page.screenshot(path=str(screenshot_dir / "readable-wizard-hyperparameters.png"))


# ---- every server error on a wizard step is visible ----------------------------------------------
def test_every_error_the_server_finds_on_step_2_is_visible(alice_page, live_server, project, settings):
    page = alice_page
    settings.HPO_BACKEND = "local"
    root = data_dir("browser-errors")
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/create/")
    page.get_by_label("Job name").fill("errors-seen")
    page.get_by_role("button", name="Next").click()
    page.on("dialog", lambda dialog: dialog.accept())
    # The local engine does not run K-Means, so the wizard does not offer it (its check would refuse it).
    expect(page.locator("#id_def-algorithm option[value='kmeans']")).to_have_count(0)
    page.get_by_label("Built-in algorithm").select_option("knn")
    expect(page.get_by_label("Value of feature_dim")).to_be_visible()
    page.get_by_label("Data location of train").fill((root / "train").as_uri() + "/")
    page.get_by_label("Data location of test").fill((root / "validation").as_uri() + "/")  # k-NN evaluates on test
    # feature_dim is required and has no default: its error sits next to it, visible.
    page.get_by_label("Value of feature_dim").fill("")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".badge", has_text="problem")).to_be_visible()
    assert_every_error_visible(page)
    # Filled in, nothing is left: the step goes on.
    page.get_by_label("Value of feature_dim").fill("30")
    page.get_by_role("button", name="Next").click()
    expect(page.locator("p.meta", has_text="Step 3 of 4")).to_be_visible()
    expect(page.locator(".field-error")).to_have_count(0)


def assert_every_error_visible(page) -> None:
    errors = page.locator(".field-error")
    expect(errors.first).to_be_visible()
    for index in range(errors.count()):
        expect(errors.nth(index)).to_be_visible()


# ---- one best job, marked the same everywhere -----------------------------------------------------
def test_a_tie_of_best_values_marks_the_same_job_everywhere(alice_page, live_server, project, alice, make_job):
    page = alice_page
    job = make_job("tie-demo", status="Completed", children=0)
    t0 = timezone.now() - timedelta(hours=1)
    values = [0.999375, 0.95, 0.97, 0.9, 0.98, 0.96, 0.999375, 0.91]
    TrainingJob.objects.bulk_create(
        TrainingJob(hpo_job=job, name=f"tie-demo-{i:03d}-abcdef12", status="Completed", objective_status="Succeeded",
                    objective_value=v, objective_metric_name="validation:auc", creation_time=t0 + timedelta(minutes=i),
                    start_time=t0 + timedelta(minutes=i), end_time=t0 + timedelta(minutes=10 + i),
                    tuned_hyperparameters={"eta": str(0.05 * i)})
        for i, v in enumerate(values, start=1))
    first = "tie-demo-001-abcdef12"
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/tie-demo/")
    expect(page.locator("#best .best")).to_have_attribute("data-best", first)
    expect(page.locator("#best-standing")).to_contain_text("tied with 1 other")
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/tie-demo/?tab=training-jobs")
    expect(page.locator("tr.row-best")).to_have_attribute("data-best", first)
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/tie-demo/?tab=charts")
    marked = page.locator("svg [data-best]")
    expect(marked).to_have_count(2)
    assert {marked.nth(i).get_attribute("data-best") for i in range(2)} == {first}


# ---- the job list follows running jobs ------------------------------------------------------------
def test_the_job_list_updates_a_running_row_in_place_and_stops_polling(alice_page, live_server, project, make_job):
    page = alice_page
    running = make_job("running-now", status="InProgress")
    HpoJob.objects.filter(pk=running.pk).update(max_training_jobs=24)
    make_job("done-before", status="Completed")
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/")
    row = page.locator('tr[data-job="running-now"]')
    expect(row.locator(".progress-text")).to_have_text("0 of 24")
    expect(page.locator("#job-results")).to_have_attribute("data-live", "on")
    page.evaluate("window.__sameDocument = true")

    HpoJob.objects.filter(pk=running.pk).update(completed_count=7, finished_count=7)
    expect(row.locator(".progress-text")).to_have_text("7 of 24", timeout=15_000)
    HpoJob.objects.filter(pk=running.pk).update(status="Completed", completed_count=24, finished_count=24, ended_at=timezone.now())
    expect(row.locator(".badge")).to_have_text("Completed", timeout=15_000)
    assert page.evaluate("window.__sameDocument === true"), "the list reloaded instead of refreshing in place"
    # Nothing runs any more: the swapped-in rows carry no trigger, so htmx polls no more.
    expect(page.locator("#job-results")).to_have_attribute("data-live", "off")
    assert page.locator("#job-results[hx-trigger]").count() == 0


def test_filters_apply_on_change_and_the_address_keeps_them(alice_page, live_server, busy_project):
    page = alice_page
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/")
    page.evaluate("window.__sameDocument = true")
    page.get_by_label("Status").select_option("Failed")
    expect(page.locator("tr[data-job]")).to_have_count(1)
    assert "status=Failed" in page.url
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("tr[data-job]")).to_have_count(4)
    page.locator("th", has_text="Name").get_by_role("link").click()
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Name")
    assert "sort=name" in page.url
    page.reload()
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Name")


# ---- the training jobs table: sorts that the address keeps --------------------------------------
def test_sorting_the_training_jobs_by_a_hyperparameter_is_kept_by_the_address(alice_page, live_server, busy_project):
    page = alice_page
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/{busy_project.name}/?tab=training-jobs")
    page.locator("th.hp-col", has_text="eta").get_by_role("link").click()
    expect(page.locator("table.tj-table")).to_have_attribute("data-sort", "hp:eta")
    assert "sort=hp%3Aeta" in page.url or "sort=hp:eta" in page.url
    page.reload()
    expect(page.locator("table.tj-table")).to_have_attribute("data-sort", "hp:eta")
    etas = [float(t) for t in page.locator("tr[data-training-job] td.hp-value-eta").all_inner_texts() if t.strip() != "—"]
    assert etas and etas == sorted(etas)
