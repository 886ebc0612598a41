"""The wizard offers every version of a built-in that has several (XGBoost), the current one preselected,
and the version chosen is the image the request names."""

from __future__ import annotations

import pytest

from hpo_jobs.sagemaker import catalogue
from tests.wizard_helpers import data_dir, fill_channels, start

pytestmark = pytest.mark.django_db


def test_xgboost_offers_its_versions_with_the_current_one_preselected(bob_client, project):
    page = start(bob_client).next(job__name="xgb-versions")
    assert page.step == "definitions", page.errors()
    xgb = catalogue.get("xgboost")
    assert page.value("def-algorithm_version") == xgb.default_version
    assert f'{xgb.default_version} (current)' in page.html
    for version in ("1.7-1", "1.5-1", "0.90-2"):
        assert f'<option value="{version}"' in page.html

    page = page.next({"def-algorithm_version": "1.7-1", **fill_channels(page, data_dir())})
    assert page.step == "resources", page.errors()
    page = page.next()
    assert page.step == "review", page.errors()
    request = page.request_json()
    definition = (request.get("TrainingJobDefinitions") or [request.get("TrainingJobDefinition")])[0]
    image = definition["AlgorithmSpecification"]["TrainingImage"]
    assert image == xgb.image_uri("us-east-1", "1.7-1")


def test_an_algorithm_with_one_version_shows_no_picker(bob_client, project):
    page = start(bob_client).next(job__name="knn-versions")
    page = page.next({"def-algorithm": "knn"})
    assert page.value("def-loaded_algorithm") == "knn"
    assert page.value("def-algorithm_version") is None
