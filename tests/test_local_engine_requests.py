"""What the local engine refuses at create time, and what a training job can and cannot reach."""

from __future__ import annotations

import copy
import os

import pytest

from hpo_jobs.sagemaker import catalogue
from hpo_jobs.backends.base import PermanentBackendError
from .factories import REGION, XGB_IMAGE, channel, training_definition, tuning_request
from .local_engine_harness import breast_cancer_channels, custom


def refused(engine, req) -> str:
    """The message of the PermanentBackendError that creating ``req`` raises; nothing may be left behind."""
    with pytest.raises(PermanentBackendError) as caught:
        engine.backend.create_tuning_job(req)
    assert not engine.dir.exists() or not [p for p in engine.dir.iterdir() if not p.name.startswith(".")]
    return str(caught.value)


def with_channel(engine, uri: str):
    return tuning_request("channels", custom(engine, "noop", channels=[channel("train", uri)]),
                   objective=("Maximize", "score"), jobs=1)


# --- channels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["/etc", "file:///etc/passwd", "/proc/self/environ"])
def test_a_channel_outside_the_data_folders_is_refused(engine, uri):
    assert "not in this project's data folders" in refused(engine, with_channel(engine, uri))


def test_a_channel_that_escapes_with_dots_or_a_symlink_is_refused(engine):
    escape = f"{engine.data_dir}/breast-cancer/../../../../etc"
    assert "not in this project's data folders" in refused(engine, with_channel(engine, escape))
    (engine.data_dir / "shortcut").symlink_to("/etc")
    assert "not in this project's data folders" in refused(engine, with_channel(engine, f"{engine.data_dir}/shortcut"))


def test_an_outside_path_is_refused_before_its_existence_is_checked(engine):
    # Whether a server file exists must not be readable from the message.
    message = refused(engine, with_channel(engine, "/no/such/place"))
    assert "not in this project's data folders" in message and "does not exist" not in message
    assert "does not exist" in refused(engine, with_channel(engine, f"{engine.data_dir}/missing"))


@pytest.mark.parametrize("uri", ["s3://my-bucket/train/", "https://my-bucket.s3.amazonaws.com/train/"])
def test_an_s3_channel_is_refused_with_a_clear_message(engine, uri):
    message = refused(engine, with_channel(engine, uri))
    assert "URIs" in message and "run the job on SageMaker" in message and str(engine.data_dir) in message


def test_a_relative_path_or_remote_file_uri_is_refused(engine):
    assert "absolute folder path" in refused(engine, with_channel(engine, "data/breast-cancer/train"))
    assert "absolute folder path or a file:// URI" in refused(engine, with_channel(engine, "file://other-host/srv/data"))


def test_a_symlink_inside_a_data_folder_does_not_lead_a_training_job_out(engine):
    train = engine.data["breast-cancer"]["train"]
    (train / "secret.csv").symlink_to("/etc/hostname")
    (train / "etc").symlink_to("/etc")
    training = custom(engine, "lister", channels=[channel("train", str(train))])
    engine.backend.create_tuning_job(tuning_request("lister", training, objective=("Maximize", "score"), jobs=1))
    assert engine.wait("lister")["HyperParameterTuningJobStatus"] == "Completed"
    log = engine.backend.get_training_job_log(engine.all_training_jobs("lister")[0]["TrainingJobName"])
    assert "seen input/data/train/data.csv" in log
    assert "secret.csv" not in log and "input/data/train/etc" not in log
    assert "secret_key_visible=False" in log  # the server's environment stays with the server
    assert os.environ.get("SECRET_KEY")


# --- algorithms and commands ---------------------------------------------------------------------
def test_a_custom_image_not_in_settings_is_refused(engine):
    training = training_definition("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/ranker:2",
                          metrics=[{"Name": "score", "Regex": "score=(.*)"}])
    message = refused(engine, tuning_request("unmapped", training, objective=("Maximize", "score")))
    assert "cannot run image" in message and "HPO_LOCAL_CUSTOM_IMAGES" in message


def test_a_built_in_that_cannot_run_locally_is_refused_at_submit(engine):
    algorithm = catalogue.get("image-classification")
    channels = [{"ChannelName": name, "ContentType": algorithm.channel(name).default_content_type, "DataSource": {
        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/{name}/"}}} for name in ("train", "validation")]
    static = {"num_classes": "2", "num_training_samples": "100"}
    training = training_definition(algorithm.image_uri(REGION), static=static, channels=channels)
    message = refused(engine, tuning_request("vision", training, objective=("Maximize", "validation:accuracy")))
    assert "is not runnable on the local engine" in message


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["AlgorithmSpecification"].update(TrainingImage="/bin/sh"),
        lambda d: d["AlgorithmSpecification"].update(ContainerEntrypoint=["/bin/sh", "-c", "touch /tmp/x"]),
        lambda d: d["AlgorithmSpecification"].update(AlgorithmName="arn:aws:sagemaker:us-east-1:1:algorithm/x"),
        lambda d: d.update(Environment={"LD_PRELOAD": "/tmp/evil.so"}),
        lambda d: d.update(Environment={"PYTHONPATH": "/tmp/evil"}),
        lambda d: d.update(Environment={"BASH_ENV": "/tmp/evil.sh"}),
    ],
    ids=["image-as-path", "entrypoint", "marketplace", "ld-preload", "pythonpath", "bash-env"],
)
def test_a_request_cannot_choose_what_runs(engine, change):
    training = custom(engine, "noop")
    change(training)
    refused(engine, tuning_request("made-up", training, objective=("Maximize", "score"), jobs=1))


def test_hyperparameter_values_never_reach_a_shell(engine, tmp_path):
    marker = tmp_path / "pwned"
    static = {"score": f"1; touch {marker}", "other": f"$(touch {marker})", "third": f"`touch {marker}`"}
    engine.backend.create_tuning_job(tuning_request("quoted", custom(engine, "noop", static=static),
                                             objective=("Maximize", "score"), jobs=1))
    assert engine.wait("quoted")["HyperParameterTuningJobStatus"] == "Completed"
    assert not marker.exists()


# --- rules of the request ------------------------------------------------------------------------
def test_strategy_rules_are_enforced(engine):
    continuous = {"ContinuousParameterRanges": [{"Name": "quality", "MinValue": "0", "MaxValue": "1"}]}
    noop = custom(engine, "epochs")
    assert "categorical ranges only" in refused(engine, tuning_request("g", noop, strategy="Grid", jobs=None, ranges=continuous))
    grid = {"CategoricalParameterRanges": [{"Name": "quality", "Values": ["1", "2"]}]}
    assert "equal the number of value combinations" in refused(engine, tuning_request("g", noop, strategy="Grid", jobs=3, ranges=grid))
    assert "set early stopping to Off" in refused(
        engine, tuning_request("h", noop, strategy="Hyperband", TrainingJobEarlyStoppingType="Auto",
                        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}}))
    assert "MaxResource" in refused(engine, tuning_request("h", noop, strategy="Hyperband"))
    assert "only for the Hyperband" in refused(
        engine, tuning_request("r", noop, StrategyConfig={"HyperbandStrategyConfig": {"MaxResource": 3}}))
    log_at_zero = {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}]}
    assert "above 0" in refused(engine, tuning_request("r", noop, ranges=log_at_zero))
    reverse_int = {"IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "ReverseLogarithmic"}]}
    assert "continuous ranges only" in refused(engine, tuning_request("r", noop, ranges=reverse_int))


def test_objective_and_metric_rules_are_enforced(engine):
    assert "must be one of this definition's metric definitions" in refused(
        engine, tuning_request("m", custom(engine, "noop"), objective=("Maximize", "accuracy")))
    bad_regex = custom(engine, "noop", metrics=[{"Name": "score", "Regex": "score=(["}])
    assert "not a valid regular expression" in refused(engine, tuning_request("m", bad_regex, objective=("Maximize", "score")))
    no_group = custom(engine, "noop", metrics=[{"Name": "score", "Regex": "score=.*"}])
    assert "exactly one capturing group" in refused(engine, tuning_request("m", no_group, objective=("Maximize", "score")))
    xgb = training_definition(XGB_IMAGE, static={"num_round": "3"}, channels=breast_cancer_channels(engine))
    assert "XGBoost cannot be tuned towards 'score'" in refused(engine, tuning_request("m", xgb, objective=("Maximize", "score")))


def test_unsupported_features_are_refused_clearly(engine):
    noop = custom(engine, "noop")
    warm = tuning_request("w", noop, objective=("Maximize", "score"))
    warm["WarmStartConfig"] = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
                               "WarmStartType": "IdenticalDataAndAlgorithm"}
    assert "Warm start" in refused(engine, warm)
    piped = copy.deepcopy(noop)
    piped["AlgorithmSpecification"]["TrainingInputMode"] = "Pipe"
    assert "reads 'Pipe' input only for built-in algorithms" in refused(engine, tuning_request("p", piped, objective=("Maximize", "score")))
    both = tuning_request("b", noop, objective=("Maximize", "score"))
    both["TrainingJobDefinitions"] = [noop]
    assert "not both" in refused(engine, both)
    assert "is required" in refused(engine, {"HyperParameterTuningJobName": "x"})


@pytest.mark.parametrize("name", ["..", ".", "../../escape"])
def test_a_channel_name_cannot_point_out_of_the_training_jobs_folder(engine, name):
    bc = engine.data["breast-cancer"]
    training = custom(engine, "noop", channels=[channel(name, str(bc["train"]))])
    assert ".ChannelName: Channel" in refused(engine, tuning_request("names", training, objective=("Maximize", "score"), jobs=1))
