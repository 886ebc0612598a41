"""One presentation of a request: the wizard's review and the job page's definitions and
configuration tabs show the same facts, from plain data a JSON API can return as it is."""

from __future__ import annotations

import copy
import json
import re

import pytest

from hpo_jobs.models import HpoJob
from hpo_jobs.pages.presenters import present_request

from .factories import grid_request, hyperband_request, local_request, local_request_plural, multi_request, single_request
from .wizard_helpers import WizardPage, data_dir, import_

PLAIN_TYPES = (dict, list, str, int, float, bool, type(None))


def _assert_plain(value, where: str = "presented") -> None:
    """Only JSON's own types, exactly (no tuples, SafeStrings, model objects or lazy strings)."""
    assert type(value) in PLAIN_TYPES, f"{where} is a {type(value).__name__}"
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str, f"{where} has a key {key!r}"
            _assert_plain(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _assert_plain(item, f"{where}[{index}]")


def _warm_started(request: dict) -> dict:
    request = copy.deepcopy(request)
    request["WarmStartConfig"] = {"WarmStartType": "IdenticalDataAndAlgorithm",
                                  "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "churn-v1"}]}
    return request


@pytest.mark.parametrize("build", [single_request, multi_request, grid_request, hyperband_request,
                                   lambda: _warm_started(single_request())],
                         ids=["bayesian-one-definition", "random-two-definitions", "grid", "hyperband", "warm-start"])
def test_the_presentation_of_a_request_of_each_strategy_is_plain_json(build):
    request = build()
    presented = present_request(request)
    _assert_plain(presented)
    assert json.loads(json.dumps(presented)) == presented
    assert presented["settings"]["strategy"] == request["HyperParameterTuningJobConfig"]["Strategy"]
    assert len(presented["definitions"]) == len(request.get("TrainingJobDefinitions") or [1])


def test_the_one_definition_form_takes_its_objective_and_ranges_from_the_tuning_config():
    presented = present_request(single_request())
    (definition,) = presented["definitions"]
    assert (definition["objective_metric"], definition["objective_type"]) == ("validation:auc", "Maximize")
    assert definition["tuned_names"] == ["max_depth", "eta", "subsample"]
    assert definition["title"] == "Definition 1" and definition["algorithm"] == "XGBoost" and definition["builtin"]
    assert presented["settings"]["objective"] == {"metric": "validation:auc", "type": "Maximize"}


def test_a_grid_is_presented_with_its_number_of_combinations():
    assert present_request(grid_request())["resources"]["grid_combinations"] == 6  # 3 depths x 2 etas
    assert present_request(single_request())["resources"]["grid_combinations"] is None  # not a grid


def test_warm_start_and_tags_are_presented_in_the_requests_order():
    presented = present_request(_warm_started(single_request()))
    assert presented["warm_start"] == {"type": "IdenticalDataAndAlgorithm", "parents": ["churn-v1"]}
    assert [t["key"] for t in presented["tags"]] == ["hpo-portal:project", "hpo-portal:creator"]
    assert present_request(single_request())["warm_start"] is None


def _definition_cards(html: str) -> list[str]:
    """Each definition's card, without the review's Edit button."""
    cards = re.findall(r'<section class="card definition".*?</section>', html, re.S)
    return [re.sub(r"<button[^>]*>Edit definition</button>", "", card) for card in cards]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.django_db
def test_the_review_and_the_job_tabs_show_the_same_facts_of_the_same_request(bob_client, project):
    request = local_request_plural(data_dir())
    second = copy.deepcopy(request["TrainingJobDefinitions"][0])
    second.update(DefinitionName="xgb-deep", StaticHyperParameters={"num_round": "40", "objective": "binary:logistic"})
    request["TrainingJobDefinitions"].append(second)
    request["HyperParameterTuningJobConfig"].update(
        TrainingJobEarlyStoppingType="Off",  # SageMaker's rule for more than one definition
        TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 0.97})
    review = WizardPage(bob_client, bob_client.get(import_(bob_client, request)["Location"]))
    assert review.step == "review", review.errors()
    review_cards = _definition_cards(review.html)
    review_text = _text(review.html)
    review.submit()

    job = HpoJob.objects.get(name="imported-job")
    base = f"/projects/demo/hpo-jobs/{job.name}/"
    definitions_html = bob_client.get(base, {"tab": "definitions"}).content.decode()
    configuration_text = _text(bob_client.get(base, {"tab": "configuration"}).content.decode())

    assert len(review_cards) == 2
    assert review_cards == _definition_cards(definitions_html)
    for fact in ("Definition 1: xgb", "Definition 2: xgb-deep", "XGBoost", "num_round", "40", "0.1 – 0.5",
                 "max_depth", "2 – 8", "validation:auc", "ml.m5.large", "s3://bucket/output/"):
        assert fact in _text(review_cards[0] + review_cards[1]), fact
    for fact in ("Bayesian", "Early stopping Off", "Random seed 3", "0.97", "team", "fraud", "hpo-portal:created-by"):
        assert fact in review_text, fact
        assert fact in configuration_text, fact
    assert "Max training jobs 6" in review_text and "Max training jobs 6" in configuration_text
    assert "Max parallel training jobs 2" in review_text and "Max in parallel 2" in configuration_text


@pytest.mark.django_db
def test_settings_a_request_leaves_out_read_as_not_set_on_the_review_and_the_tab(bob_client, project):
    review = WizardPage(bob_client, bob_client.get(import_(bob_client, local_request(data_dir()))["Location"]))
    assert review.step == "review", review.errors()
    assert "Completion criteria None: runs until the budget is spent" in _text(review.html)
    assert "Warm start None" in _text(review.html)
    review.submit()
    configuration = _text(bob_client.get("/projects/demo/hpo-jobs/imported-job/", {"tab": "configuration"}).content.decode())
    for fact in ("Target objective value — ", "Stop when not improving — ", "Stop on convergence — ", "Warm start Off"):
        assert fact in configuration, fact


def test_a_definitions_optional_settings_are_presented():
    request = single_request()
    definition = request["TrainingJobDefinition"]
    definition.update(Environment={"LOG_LEVEL": "debug"}, RetryStrategy={"MaximumRetryAttempts": 3},
                      CheckpointConfig={"S3Uri": "s3://bucket/ck/", "LocalPath": "/opt/ml/ck"})
    definition["OutputDataConfig"].update(CompressionType="NONE", KmsKeyId="alias/models")
    definition["ResourceConfig"]["VolumeKmsKeyId"] = "alias/volumes"
    definition["StoppingCondition"]["MaxPendingTimeInSeconds"] = 7200
    presented = present_request(request)["definitions"][0]
    _assert_plain(presented)
    assert {key: presented[key] for key in (
        "environment", "retries", "checkpoint", "checkpoint_local_path", "output_compression", "output_kms",
        "volume_kms", "max_pending_s")} == {
        "environment": [{"name": "LOG_LEVEL", "value": "debug"}], "retries": 3, "checkpoint": "s3://bucket/ck/",
        "checkpoint_local_path": "/opt/ml/ck", "output_compression": "NONE", "output_kms": "alias/models",
        "volume_kms": "alias/volumes", "max_pending_s": 7200}
    # Left out, the output is compressed with SageMaker's default.
    assert present_request(single_request())["definitions"][0]["output_compression"] == "GZIP"
