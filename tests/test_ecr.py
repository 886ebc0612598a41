"""Custom algorithm images from ECR: listed with moto behind the AWS seam, filtered by the site's policy,
offered in the wizard; a clear message when AWS is out of reach; refused when ECR access is off."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber
from django.core.cache import cache

from hpo_jobs import aws
from hpo_jobs.wizard import ecr
from hpo_jobs.models import HpoJob, SiteSettings

from .factories import ACCOUNT
from .wizard_helpers import start

pytestmark = pytest.mark.django_db

REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture(autouse=True)
def fresh_cache():
    # Listings are cached for a minute; every test starts from what AWS (moto) holds now.
    cache.clear()
    yield
    cache.clear()


def allow(*entries: str, enabled: bool = True) -> None:
    SiteSettings.objects.update_or_create(pk=1, defaults={"ecr_enabled": enabled, "ecr_allowed": "\n".join(entries)})


@pytest.fixture
def registry(moto_aws):  # noqa: F811
    """Three repositories in moto's ECR: team-a/model (two tags), team-ab/model and other."""
    client = aws.client("ecr")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "x"}, "layers": []})
    for repository, tags in (("team-a/model", ["1.0", "latest"]), ("team-ab/model", ["2.0"]), ("other", ["x"])):
        client.create_repository(repositoryName=repository)
        for tag in tags:
            client.put_image(repositoryName=repository, imageManifest=manifest.replace("a" * 64, f"{tag:a<64}"[:64]),
                             imageTag=tag)
    return client


def test_it_lists_the_images_under_an_allowed_prefix(registry):
    allow(f"{REGISTRY}/team-a/")
    assert ecr.list_images() == [f"{REGISTRY}/team-a/model:1.0", f"{REGISTRY}/team-a/model:latest"]


def test_a_whole_registry_can_be_allowed(registry):
    allow(REGISTRY)
    assert ecr.list_images() == sorted([
        f"{REGISTRY}/other:x", f"{REGISTRY}/team-a/model:1.0", f"{REGISTRY}/team-a/model:latest",
        f"{REGISTRY}/team-ab/model:2.0",
    ])


def test_a_prefix_ends_at_a_boundary(registry):
    allow(f"{REGISTRY}/team-a")
    assert f"{REGISTRY}/team-ab/model:2.0" not in ecr.list_images()


def test_registries_of_other_accounts_or_regions_are_not_listed(registry):
    allow("111111111111.dkr.ecr.us-east-1.amazonaws.com", f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com")
    assert ecr.list_images() == []


def test_nothing_is_listed_or_asked_when_ecr_access_is_off(aws_env):  # noqa: F811
    allow(REGISTRY, enabled=False)
    with Stubber(aws.client("ecr", interactive=True)):  # any call would fail: none is queued
        assert ecr.list_images() == []


def test_refused_access_is_a_clear_message(aws_env):  # noqa: F811
    allow(REGISTRY)
    with Stubber(aws.client("ecr", interactive=True)) as stubber:
        stubber.add_client_error("describe_repositories", service_error_code="AccessDeniedException",
                                 service_message="not authorized", http_status_code=400)
        with pytest.raises(ecr.EcrUnavailable) as raised:
            ecr.list_images()
    assert str(raised.value) == ("ECR images could not be listed: the portal's AWS identity may not list ECR "
                                 "repositories. You can still type an image URI.")


def test_an_unreachable_aws_is_a_clear_message_and_is_not_asked_again_at_once(aws_env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")  # nothing listens there
    aws.reset_clients()
    allow(REGISTRY)
    try:
        with pytest.raises(ecr.EcrUnavailable) as raised:
            ecr.list_images()
        assert str(raised.value).startswith("ECR images could not be listed: AWS could not be reached (")
        with Stubber(aws.client("ecr", interactive=True)):  # a second page view within the minute: no call
            with pytest.raises(ecr.EcrUnavailable):
                ecr.list_images()
    finally:
        aws.reset_clients()  # no client bound to the dead endpoint outlives this test


# ---- in the wizard (SageMaker engine) ---------------------------------------------------------------
def custom_definition(client, image: str = ""):
    """A new run's definitions step with the open definition switched to a custom image."""
    page = start(client).next(job__name="ecr-job")
    assert page.step == "definitions", page.errors()
    return page.act("load-defaults", {"def-algorithm_source": "custom", "def-image": image})


def test_the_wizard_offers_the_allowed_images(bob_client, project, registry):
    allow(f"{REGISTRY}/team-a/")
    page = custom_definition(bob_client)
    assert f'<option value="{REGISTRY}/team-a/model:1.0">' in page.html
    assert f'<option value="{REGISTRY}/team-a/model:latest">' in page.html
    assert "team-ab" not in page.html and "/other:" not in page.html


def test_the_wizard_says_so_next_to_the_image_when_ecr_cannot_be_listed(bob_client, project, moto_aws):  # noqa: F811
    allow(REGISTRY)
    page = start(bob_client).next(job__name="ecr-down")
    with Stubber(aws.client("ecr", interactive=True)) as stubber:
        stubber.add_client_error("describe_repositories", service_error_code="AccessDeniedException",
                                 http_status_code=400)
        page = page.act("load-defaults", {"def-algorithm_source": "custom"})
    assert page.step == "definitions"
    assert "the portal&#x27;s AWS identity may not list ECR repositories. You can still type an image URI." in page.html


def _fill_custom(page, image: str) -> dict:
    return {
        "def-image": image, "def-md-0-name": "validation:accuracy", "def-md-0-regex": "acc=([0-9.]+)",
        "def-objective_metric": "validation:accuracy", "def-objective_type": "Maximize",
        "def-ch-0-uri": "s3://bucket/train/", "def-ch-1-uri": "s3://bucket/validation/",
        "def-output_path": "s3://bucket/output/", "def-hp-TOTAL_FORMS": "1", "def-hp-INITIAL_FORMS": "1",
        "def-hp-0-name": "lr", "def-hp-0-kind": "Continuous", "def-hp-0-min": "0.01", "def-hp-0-max": "0.1",
        "def-hp-0-scaling": "Auto", "def-hp-0-builtin": "",
    }


def test_a_typed_image_must_be_within_what_is_allowed(bob_client, project, registry):
    allow(f"{REGISTRY}/team-a/")
    page = custom_definition(bob_client)
    page = page.next(_fill_custom(page, f"{REGISTRY}/team-ab/model:2.0"))
    assert page.step == "definitions"
    assert any("is not from a registry this portal allows" in e for e in page.error_near("def-image"))
    page = page.next({"def-image": f"{REGISTRY}/team-a/model:1.0"})
    assert page.step == "resources", page.errors()


def test_ecr_off_refuses_a_custom_image_in_a_submitted_definition(bob_client, project, registry):
    allow(f"{REGISTRY}/team-a/", enabled=False)
    page = start(bob_client).next(job__name="ecr-off")
    assert 'value="custom"' not in page.html  # the option is not shown
    page = page.next({**_fill_custom(page, f"{REGISTRY}/team-a/model:1.0"), "def-algorithm_source": "custom"})
    page = page.next(_fill_custom(page, f"{REGISTRY}/team-a/model:1.0"))
    assert page.step == "definitions"
    assert any("Custom algorithm images are turned off on this portal" in e for e in page.error_near("def-image"))
    assert not HpoJob.objects.exists()
