"""The catalogue's image URIs are exactly those of AWS's own library, sagemaker-core's image_uris.retrieve,
for every built-in, every version and every region its image configuration lists."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hpo_jobs.sagemaker import catalogue

from sagemaker.core import image_uris  # noqa: E402  (AWS's own library, the reference of these tests)



pytestmark = pytest.mark.usefixtures("sagemaker_core_resolver_once")


CASES = [
    pytest.param(algorithm, image.version, region, id=f"{algorithm.key}:{image.version}:{region}")
    for algorithm in catalogue.ALGORITHMS.values()
    for image in algorithm.image_versions
    for region in sorted(image.registries)
]


def test_every_built_in_version_and_region_is_covered():
    assert len(CASES) > 16 * 16
    assert {algorithm.key for algorithm, _, _ in (case.values for case in CASES)} == set(catalogue.ALGORITHMS)


@pytest.mark.parametrize("algorithm, version, region", CASES)
def test_image_uri_is_what_retrieve_gives(algorithm, version, region):
    expected = image_uris.retrieve(algorithm.image_framework, region, version=version, image_scope="training")
    assert algorithm.image_uri(region, version) == expected


@pytest.mark.parametrize("algorithm", catalogue.ALGORITHMS.values(), ids=list(catalogue.ALGORITHMS))
def test_the_regions_are_the_ones_retrieve_accepts(algorithm):
    for region in ("us-east-1", "eu-central-1", "ap-south-1", "xx-nowhere-9"):
        try:
            expected = image_uris.retrieve(algorithm.image_framework, region, version=algorithm.default_version,
                                           image_scope="training")
        except ValueError:
            assert region not in algorithm.regions
            with pytest.raises(catalogue.UnknownRegionError):
                algorithm.image_uri(region)
        else:
            assert algorithm.image_uri(region) == expected


def test_reading_the_images_imports_nothing_of_sagemaker_core():
    # The wizard asks the catalogue for images: that must not import the library (seconds, pandas...).
    code = ("import sys; from hpo_jobs.sagemaker import catalogue; "
            "[a.image_uri('eu-central-1') for a in catalogue.ALGORITHMS.values() if 'eu-central-1' in a.regions]; "
            "print(sorted(m for m in sys.modules if m == 'sagemaker' or m.startswith(('sagemaker.', 'pandas'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
