"""Each engine accepts exactly what the portal's validation accepts, and the wizard offers and explains it.

- Properties (hypothesis) over requests from the factories, mutated where engines differ (compression,
  record wrapper, input mode, Environment, images, channel paths, warm start, strategies, Autotune,
  instance pools, file-system channels):
  the local engine's create accepts a request exactly when ``validate_request`` finds no issue in it
  (a real create into a test engine folder, its supervisor not started); SageMaker (moto behind the
  seam) accepts every request validation accepts.
- The wizard offers only what the local engine runs, and shows each of its refusals next to the field.
- Data is scoped to projects: a folder of another project is refused with the words a folder that does
  not exist gets, and a folder that does not exist is refused in the wizard.
"""

from __future__ import annotations

import copy
import gzip
import itertools
import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from hpo_jobs.backends import PROJECT_TAG, BackendError, PermanentBackendError, get_backend
from hpo_jobs.backends.local import LocalBackend
from hpo_jobs.local_engine import store
from hpo_jobs.sagemaker import catalogue, spec

from .factories import (
    REGION,
    TEAM_REGISTRY,
    XGB_IMAGE,
    channel,
    edit,
    single_request,
    training_definition,
    tuning_request,
)
from .local_engine_harness import SCORE_METRICS, breast_cancer_channels
from .wizard_helpers import WizardPage, start

PROPERTIES = hypothesis_settings(max_examples=40, deadline=None, derandomize=True,
                                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NAMES = (f"contract-{i}" for i in itertools.count())
KMEANS_IMAGE = catalogue.get("kmeans").image_uri(REGION)


# ---- the local engine: validation accepts exactly what create accepts -------------------------------
@pytest.fixture
def quiet_engine(engine, monkeypatch):
    """The test engine, creating jobs without starting their supervisors (nothing runs, nothing to stop)."""
    monkeypatch.setattr(LocalBackend, "_start_supervisor", lambda self, folder: False)
    yield engine
    shutil.rmtree(engine.dir, ignore_errors=True)  # the jobs never ran: nothing to stop


def _local_base(engine, kind: str) -> dict:
    channels = breast_cancer_channels(engine)
    if kind == "xgboost":
        training = training_definition(XGB_IMAGE, static={"num_round": "3", "objective": "binary:logistic"},
                                       channels=channels)
        request = tuning_request("base", training, objective=("Maximize", "validation:auc"), jobs=4, ranges={
            "CategoricalParameterRanges": [{"Name": "max_depth", "Values": ["2", "3"]}]})
    else:
        training = training_definition(engine.images["noop"], channels=channels, metrics=SCORE_METRICS,
                                       static={"epochs": "3"})
        request = tuning_request("base", training, objective=("Maximize", "score"), jobs=2, ranges={
            "CategoricalParameterRanges": [{"Name": "score", "Values": ["1", "2"]}]})
    request["Tags"] = [{"Key": PROJECT_TAG, "Value": "demo"}]
    return request


D = "TrainingJobDefinition"
CHANNEL = f"{D}.InputDataConfig[0]"
mutation = st.one_of(
    st.tuples(st.just(f"{CHANNEL}.CompressionType"), st.sampled_from(["None", "Gzip"])),
    st.tuples(st.just(f"{CHANNEL}.RecordWrapperType"), st.sampled_from(["None", "RecordIO"])),
    st.tuples(st.just(f"{CHANNEL}.InputMode"), st.sampled_from(["File", "Pipe", "FastFile"])),
    st.tuples(st.just(f"{D}.AlgorithmSpecification.TrainingInputMode"), st.sampled_from(["File", "Pipe", "FastFile"])),
    st.tuples(st.just(f"{D}.Environment"), st.sampled_from([{"LOG_LEVEL": "info"}, {"LD_PRELOAD": "/tmp/x.so"},
                                                            {"PYTHONPATH": "/tmp"}, {"SM_HPS": "{}"}])),
    st.tuples(st.just(f"{D}.AlgorithmSpecification.TrainingImage"),
              st.sampled_from(["@noop", "test.local/unknown:1", XGB_IMAGE, KMEANS_IMAGE])),
    st.tuples(st.just(f"{CHANNEL}.DataSource.S3DataSource.S3Uri"),
              st.sampled_from(["@inside", "@missing", "/etc", "s3://bucket/train/", "relative/path", "@other-project"])),
    st.tuples(st.just(f"{CHANNEL}.DataSource.S3DataSource.S3DataType"), st.sampled_from(["S3Prefix", "ManifestFile"])),
    st.tuples(st.just("WarmStartConfig"), st.sampled_from(["@no-parent", "@running-parent"])),
    st.tuples(st.just("HyperParameterTuningJobConfig.Strategy"), st.sampled_from(["Bayesian", "Random", "Grid",
                                                                                  "Hyperband"])),
    st.tuples(st.just("Autotune"), st.just({"Mode": "Enabled"})),
    # Optional settings of a definition: honoured (output compression) or refused (the others).
    st.tuples(st.just(f"{D}.OutputDataConfig.CompressionType"), st.sampled_from(["GZIP", "NONE"])),
    st.tuples(st.just(f"{D}.OutputDataConfig.KmsKeyId"), st.just("alias/models")),
    st.tuples(st.just(f"{D}.ResourceConfig.VolumeKmsKeyId"), st.just("alias/volumes")),
    st.tuples(st.just(f"{D}.StoppingCondition.MaxPendingTimeInSeconds"), st.just(7200)),
    st.tuples(st.just(f"{D}.CheckpointConfig"), st.just({"S3Uri": "s3://bucket/checkpoints/"})),
    st.tuples(st.just(f"{D}.RetryStrategy"), st.just({"MaximumRetryAttempts": 2})),
    st.tuples(st.just(f"{D}.HyperParameterTuningResourceConfig"), st.just({
        "InstanceConfigs": [{"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}],
        "AllocationStrategy": "Prioritized"})),
    st.tuples(st.just(f"{CHANNEL}.DataSource"), st.just({"FileSystemDataSource": {
        "FileSystemId": "fs-0123456789abcdef0", "FileSystemType": "EFS", "FileSystemAccessMode": "ro",
        "DirectoryPath": "/efs/train"}})),
)


def _apply(engine, request: dict, path: str, value, running_parent: str) -> dict:
    if value == "@noop":
        value = engine.images["noop"]
    elif value == "@inside":
        value = str(engine.data["diabetes"]["train"])
    elif value == "@missing":
        value = str(engine.data_dir / "no-such-folder")
    elif value == "@other-project":
        value = str(engine.root / "other-project" / "train")
    elif value in ("@no-parent", "@running-parent"):
        parent = "never-created" if value == "@no-parent" else running_parent
        value = {"WarmStartType": "TransferLearning",
                 "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}]}
    return edit(request, path, copy.deepcopy(value))


def _created(engine, request: dict) -> bool:
    """Whether the local engine's create accepts ``request``; what it created is removed again."""
    try:
        engine.backend.create_tuning_job(request)
    except PermanentBackendError:
        assert not engine.folder(request["HyperParameterTuningJobName"]).exists()
        return False
    shutil.rmtree(engine.folder(request["HyperParameterTuningJobName"]))
    return True


@PROPERTIES
@given(kind=st.sampled_from(["custom", "xgboost"]), mutations=st.lists(mutation, max_size=4))
def test_the_local_engine_creates_exactly_what_validation_accepts(quiet_engine, kind, mutations):
    engine = quiet_engine
    (engine.root / "other-project" / "train").mkdir(parents=True, exist_ok=True)
    running = "contract-running"
    if not engine.folder(running).exists():
        engine.backend.create_tuning_job({**_local_base(engine, "custom"), "HyperParameterTuningJobName": running})
    request = _local_base(engine, kind)
    for path, value in mutations:
        request = _apply(engine, request, path, value, running)
    request["HyperParameterTuningJobName"] = next(NAMES)
    context = spec.ValidationContext(engine=engine.backend, project="demo", region=REGION, ecr_enabled=True)
    issues = spec.validate_request(copy.deepcopy(request), context)
    assert _created(engine, request) == (issues == []), issues


def test_an_accepted_request_is_planned_with_the_projects_folders_and_its_compression(quiet_engine):
    engine = quiet_engine
    request = edit(_local_base(engine, "custom"), f"{CHANNEL}.CompressionType", "Gzip")
    engine.backend.create_tuning_job(request)
    plan = store.read_json(engine.folder("base") / store.PLAN)
    assert plan["allowed_data_dirs"] == [str(engine.data_dir.resolve())]
    assert plan["definitions"][0]["channels"][0]["compression"] == "Gzip"


def test_a_gzip_channel_reaches_the_algorithm_decompressed(engine):
    folder = engine.data_dir / "zipped" / "train"
    folder.mkdir(parents=True)
    with gzip.open(folder / "data.csv.gz", "wt") as out:
        out.write("1,0.5\n0,0.25\n")
    training = training_definition(engine.images["lister"], metrics=SCORE_METRICS,
                                   channels=[{**channel("train", str(folder)), "CompressionType": "Gzip"}])
    engine.backend.create_tuning_job(tuning_request("zipped", training, objective=("Maximize", "score"), jobs=1))
    assert engine.wait("zipped")["HyperParameterTuningJobStatus"] == "Completed"
    log = engine.backend.get_training_job_log(engine.all_training_jobs("zipped")[0]["TrainingJobName"])
    assert "seen input/data/train/data.csv" in log and "data.csv.gz" not in log


# ---- SageMaker: what validation accepts, SageMaker accepts ----------------------------------------
sagemaker_mutation = st.one_of(
    st.tuples(st.just(f"{CHANNEL}.CompressionType"), st.sampled_from(["None", "Gzip", "Zip"])),
    st.tuples(st.just(f"{CHANNEL}.RecordWrapperType"), st.sampled_from(["None", "RecordIO"])),
    st.tuples(st.just(f"{D}.AlgorithmSpecification.TrainingInputMode"), st.sampled_from(["File", "Pipe", "Stream"])),
    st.tuples(st.just(f"{D}.Environment"), st.sampled_from([{"LD_PRELOAD": "/x.so"}, {"bad name": "x"}])),
    st.tuples(st.just(f"{D}.AlgorithmSpecification.TrainingImage"),
              st.sampled_from([TEAM_REGISTRY + "ranker:1.4", "docker.io/evil:latest", KMEANS_IMAGE])),
    st.tuples(st.just(f"{CHANNEL}.DataSource.S3DataSource.S3Uri"), st.sampled_from(["s3://b/k/", "/srv/data", ""])),
    st.tuples(st.just("HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs"),
              st.sampled_from([1, "3", 0, 200])),
    st.tuples(st.just("HyperParameterTuningJobConfig.Strategy"), st.sampled_from(["Random", "Grid", "Genetic"])),
    st.tuples(st.just("Autotune"), st.sampled_from([{"Mode": "Enabled"}, {"Mode": 1}])),
)


@PROPERTIES
@given(mutations=st.lists(sagemaker_mutation, max_size=4))
def test_sagemaker_creates_what_validation_accepts(moto_aws, mutations):
    engine = get_backend("sagemaker")
    request = single_request()
    for path, value in mutations:
        request = edit(request, path, copy.deepcopy(value))
    request["HyperParameterTuningJobName"] = next(NAMES)
    context = spec.ValidationContext(engine=engine, region=REGION, ecr_enabled=True, ecr_allowed=(TEAM_REGISTRY,))
    issues = spec.validate_request(copy.deepcopy(request), context)
    try:
        engine.create_tuning_job(request)
        created = True
    except BackendError:
        created = False
    assert created or issues, "SageMaker refused what validation accepted"


def test_sagemaker_declares_no_data_folders_and_no_engine_refusals():
    engine = get_backend("sagemaker")
    assert engine.data_folders("demo") == []
    assert engine.check_request(edit(single_request(), f"{CHANNEL}.RecordWrapperType", "RecordIO")) == []
    assert not engine.capabilities.channels_are_local_paths and engine.capabilities.record_wrappers == ("None", "RecordIO")


# ---- the wizard: only what the engine runs, each refusal next to its field --------------------------
def _select_options(page: WizardPage, name: str) -> list[str]:
    match = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', page.html, re.S)
    assert match, f"no select {name}"
    return re.findall(r'<option value="([^"]*)"', match.group(1))


@pytest.fixture
def definitions_page(bob_client, project, local_data):
    for name in ("train", "validation"):
        (local_data / "ds" / name).mkdir(parents=True)
    page = start(bob_client).next(job__name="contract-wizard")
    assert page.step == "definitions", page.errors()
    return page


def _channels_at(local_data, name: str = "ds") -> dict[str, str]:
    return {"def-ch-0-uri": str(local_data / name / "train"), "def-ch-1-uri": str(local_data / name / "validation")}


def test_the_wizard_offers_only_what_the_local_engine_runs(definitions_page):
    page = definitions_page
    assert _select_options(page, "def-ch-0-record_wrapper") == ["None"]
    assert _select_options(page, "def-ch-0-compression") == ["None", "Gzip"]
    assert _select_options(page, "def-ch-0-s3_data_type") == ["S3Prefix"]
    algorithms = _select_options(page, "def-algorithm")
    assert "xgboost" in algorithms and "kmeans" not in algorithms
    custom = page.type({"def-algorithm_source": "custom"}).act("load-defaults", {"def-algorithm_source": "custom",
                                                                                 "def-image": "hpo-portal/example-custom:latest"})
    assert "Pipe" not in _select_options(custom, "def-input_mode")
    assert "List images" in page.html and "List ECR images" not in page.html


@pytest.mark.parametrize("field, value, words", [
    ("def-ch-0-record_wrapper", "RecordIO", "the local engine reads plain files, not 'RecordIO' records"),
    ("def-ch-0-s3_data_type", "ManifestFile", "the local engine reads a folder (S3Prefix), not a manifest"),
    ("def-ch-0-uri", "/etc", "is not in this project's data folders"),
    ("def-ch-0-uri", "s3://bucket/train/", "the local engine reads local folders, not s3:// URIs"),
])
def test_each_refusal_of_the_local_engine_shows_next_to_its_field(definitions_page, local_data, field, value, words):
    page = definitions_page.next({**_channels_at(local_data), field: value})
    assert page.step == "definitions"
    assert any(words in error for error in page.error_near(field)), page.errors()


def test_a_channel_folder_that_does_not_exist_is_refused_next_to_the_channel(definitions_page, local_data):
    page = definitions_page.next({**_channels_at(local_data), "def-ch-0-uri": str(local_data / "typo" / "train")})
    assert page.step == "definitions"
    [error] = [e for e in page.error_near("def-ch-0-uri") if "does not exist" in e]
    assert error.startswith("Channel 'train': ")
    assert definitions_page.next(_channels_at(local_data)).step == "resources"


def test_the_wizard_lists_the_projects_own_data_folders(definitions_page, local_data, tmp_path):
    assert str(local_data.resolve()) in definitions_page.html
    assert str(tmp_path / "data" / "{project}") not in definitions_page.html


# ---- data scoped to projects ----------------------------------------------------------------------
def test_a_member_cannot_use_another_projects_folder_nor_learn_it_exists(definitions_page, local_data, tmp_path):
    other = tmp_path / "data" / "other-team" / "train"
    other.mkdir(parents=True)
    (other / "data.csv").write_text("secret,row\n")
    existing = definitions_page.next({**_channels_at(local_data), "def-ch-0-uri": str(other)})
    missing = definitions_page.next({**_channels_at(local_data), "def-ch-0-uri": str(other.parent / "nothing")})
    [said_existing] = existing.error_near("def-ch-0-uri")
    [said_missing] = missing.error_near("def-ch-0-uri")
    assert said_existing.replace(str(other), "X") == said_missing.replace(str(other.parent / "nothing"), "X")
    assert "is not in this project's data folders" in said_existing and "secret" not in existing.html


def test_the_local_engine_refuses_another_projects_folder_at_create(quiet_engine, settings):
    settings.HPO_LOCAL_DATA_DIRS = [quiet_engine.root / "data" / "{project}"]
    theirs = quiet_engine.root / "data" / "team-b" / "train"
    theirs.mkdir(parents=True)
    training = training_definition(quiet_engine.images["noop"], metrics=SCORE_METRICS,
                                   channels=[channel("train", str(theirs))])
    request = tuning_request("steal", training, objective=("Maximize", "score"), jobs=1)
    request["Tags"] = [{"Key": PROJECT_TAG, "Value": "team-a"}]
    with pytest.raises(PermanentBackendError, match="is not in this project's data folders"):
        quiet_engine.backend.create_tuning_job(request)
    request["Tags"] = [{"Key": PROJECT_TAG, "Value": "team-b"}]
    quiet_engine.backend.create_tuning_job(request)
    assert quiet_engine.backend.data_folders("team-b") == [(quiet_engine.root / "data" / "team-b").resolve()]
    assert quiet_engine.backend.data_folders(None) == []


@pytest.mark.parametrize("path", [
    f"{D}.AlgorithmSpecification.TrainingInputMode",
    f"{CHANNEL}.InputMode",
    f"{CHANNEL}.RecordWrapperType",
    f"{CHANNEL}.CompressionType",
])
def test_the_local_engines_messages_show_a_long_value_cut_short(quiet_engine, path):
    long = "x" * 5000
    request = edit(_local_base(quiet_engine, "custom"), path, long)
    issues = quiet_engine.backend.check_request(request, project="demo")
    assert issues, "the long value was accepted"
    for issue in issues:
        assert long not in issue.message and len(issue.message) < 500, issue.message


def test_the_local_engine_shows_a_long_environment_name_cut_short(quiet_engine):
    name = "LD_" + "X" * 5000
    request = edit(_local_base(quiet_engine, "custom"), f"{D}.Environment", {name: "1"})
    issues = quiet_engine.backend.check_request(request, project="demo")
    assert issues, "LD_ was accepted"
    for issue in issues:
        assert name not in issue.message and len(issue.message) < 500 and len(issue.path) < 500, issue
