"""What a new user met following the README: findings from a walkthrough on a fresh clone."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


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


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
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


def test_choosing_knn_names_the_evaluation_channel_after_its_test_metrics(project, alice):
    # k-NN's objective metrics are all test:…; with the default train/validation channels every
    # training job of a k-NN job failed ("Tuning k-NN needs a test channel").
    from hpo_jobs.wizard import forms

    options = forms.WizardOptions.for_project(project, alice)
    draft = forms.new_draft(options, "definition-1")
    assert [c["name"] for c in draft["channels"]] == ["train", "validation"]
    draft["fields"]["algorithm"] = "knn"
    forms.load_algorithm_defaults(draft, options)
    assert draft["fields"]["objective_metric"].startswith("test:")
    assert [c["name"] for c in draft["channels"]] == ["train", "test"]
    # Back to XGBoost (validation:… metrics): the channel follows.
    draft["fields"]["algorithm"] = "xgboost"
    forms.load_algorithm_defaults(draft, options)
    assert [c["name"] for c in draft["channels"]] == ["train", "validation"]


@pytest.mark.parametrize("algorithm, value", [("linear-learner", "binary_classifier"), ("knn", "classifier")])
def test_predictor_type_is_required_and_starts_filled_in(project, alice, algorithm, value):
    # SageMaker requires predictor_type for Linear Learner and k-NN. The wizard showed it blank with a
    # "default binary_classifier" placeholder, accepted it blank, and every training job then failed
    # with "Hyperparameter predictor_type is required".
    from hpo_jobs.sagemaker import catalogue
    from hpo_jobs.wizard import forms

    spec = next(h for h in catalogue.get(algorithm).hyperparameters if h.name == "predictor_type")
    assert spec.required
    options = forms.WizardOptions.for_project(project, alice)
    draft = forms.new_draft(options, "definition-1")
    draft["fields"]["algorithm"] = algorithm
    forms.load_algorithm_defaults(draft, options)
    row = next(r for r in draft["hyperparameters"] if r["name"] == "predictor_type")
    assert (row["kind"], row["value"]) == ("Static", value)
