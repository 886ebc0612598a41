"""A member creates a two-definition XGBoost job through all four steps in Chromium."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from hpo_jobs.sagemaker import spec
from hpo_jobs.wizard.forms import WizardOptions
from hpo_jobs.models import HpoJob

from .wizard_helpers import data_dir

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_bob_creates_a_two_definition_xgboost_job(page, live_server, project, bob, login, screenshot_dir):
    root = data_dir("browser-wizard")
    login(page, "bob")
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/create/")

    # 1. Job settings
    expect(page.get_by_role("heading", name="Job settings")).to_be_visible()
    page.get_by_label("Job name").fill("browser-two-defs")
    page.get_by_label("Random: independent draws, the most parallel").check()
    expect(page.get_by_label("Hyperband max resource")).to_be_hidden()  # shown for Hyperband only
    page.get_by_label("Random seed").fill("42")
    page.get_by_label("Tags").fill("team=tabular")
    page.screenshot(path=str(screenshot_dir / "wizard-1-job-settings.png"), full_page=True)
    page.get_by_role("button", name="Next").click()

    # 2. Two definitions: XGBoost, then a copy with other ranges
    expect(page.get_by_role("heading", name="Training job definitions")).to_be_visible()
    page.get_by_label("Definition name").fill("xgb-shallow")
    page.get_by_label("Data location of train").fill((root / "train").as_uri() + "/")
    page.get_by_label("Data location of validation").fill((root / "validation").as_uri() + "/")
    page.get_by_label("Objective metric").select_option("validation:auc")
    page.get_by_label("Value of objective").select_option("binary:logistic")  # a choice, not free text
    page.get_by_label("Min of max_depth").fill("1")
    page.get_by_label("Max of max_depth").fill("3")
    page.get_by_label("Max of num_round").fill("50")
    # The table shows names as last saved: the first definition is still "definition-1" there.
    page.get_by_role("button", name="Copy definition definition-1").click()

    expect(page.get_by_label("Definition name")).to_have_value("xgb-shallow-copy")
    page.get_by_label("Definition name").fill("xgb-deep")
    page.get_by_label("Min of max_depth").fill("4")
    page.get_by_label("Max of max_depth").fill("10")
    # A blank range end is an error next to it, not a range dropped.
    page.get_by_label("Max of eta").fill("")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Enter the highest value of the range.")).to_be_visible()
    page.get_by_label("Max of eta").fill("0.6")
    expect(page.locator(".definitions-table tbody tr")).to_have_count(2)
    # Choosing another algorithm loads its hyperparameters at once (htmx); a third definition, then removed.
    page.get_by_role("button", name="Add definition").click()
    expect(page.get_by_label("Definition name")).to_have_value("definition-3")
    # Another algorithm's defaults replace the hyperparameters: the page asks first.
    questions = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_label("Built-in algorithm").select_option("knn")
    expect(page.get_by_text("feature_dim", exact=True)).to_be_visible()
    expect(page.get_by_label("Objective metric")).to_have_value("test:accuracy")
    page.get_by_role("button", name="Remove definition definition-3").click()
    expect(page.locator(".definitions-table tbody tr")).to_have_count(2)
    assert [q.split("?")[0] for q in questions] == ["Load the chosen algorithm's defaults", "Remove definition definition-3"]
    expect(page.get_by_label("Definition name")).to_have_value("xgb-deep")  # the neighbour opens
    expect(page.get_by_label("Max of eta")).to_have_value("0.6")
    page.screenshot(path=str(screenshot_dir / "wizard-2-definitions.png"), full_page=True)
    page.get_by_role("button", name="Next").click()

    # 3. Tuning resources
    expect(page.get_by_role("heading", name="Tuning resources")).to_be_visible()
    page.get_by_label("Max parallel training jobs").fill("2")
    page.get_by_label("Max training jobs").fill("4")
    page.screenshot(path=str(screenshot_dir / "wizard-3-resources.png"), full_page=True)
    page.get_by_role("button", name="Next").click()

    # 4. Review: every setting, the role, and the exact request
    expect(page.get_by_role("heading", name="Definition 1: xgb-shallow")).to_be_visible()
    expect(page.get_by_role("heading", name="Definition 2: xgb-deep")).to_be_visible()
    expect(page.locator("#review-job")).to_contain_text("Early stopping")
    expect(page.locator("#review-job")).to_contain_text("Warm start")
    expect(page.locator("#review-policy")).to_contain_text("arn:aws:iam::000000000000:role/hpo-portal-local-engine")
    shown = json.loads(page.locator("#request-json").inner_text())
    page.screenshot(path=str(screenshot_dir / "wizard-4-review.png"), full_page=True)
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(f"{live_server.url}/projects/demo/hpo-jobs/browser-two-defs/")

    job = HpoJob.objects.get(name="browser-two-defs")
    assert job.request == shown
    assert [d["DefinitionName"] for d in job.request["TrainingJobDefinitions"]] == ["xgb-shallow", "xgb-deep"]
    deep = job.request["TrainingJobDefinitions"][1]["HyperParameterRanges"]
    assert {"Name": "max_depth", "MinValue": "4", "MaxValue": "10", "ScalingType": "Linear"} in deep["IntegerParameterRanges"]
    assert {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.6", "ScalingType": "Linear"} in deep["ContinuousParameterRanges"]
    assert job.request["HyperParameterTuningJobConfig"]["Strategy"] == "Random"
    assert spec.validate_request(job.request, WizardOptions.for_project(project, bob).validation_context()) == []


def test_input_channels_table_stays_inside_the_definition_card(page, live_server, project, alice, login):
    # A fieldset grows to its content's min-content width unless told otherwise, so the channels
    # table pushed its fieldset past the card and cut the Remove buttons off at 1280 px.
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, "alice")
    page.goto(f"{live_server.url}/projects/{project.slug}/hpo-jobs/create/")
    page.get_by_label("Job name").fill("qa-channels")
    page.get_by_role("button", name="Next").click()
    remove = page.get_by_role("button", name="Remove channel train")
    remove.wait_for()
    fieldset = page.locator("fieldset", has=remove)
    card = page.locator(".card", has=fieldset).last
    card_box, fieldset_box = card.bounding_box(), fieldset.bounding_box()
    assert fieldset_box["x"] + fieldset_box["width"] <= card_box["x"] + card_box["width"] + 0.5


def test_on_sagemaker_a_member_sends_an_instance_pool(page, live_server, project, bob, login, fake_sagemaker):
    """The SageMaker engine (a scripted SageMaker behind the AWS seam, which the live server's thread
    shares): the wizard offers an instance pool, shows its table instead of the one instance type, and
    the job is created with it."""
    project.sagemaker_role_arn = "arn:aws:iam::123456789012:role/ProjectRole"
    project.save()
    login(page, "bob")
    page.goto(f"{live_server.url}/projects/demo/hpo-jobs/create/")
    expect(page.get_by_label("Autotune")).to_be_visible()  # SageMaker only
    page.get_by_label("Job name").fill("browser-pool")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Training job definitions")).to_be_visible()
    page.get_by_label("Data location of train").fill("s3://bucket/train/")
    page.get_by_label("Data location of validation").fill("s3://bucket/validation/")
    page.get_by_label("Output path").fill("s3://bucket/out/")
    expect(page.locator("#instance-pool")).to_be_hidden()
    page.get_by_label("Instance pool: several types, tried in order").check()
    expect(page.get_by_label("Instance type", exact=True)).to_be_hidden()  # the pool's rows replace it
    page.get_by_role("button", name="Add instance configuration").click()
    expect(page.get_by_label("Instance type 1")).to_have_value("ml.m5.large")  # from the one instance type
    page.get_by_role("button", name="Add instance configuration").click()
    page.get_by_label("Instance type 2").select_option("ml.c5.xlarge")
    page.get_by_label("Instance count 2").fill("2")
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Tuning resources")).to_be_visible()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("1 × ml.m5.large (30 GB), then 2 × ml.c5.xlarge (30 GB)")).to_be_visible()
    shown = json.loads(page.locator("#request-json").inner_text())
    page.get_by_role("button", name="Create job").click()
    page.wait_for_url(f"{live_server.url}/projects/demo/hpo-jobs/browser-pool/")

    job = HpoJob.objects.get(name="browser-pool")
    assert job.request == shown
    assert job.request["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"] == {
        "InstanceConfigs": [{"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
                            {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30}],
        "AllocationStrategy": "Prioritized"}
