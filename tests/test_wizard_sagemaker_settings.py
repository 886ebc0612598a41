"""The SageMaker settings of a tuning job that only SageMaker runs: instance pools
(HyperParameterTuningResourceConfig), file-system channels (FileSystemDataSource) and Autotune.

On the SageMaker engine (a scripted SageMaker behind the AWS seam) each is offered, goes to the request
as SageMaker's API spells it, and comes back unchanged through import and clone; its limits are refused
next to the field. On the local engine none is offered, and a request holding one is refused, at its
path, with a message that says so.
"""

from __future__ import annotations

import copy
import re

import pytest

from hpo_jobs.backends import get_backend
from hpo_jobs.models import HpoJob

from .factories import local_request
from .wizard_helpers import WizardPage, data_dir, import_, start

pytestmark = pytest.mark.django_db

ROLE = "arn:aws:iam::123456789012:role/ProjectRole"
VPC = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]}


@pytest.fixture
def sm_project(project, fake_sagemaker):
    """The demo project on SageMaker, with its execution role and VPC (a file system is mounted through it)."""
    project.sagemaker_role_arn = ROLE
    project.vpc_subnets = "\n".join(VPC["Subnets"])
    project.vpc_security_group_ids = "\n".join(VPC["SecurityGroupIds"])
    project.save()
    return project


def _definitions(client, name: str, **job) -> WizardPage:
    page = start(client).next(job__name=name, **job)
    assert page.step == "definitions", page.errors()
    return page.type({"def-ch-0-uri": "s3://bucket/train/", "def-ch-1-uri": "s3://bucket/validation/",
                      "def-output_path": "s3://bucket/out/"})


@pytest.fixture
def defs(bob_client, sm_project):
    """The definitions step of a new run on SageMaker, its channels and output on S3."""
    return _definitions(bob_client, "sm-extra")


def renamed(request: dict, name: str) -> dict:
    return {**copy.deepcopy(request), "HyperParameterTuningJobName": name}


def round_trip(client, page: WizardPage, name: str) -> dict:
    """Submit the review ``page``; check that import and clone of the stored job show the same request."""
    assert page.step == "review", page.errors()
    request = page.request_json()
    page.submit()
    job = HpoJob.objects.get(name=name)
    assert job.request == request
    imported = WizardPage(client, client.get(import_(client, request, name=f"{name}-imp")["Location"]))
    assert imported.step == "review", imported.errors()
    assert imported.request_json() == renamed(request, f"{name}-imp")
    cloned = WizardPage(client, client.get(f"/projects/demo/hpo-jobs/{name}/clone/"))
    cloned = cloned.next().next().next()
    assert cloned.step == "review", cloned.errors()
    assert cloned.request_json() == renamed(request, f"{name}-copy")
    job.refresh_from_db()
    detail = client.get(f"/projects/demo/hpo-jobs/{name}/request.json")
    assert detail.status_code == 200 and detail.json() == request
    return request


def kinds(page: WizardPage, row: int) -> list[str]:
    """The types offered for row ``row`` of the open definition's hyperparameter table."""
    select = re.search(rf'<select name="def-hp-{row}-kind".*?</select>', page.html, re.S).group(0)
    return re.findall(r'<option value="([^"]*)"', select)


def pool(page: WizardPage, *configs: tuple[str, int, int]) -> WizardPage:
    """Make the open definition's resources an instance pool of ``configs`` (type, count, volume)."""
    page = page.type({"def-resource_kind": "pool"})
    for _ in configs:
        page = page.act("add-row:instance_configs")
    changes = {}
    for index, (kind, count, volume) in enumerate(configs):
        changes.update({f"def-ic-{index}-instance_type": kind, f"def-ic-{index}-instance_count": str(count),
                        f"def-ic-{index}-volume_size": str(volume)})
    return page.type(changes)


# ---- instance pools ---------------------------------------------------------------------------------------
def test_an_instance_pool_goes_to_the_request_and_comes_back_through_import_and_clone(bob_client, defs, settings):
    types = ["ml.m5.xlarge", "ml.m5.2xlarge"]
    page = pool(defs, (types[0], 1, 30), (types[1], 2, 50))
    page = page.next({"def-volume_kms": "alias/disks"})
    assert page.step == "resources", page.errors()
    review = page.next()
    definition = review.request_json()["TrainingJobDefinition"]
    assert "ResourceConfig" not in definition
    assert definition["HyperParameterTuningResourceConfig"] == {
        "InstanceConfigs": [{"InstanceType": types[0], "InstanceCount": 1, "VolumeSizeInGB": 30},
                            {"InstanceType": types[1], "InstanceCount": 2, "VolumeSizeInGB": 50}],
        "AllocationStrategy": "Prioritized", "VolumeKmsKeyId": "alias/disks"}
    assert f"1 × {types[0]} (30 GB), then 2 × {types[1]} (50 GB)" in review.html  # the review says so
    round_trip(bob_client, review, "sm-extra")
    detail = bob_client.get("/projects/demo/hpo-jobs/sm-extra/?tab=definitions").content.decode()
    assert f"2 × {types[1]} (50 GB)" in detail and "Prioritized" in detail


def test_the_first_pool_configuration_starts_from_the_one_instance_type(defs):
    page = defs.type({"def-resource_kind": "pool"}).act("add-row:instance_configs")
    assert page.value("def-ic-0-instance_type") == defs.value("def-instance_type")
    assert page.value("def-ic-0-volume_size") == defs.value("def-volume_size")


def test_a_pool_needs_a_configuration(defs):
    page = defs.next({"def-resource_kind": "pool"})
    assert page.step == "definitions"
    assert page.table_errors("def-ic") == ["An instance pool needs at least one instance configuration; add one."]


def test_at_most_six_configurations_sagemakers_limit(defs):
    page = pool(defs, *[("ml.m5.xlarge", 1, 30)] * 6)
    assert "At most 6 rows here." in page.act("add-row:instance_configs").html
    page = page.type({"def-ic-TOTAL_FORMS": "7", "def-ic-6-instance_type": "ml.m5.xlarge",
                      "def-ic-6-instance_count": "1", "def-ic-6-volume_size": "30"}).next()
    assert page.step == "definitions"
    assert any("At most 6 instance configurations" in e for e in page.table_errors("def-ic")), page.errors()


@pytest.mark.parametrize("field, value, words", [
    ("def-ic-0-volume_size", "0", "greater than or equal to 1"),  # the service model: VolumeSizeInGB >= 1
    ("def-ic-0-instance_count", "0", "greater than or equal to 1"),
    ("def-ic-0-instance_type", "ml.x9.huge", "not offered on this portal"),
    ("def-ic-0-instance_type", "", "Choose an instance type."),
])
def test_a_pool_configurations_limits_are_refused_next_to_the_field(defs, field, value, words):
    page = pool(defs, ("ml.m5.xlarge", 1, 30)).type({field: value}).next()
    assert page.step == "definitions"
    assert any(words in e for e in page.error_near(field)), (page.error_near(field), page.errors())


def test_with_a_pool_the_one_instance_type_fields_are_not_asked_for(defs):
    page = pool(defs, ("ml.m5.xlarge", 1, 30)).next({"def-instance_count": "", "def-volume_size": ""})
    assert page.step == "resources", page.errors()


# ---- file-system channels -----------------------------------------------------------------------------------
def test_a_file_system_channel_goes_to_the_request_and_comes_back_through_import_and_clone(bob_client, defs):
    page = defs.next({"def-ch-0-data_source": "FileSystemDataSource", "def-ch-0-uri": "/fsx/data/train",
                      "def-ch-0-file_system_id": "fs-0123456789abcdef0", "def-ch-0-file_system_type": "FSxLustre",
                      "def-ch-0-file_system_access_mode": "ro"})
    assert page.step == "resources", page.errors()
    review = page.next()
    definition = review.request_json()["TrainingJobDefinition"]
    assert definition["InputDataConfig"][0]["DataSource"] == {"FileSystemDataSource": {
        "FileSystemId": "fs-0123456789abcdef0", "FileSystemType": "FSxLustre", "FileSystemAccessMode": "ro",
        "DirectoryPath": "/fsx/data/train"}}
    assert definition["VpcConfig"] == VPC  # the project's, which the file system is mounted through
    assert "FSxLustre fs-0123456789abcdef0:/fsx/data/train" in review.html
    round_trip(bob_client, review, "sm-extra")


@pytest.mark.parametrize("changes, field, words", [
    ({"def-ch-0-file_system_id": ""}, "def-ch-0-file_system_id", "Give the ID of the EFS or FSx"),
    # The service model: 11 to 21 characters, fs-[0-9a-f]{8,}.
    ({"def-ch-0-file_system_id": "fs-123"}, "def-ch-0-file_system_id", "at least 11 characters"),
    ({"def-ch-0-file_system_id": "vol-0123456789abcdef0"}, "def-ch-0-file_system_id", "such as fs-0123456789abcdef0"),
    ({"def-ch-0-uri": ""}, "def-ch-0-uri", "Enter where this channel's data is."),
    ({"def-ch-0-s3_data_type": "ManifestFile"}, "def-ch-0-s3_data_type", "for S3 channels"),
    ({"def-ch-0-attribute_names": "source-ref"}, "def-ch-0-attribute_names", "augmented manifest on S3"),
])
def test_a_file_system_channels_rules_are_refused_next_to_the_field(defs, changes, field, words):
    base = {"def-ch-0-data_source": "FileSystemDataSource", "def-ch-0-uri": "/efs/train",
            "def-ch-0-file_system_id": "fs-0123456789abcdef0", "def-ch-0-file_system_type": "EFS"}
    page = defs.next({**base, **changes})
    assert page.step == "definitions"
    assert any(words in e for e in page.error_near(field)), (page.error_near(field), page.errors())


def test_a_file_system_channel_needs_the_projects_vpc(bob_client, sm_project):
    sm_project.vpc_subnets = sm_project.vpc_security_group_ids = ""
    sm_project.save()
    page = _definitions(bob_client, "no-vpc").next({
        "def-ch-0-data_source": "FileSystemDataSource", "def-ch-0-uri": "/efs/train",
        "def-ch-0-file_system_id": "fs-0123456789abcdef0"})
    assert page.step == "definitions"
    assert any("mounted through the definition's VPC" in e for e in page.error_near("def-ch-0-file_system_id")), \
        page.errors()


# ---- Autotune ----------------------------------------------------------------------------------------------
def test_autotune_and_auto_ranges_go_to_the_request_and_come_back_through_import_and_clone(bob_client, sm_project):
    page = _definitions(bob_client, "sm-auto", job__autotune="on")
    eta, depth = page.hp_index("eta"), page.hp_index("max_depth")
    assert "Auto" in kinds(page, eta)
    page = page.next({f"def-hp-{eta}-kind": "Auto", f"def-hp-{eta}-value": "0.3",
                      f"def-hp-{depth}-kind": "Auto", f"def-hp-{depth}-value": "6"})
    assert page.step == "resources", page.errors()
    review = page.next()
    request = review.request_json()
    assert request["Autotune"] == {"Mode": "Enabled"}
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert {"Name": "eta", "ValueHint": "0.3"} in ranges["AutoParameters"]
    assert {"Name": "max_depth", "ValueHint": "6"} in ranges["AutoParameters"]
    assert all(r["Name"] not in ("eta", "max_depth") for r in ranges.get("ContinuousParameterRanges", []))
    assert "Autotune" in review.html and "Enabled" in review.html
    round_trip(bob_client, review, "sm-auto")
    configuration = bob_client.get("/projects/demo/hpo-jobs/sm-auto/?tab=configuration").content.decode()
    assert "<dt>Autotune</dt><dd>Enabled</dd>" in configuration
    definitions = bob_client.get("/projects/demo/hpo-jobs/sm-auto/?tab=definitions").content.decode()
    assert '<td class="mono">eta</td><td>Auto</td>' in definitions


def test_an_auto_range_needs_an_example_value(bob_client, sm_project):
    page = _definitions(bob_client, "sm-auto", job__autotune="on")
    eta = page.hp_index("eta")
    page = page.next({f"def-hp-{eta}-kind": "Auto", f"def-hp-{eta}-value": ""})
    assert page.step == "definitions"
    assert any("example value" in e for e in page.error_near(f"def-hp-{eta}-value")), page.errors()


def test_an_auto_range_without_autotune_is_refused_next_to_it(defs):
    eta = defs.hp_index("eta")
    page = defs.next({f"def-hp-{eta}-kind": "Auto", f"def-hp-{eta}-value": "0.3"})
    assert page.step == "definitions"
    assert any("only used with Autotune" in e for e in page.errors()), page.errors()


def test_autotune_with_grid_search_is_refused_next_to_the_auto_range(bob_client, sm_project):
    page = _definitions(bob_client, "sm-grid", job__autotune="on", job__strategy="Grid")
    eta = page.hp_index("eta")
    page = page.next({f"def-hp-{eta}-kind": "Auto", f"def-hp-{eta}-value": "0.3"})
    assert page.step == "definitions"
    assert any("Grid search takes categorical ranges only" in e for e in page.errors()), page.errors()


# ---- the local engine offers none of them, and refuses them ------------------------------------------------
def test_the_local_engine_offers_none_of_them(bob_client, project):
    caps = get_backend("local").capabilities
    assert not (caps.autotune or caps.instance_pools or "FileSystemDataSource" in caps.data_sources)
    page = start(bob_client)
    assert 'name="job-autotune"' not in page.html
    page = page.next(job__name="local-extra")
    assert page.step == "definitions"
    for name in ('name="def-resource_kind"', 'name="def-ic-TOTAL_FORMS"', 'name="def-ch-0-data_source"',
                 'name="def-ch-0-file_system_id"'):
        assert name not in page.html, name
    assert "Auto" not in kinds(page, 0) and "Continuous" in kinds(page, page.hp_index("eta"))


@pytest.mark.parametrize("change, path, message", [
    (lambda r, d: d.update(HyperParameterTuningResourceConfig={
        "InstanceConfigs": [{**{k: d["ResourceConfig"][k] for k in ("InstanceType", "InstanceCount",
                                                                     "VolumeSizeInGB")}}],
        "AllocationStrategy": "Prioritized"}) or d.pop("ResourceConfig"),
     "TrainingJobDefinition.HyperParameterTuningResourceConfig", "not an instance pool"),
    (lambda r, d: d["InputDataConfig"][0].update(DataSource={"FileSystemDataSource": {
        "FileSystemId": "fs-0123456789abcdef0", "FileSystemType": "EFS", "FileSystemAccessMode": "ro",
        "DirectoryPath": "/efs/train"}}),
     "TrainingJobDefinition.InputDataConfig[0].DataSource.FileSystemDataSource", "local folders only"),
    (lambda r, d: r.update(Autotune={"Mode": "Enabled"}), "Autotune", "does not run Autotune"),
])
def test_the_local_engine_refuses_them_at_their_path_and_the_import_says_so(bob_client, project, change, path,
                                                                          message):
    request = local_request(data_dir())
    change(request, request["TrainingJobDefinition"])
    issues = get_backend("local").check_request(request, project="demo")
    assert any(i.path == path and message in i.message for i in issues), issues
    response = import_(bob_client, request)
    assert response.status_code == 400 and message in response.content.decode()


def test_a_hyperparameter_left_to_autotune_and_ranged_too_is_refused_next_to_its_name(bob_client, sm_project):
    page = _definitions(bob_client, "sm-auto", job__autotune="on").act("add-row:hyperparameters")
    row = int(page.value("def-hp-TOTAL_FORMS")) - 1
    assert page.value(f"def-hp-{page.hp_index('eta')}-kind") == "Continuous"  # the catalogue's suggested range
    page = page.next({f"def-hp-{row}-name": "eta", f"def-hp-{row}-kind": "Auto", f"def-hp-{row}-value": "0.3"})
    assert page.step == "definitions"
    assert any("has more than one range" in e for e in page.error_near(f"def-hp-{row}-name")), page.errors()


def test_an_imported_auto_parameter_the_built_in_does_not_have_is_refused(bob_client, sm_project):
    page = _definitions(bob_client, "sm-auto", job__autotune="on").next().next()
    assert page.step == "review", page.errors()
    request = page.request_json()
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["AutoParameters"] = [
        {"Name": "no_such_knob", "ValueHint": "1"}]
    response = import_(bob_client, request, name="sm-auto-imp")
    assert response.status_code == 400
    assert "XGBoost has no hyperparameter" in response.content.decode()
