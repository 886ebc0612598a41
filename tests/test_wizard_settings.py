"""The optional settings of a training job definition in the wizard: environment variables, output
compression and KMS keys, checkpoints, retries, the pending time limit, and a channel's shuffle seed
and augmented manifest attributes.

Each is offered only where the engine honours it, refused next to its field when it breaks one of
SageMaker's limits or the engine's rules, and carried unchanged from the wizard to the request and
back through import and clone.
"""

from __future__ import annotations

import copy

import pytest

from hpo_jobs.backends import get_backend
from hpo_jobs.models import HpoJob

from .factories import local_request
from .wizard_helpers import WizardPage, data_dir, fill_channels, import_, start

pytestmark = pytest.mark.django_db

OPTIONAL_FIELDS = ("def-output_kms", "def-volume_kms", "def-checkpoint_uri", "def-checkpoint_local_path",
                   "def-max_retries", "def-max_pending")


@pytest.fixture
def root():
    return data_dir()


@pytest.fixture
def defs(bob_client, project, root):
    """The definitions step of a new run on the local engine, its channels pointed at readable folders."""
    page = start(bob_client).next(job__name="settings-job")
    assert page.step == "definitions"
    return page.type({**fill_channels(page, root), f"def-hp-{page.hp_index('objective')}-value": "binary:logistic"})


@pytest.fixture
def sagemaker_defs(bob_client, project, settings):
    """The definitions step of a new run on SageMaker (the job step filled in the local way, which
    checks the name without calling AWS), its channels and output on S3."""
    page = start(bob_client).next(job__name="sm-settings")
    settings.HPO_BACKEND = "sagemaker"
    page = page.act("load-defaults")  # the step again, as SageMaker's wizard shows it
    assert page.step == "definitions"
    return page.type({"def-ch-0-uri": "s3://bucket/train/", "def-ch-1-uri": "s3://bucket/validation/",
                      "def-output_path": "s3://bucket/out/"})


def with_variables(page: WizardPage, *pairs: tuple[str, str]) -> WizardPage:
    """Add a row per (name, value) to the open definition's environment table and fill it in."""
    for _ in pairs:
        page = page.act("add-row:environment")
    first = int(page.value("def-env-TOTAL_FORMS")) - len(pairs)
    changes = {}
    for offset, (name, value) in enumerate(pairs):
        changes[f"def-env-{first + offset}-name"] = name
        changes[f"def-env-{first + offset}-value"] = value
    return page.type(changes)


def renamed(request: dict, name: str) -> dict:
    return {**copy.deepcopy(request), "HyperParameterTuningJobName": name}


# ---- environment variables (both engines) --------------------------------------------------------------
def test_environment_variables_go_to_the_request_and_come_back_through_import_and_clone(bob_client, defs):
    page = with_variables(defs, ("LOG_LEVEL", "debug"), ("_SEED", "a b = c"))
    page = page.next()
    assert page.step == "resources", page.errors()
    page = page.next()
    assert page.step == "review", page.errors()
    request = page.request_json()
    assert request["TrainingJobDefinition"]["Environment"] == {"LOG_LEVEL": "debug", "_SEED": "a b = c"}
    assert "LOG_LEVEL" in page.html and "a b = c" in page.html  # the review shows them
    page.submit()
    job = HpoJob.objects.get(name="settings-job")
    assert job.request == request

    imported = WizardPage(bob_client, bob_client.get(import_(bob_client, request, name="settings-imp")["Location"]))
    assert imported.step == "review", imported.errors()
    assert imported.request_json() == renamed(request, "settings-imp")
    cloned = WizardPage(bob_client, bob_client.get("/projects/demo/hpo-jobs/settings-job/clone/"))
    cloned = cloned.next().next().next()
    assert cloned.step == "review", cloned.errors()
    assert cloned.request_json() == renamed(request, "settings-job-copy")


@pytest.mark.parametrize("name, message", [
    ("1ST", "Environment"),  # SageMaker's key pattern: [a-zA-Z_][a-zA-Z0-9_]*
    ("HAS-DASH", "Environment"),
    ("LD_PRELOAD", "cannot be set on the local engine"),  # the local engine's denied names
])
def test_an_environment_name_sagemaker_or_the_engine_refuses_is_refused_next_to_it(defs, name, message):
    page = with_variables(defs, (name, "x")).next()
    assert page.step == "definitions"
    errors = page.error_near("def-env-0-name")
    assert errors and any(message in e for e in errors), page.errors()


def test_a_value_longer_than_sagemakers_512_characters_is_refused_next_to_it(defs):
    page = with_variables(defs, ("LONG", "x" * 513)).next()
    assert page.step == "definitions"
    assert page.error_near("def-env-0-value"), page.errors()
    assert with_variables(defs, ("LONG", "x" * 512)).next().step == "resources"


def test_a_variable_set_twice_is_refused_next_to_the_second(defs):
    page = with_variables(defs, ("A", "1"), ("A", "2")).next()
    assert page.step == "definitions"
    assert page.error_near("def-env-1-name") == ["Variable A is set twice in this definition; keep one row."]
    assert page.error_near("def-env-0-name") == []


def test_at_most_48_variables_across_all_definitions(defs):
    page = with_variables(defs, *((f"V{i}", "1") for i in range(30)))
    page = page.act("copy:0")  # a second definition with the same 30 variables: 60 in all
    page = page.next()
    assert page.step == "definitions"
    assert any("At most 48 environment variables in total" in e for e in page.errors()), page.errors()


# ---- output compression (both engines) -------------------------------------------------------------------
def test_an_uncompressed_output_chosen_in_the_wizard_is_sent_and_gzip_is_left_to_sagemaker(defs):
    assert defs.value("def-output_compression") == "GZIP"
    review = defs.next().next()
    assert "CompressionType" not in review.request_json()["TrainingJobDefinition"]["OutputDataConfig"]
    page = review.goto("definitions:0").next({"def-output_compression": "NONE"}).next()
    assert page.step == "review", page.errors()
    assert page.request_json()["TrainingJobDefinition"]["OutputDataConfig"]["CompressionType"] == "NONE"


# ---- the settings the local engine does not honour --------------------------------------------------------
def test_the_local_engine_does_not_offer_what_it_does_not_honour(defs):
    caps = get_backend("local").capabilities
    assert not (caps.checkpoints or caps.retry_strategy or caps.max_pending_time or caps.kms_keys)
    for name in (*OPTIONAL_FIELDS, "def-ch-0-shuffle_seed", "def-ch-0-attribute_names"):
        assert f'name="{name}"' not in defs.html, name
    assert 'name="def-output_compression"' in defs.html and 'value="add-row:environment"' in defs.html


@pytest.mark.parametrize("change, path, message", [
    (lambda d: d.update(RetryStrategy={"MaximumRetryAttempts": 2}), "RetryStrategy", "does not retry"),
    (lambda d: d.update(CheckpointConfig={"S3Uri": "s3://bucket/ck/"}), "CheckpointConfig", "keeps no checkpoints"),
    (lambda d: d["StoppingCondition"].update(MaxPendingTimeInSeconds=7200),
     "StoppingCondition.MaxPendingTimeInSeconds", "no pending time limit"),
    (lambda d: d["OutputDataConfig"].update(KmsKeyId="alias/models"), "OutputDataConfig.KmsKeyId", "KMS"),
    (lambda d: d["ResourceConfig"].update(VolumeKmsKeyId="alias/disks"), "ResourceConfig.VolumeKmsKeyId", "KMS"),
    (lambda d: d["InputDataConfig"][0].update(ShuffleConfig={"Seed": 7}), "InputDataConfig[0].ShuffleConfig",
     "does not shuffle"),
])
def test_the_local_engine_refuses_them_at_their_path_and_the_import_says_so(bob_client, project, root, change, path,
                                                                          message):
    request = local_request(root)
    change(request["TrainingJobDefinition"])
    issues = get_backend("local").check_request(request, project="demo")
    assert [(i.path, message in i.message) for i in issues] == [(f"TrainingJobDefinition.{path}", True)]
    response = import_(bob_client, request)
    assert response.status_code == 400 and message in response.content.decode()


# ---- on SageMaker ----------------------------------------------------------------------------------------
def test_sagemaker_offers_every_setting(sagemaker_defs):
    for name in (*OPTIONAL_FIELDS, "def-ch-0-shuffle_seed", "def-ch-0-attribute_names"):
        assert f'name="{name}"' in sagemaker_defs.html, name


def test_sagemakers_settings_go_to_the_request(sagemaker_defs):
    page = sagemaker_defs.next({
        "def-use_spot": "on", "def-max_wait": "7200", "def-checkpoint_uri": "s3://bucket/ck/",
        "def-checkpoint_local_path": "/opt/ml/checkpoints", "def-max_retries": "3", "def-max_pending": "7200",
        "def-output_kms": "alias/models", "def-volume_kms": "arn:aws:kms:us-east-1:111122223333:key/abc",
        "def-output_compression": "NONE",
    })
    assert page.step == "resources", page.errors()
    page = page.next()
    assert page.step == "review", page.errors()
    definition = page.request_json()["TrainingJobDefinition"]
    assert definition["CheckpointConfig"] == {"S3Uri": "s3://bucket/ck/", "LocalPath": "/opt/ml/checkpoints"}
    assert definition["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200,
                                               "MaxPendingTimeInSeconds": 7200}
    assert definition["OutputDataConfig"] == {"S3OutputPath": "s3://bucket/out/", "KmsKeyId": "alias/models",
                                              "CompressionType": "NONE"}
    assert definition["ResourceConfig"]["VolumeKmsKeyId"] == "arn:aws:kms:us-east-1:111122223333:key/abc"
    for shown in ("s3://bucket/ck/", "up to 3 on internal errors", "alias/models", "Volume KMS key", "Max pending"):
        assert shown in page.html, shown


@pytest.mark.parametrize("field, value", [
    ("def-max_retries", "0"), ("def-max_retries", "31"),  # SageMaker: 1 to 30
    ("def-max_pending", "1799"), ("def-max_pending", "2419201"),  # SageMaker: 1800 to 2419200
    ("def-output_kms", "not a key!"), ("def-volume_kms", "key with spaces"),  # [a-zA-Z0-9:/_-]*
    ("def-checkpoint_uri", "bucket/ck/"),  # an s3:// or https:// URI
])
def test_sagemakers_limits_are_refused_next_to_the_field(sagemaker_defs, field, value):
    page = sagemaker_defs.next({"def-use_spot": "on", "def-max_wait": "7200", field: value})
    assert page.step == "definitions"
    assert page.error_near(field), page.errors()


def test_a_checkpoint_local_path_needs_its_s3_uri(sagemaker_defs):
    page = sagemaker_defs.next({"def-use_spot": "on", "def-max_wait": "7200", "def-checkpoint_local_path": "/ck"})
    assert page.step == "definitions"
    assert page.error_near("def-checkpoint_uri") == [
        "A checkpoint local path needs the S3 URI the checkpoints are copied to; give one, or clear the local path."]


# ---- a channel's shuffle seed and augmented manifest (SageMaker) -------------------------------------------
def test_a_shuffled_channel_and_an_augmented_manifest_go_to_the_request(sagemaker_defs):
    page = sagemaker_defs.next({
        "def-ch-0-shuffle_seed": "42", "def-ch-1-s3_data_type": "AugmentedManifestFile",
        "def-ch-1-attribute_names": "source-ref, class", "def-ch-1-input_mode": "Pipe",
    })
    assert page.step == "resources", page.errors()
    page = page.next()
    assert page.step == "review", page.errors()
    train, validation = page.request_json()["TrainingJobDefinition"]["InputDataConfig"]
    assert train["ShuffleConfig"] == {"Seed": 42}
    assert validation["InputMode"] == "Pipe"
    assert validation["DataSource"]["S3DataSource"] == {
        "S3DataType": "AugmentedManifestFile", "S3Uri": "s3://bucket/validation/",
        "AttributeNames": ["source-ref", "class"]}
    assert "shuffled, seed 42" in page.html and "attributes source-ref, class" in page.html


@pytest.mark.parametrize("changes, field, words", [
    # SageMaker reads an augmented manifest in Pipe mode only: next to the channel's input mode.
    ({"def-ch-1-s3_data_type": "AugmentedManifestFile", "def-ch-1-attribute_names": "source-ref"},
     "def-ch-1-input_mode", "Pipe input mode only (got File)"),
    ({"def-ch-1-s3_data_type": "AugmentedManifestFile", "def-ch-1-input_mode": "Pipe"},
     "def-ch-1-attribute_names", "needs the names of the attributes"),
    ({"def-ch-1-attribute_names": "source-ref"}, "def-ch-1-attribute_names", "augmented manifest only"),
    ({"def-ch-1-attribute_names": '"source-ref'}, "def-ch-1-attribute_names", "A quote is not closed"),
])
def test_the_augmented_manifests_rules_are_refused_next_to_the_field(sagemaker_defs, changes, field, words):
    page = sagemaker_defs.next(changes)
    assert page.step == "definitions"
    assert any(words in e for e in page.error_near(field)), (page.error_near(field), page.errors())
