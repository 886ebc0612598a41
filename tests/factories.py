"""Requests and jobs for the tests: the one home of every CreateHyperParameterTuningJob request a
test builds by name, and of storing a job directly.

- Realistic SageMaker requests: ``single_request`` (one definition, the singular form),
  ``multi_request`` (two definitions), ``builtin_request`` and the built-ins, ``grid_request``,
  ``hyperband_request``; ``edit``/``with_`` change one member at an Issue-style path. ``CTX`` and
  ``LOCAL_CTX`` are the validation contexts (SageMaker's rules; with the local engine's check) they are
  checked in; ``in_data_folder`` moves a request's ``DATA_DIR`` paths to a test's data folder.
- ``make_request``: the request the wizard stores (one definition: the singular form), as the AWS fakes
  answer it; ``make_request_plural`` the same definition in the multi-algorithm form.
- ``local_request``: a request the local engine can run, as a user has it from the CLI (singular form);
  ``local_request_plural`` the same in the multi-algorithm form.
- ``training_definition`` and ``tuning_request``: a request around any image (the local engine's tests).
- ``bench_request``, ``build_job`` (the benchmarks' realistic jobs, from ``make_bench_jobs``) and
  ``multi_definition_request``; ``make_job`` stores a job with children (the ``make_job`` fixture);
  ``insight_request`` and ``add_children`` make jobs whose children follow a known objective (insights).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from hpo_jobs.backends.local import LocalBackend
from hpo_jobs.management.commands.make_bench_jobs import bench_request, build_job
from hpo_jobs.models import HpoJob, TrainingJob
from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker.request import definitions, with_definitions
from hpo_jobs.sagemaker.spec import ValidationContext

from .aws_fakes import ACCOUNT, REGION

__all__ = [
    "ACCOUNT", "CTX", "CUSTOM_IMAGE", "DATA_DIR", "DELETE", "LOCAL_CTX", "REGION", "ROLE", "ROLE_ARN", "TEAM_REGISTRY",
    "XGB_IMAGE", "XGBOOST_IMAGE", "bench_request", "build_job", "builtin_request", "channel", "custom_definition",
    "add_children", "edit", "grid_request", "hyperband_request", "in_data_folder", "insight_request",
    "kmeans_request", "linear_learner_request", "local_request", "local_request_plural", "make_job", "make_request",
    "make_request_plural", "multi_definition_request", "multi_request", "single_request", "training_definition",
    "tuning_request", "with_", "xgb_definition", "xgb_ranges",
]


# ---- realistic SageMaker requests ------------------------------------------------------------------
XGB_IMAGE = catalogue.get("xgboost").image_uri(REGION)
TEAM_REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team-a/"
CUSTOM_IMAGE = TEAM_REGISTRY + "ranker:1.4"
ROLE = "arn:aws:iam::123456789012:role/hpo-portal-execution"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"  # the project's role in the AWS tests
EXAMPLE_IMAGE = "hpo-portal/example-custom:latest"  # the shipped example custom algorithm
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
DATA_DIR = Path("/srv/hpo-portal-test-data")  # a placeholder: in_data_folder moves it to a test's folder
DELETE = object()

CTX = ValidationContext(
    region=REGION,
    instance_types=("ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge", "ml.g5.xlarge"),
    ecr_enabled=True,
    ecr_allowed=(TEAM_REGISTRY,),
    warm_start_parents=("churn-v1", "churn-v2"),
    name_taken=lambda name: name.lower() == "taken-job",
)
# The local engine reads its data folders and images from the settings: the ``local_data`` fixture
# points them at a test folder, and ``in_data_folder`` moves a request's DATA_DIR paths there.
LOCAL_CTX = dataclasses.replace(CTX, engine=LocalBackend(), project="demo")


def in_data_folder(request: Any, data_dir: Path, *, make: bool = True) -> Any:
    """``request`` with every DATA_DIR path moved under ``data_dir``; with ``make``, each channel folder
    that lies inside ``data_dir`` is created (the local engine refuses a folder that does not exist)."""
    import json

    text = json.dumps(request)
    moved = json.loads(text.replace(str(DATA_DIR), str(data_dir))) if isinstance(request, dict) else request
    if make and isinstance(moved, dict):
        definitions = [moved.get("TrainingJobDefinition")] + list(moved.get("TrainingJobDefinitions") or [])
        for definition in definitions:
            for item in (definition or {}).get("InputDataConfig") or []:
                uri = (((item or {}).get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri") or ""
                folder = Path(uri.removeprefix("file://localhost").removeprefix("file://")).resolve()
                if uri.startswith(("/", "file://")) and folder.is_relative_to(data_dir.resolve()):
                    folder.mkdir(parents=True, exist_ok=True)
    return moved


def channel(name: str, uri: str) -> dict:
    return {"ChannelName": name, "ContentType": "text/csv",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri,
                                            "S3DataDistributionType": "FullyReplicated"}}}


def xgb_ranges() -> dict:
    return {
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "3", "MaxValue": "10", "ScalingType": "Linear"}],
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"},
            {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        ],
        "CategoricalParameterRanges": [],
    }


def xgb_definition(**changes) -> dict:
    definition = {
        "StaticHyperParameters": {"num_round": "200", "objective": "binary:logistic", "eval_metric": "auc"},
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [channel("train", "s3://ml-data/churn/train/"),
                            channel("validation", "s3://ml-data/churn/validation/")],
        "OutputDataConfig": {"S3OutputPath": "s3://ml-artifacts/hpo/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "EnableManagedSpotTraining": False,
    }
    definition.update(changes)
    return definition


def custom_definition(**changes) -> dict:
    definition = {
        "DefinitionName": "ranker",
        "TuningObjective": {"Type": "Minimize", "MetricName": "validation:loss"},
        "HyperParameterRanges": {
            "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1",
                                           "ScalingType": "Logarithmic"}],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["adam", "sgd"]}],
        },
        "StaticHyperParameters": {"epochs": "20"},
        "AlgorithmSpecification": {
            "TrainingImage": CUSTOM_IMAGE, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:loss", "Regex": "val_loss=([0-9.eE+-]+)"},
                                  {"Name": "train:loss", "Regex": "train_loss=([0-9.eE+-]+)"}],
        },
        "RoleArn": ROLE,
        "InputDataConfig": [channel("train", "s3://ml-data/ranker/train/")],
        "OutputDataConfig": {"S3OutputPath": "s3://ml-artifacts/hpo/"},
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
        "Environment": {"LOG_LEVEL": "info"},
    }
    definition.update(changes)
    return definition


def single_request() -> dict:
    """A realistic single-definition XGBoost request, as the wizard builds it."""
    return {
        "HyperParameterTuningJobName": "churn-xgb-2024-06",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 30, "MaxParallelTrainingJobs": 3,
                               "MaxRuntimeInSeconds": 86400},
            "ParameterRanges": xgb_ranges(),
            "TrainingJobEarlyStoppingType": "Off",
            "RandomSeed": 7,
        },
        "TrainingJobDefinition": xgb_definition(),
        "Tags": [{"Key": "hpo-portal:project", "Value": "churn"}, {"Key": "hpo-portal:creator", "Value": "alice"}],
    }


def multi_request() -> dict:
    """A realistic two-definition request: XGBoost and a custom image."""
    xgb = xgb_definition(DefinitionName="xgboost", HyperParameterRanges=xgb_ranges(),
                         TuningObjective={"Type": "Maximize", "MetricName": "validation:auc"})
    return {
        "HyperParameterTuningJobName": "churn-multi",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 40, "MaxParallelTrainingJobs": 4},
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinitions": [xgb, custom_definition()],
    }


def builtin_request(key: str, static: dict, metric: str, ranges: dict | None = None) -> dict:
    """A single-definition request for any built-in algorithm."""
    algorithm = catalogue.get(key)
    request = single_request()
    config = request["HyperParameterTuningJobConfig"]
    config["HyperParameterTuningJobObjective"] = {"Type": algorithm.objective_metric(metric).direction,
                                                  "MetricName": metric}
    config["ParameterRanges"] = ranges or {}
    request["TrainingJobDefinition"] = xgb_definition(
        StaticHyperParameters=static,
        AlgorithmSpecification={"TrainingImage": algorithm.image_uri(REGION), "TrainingInputMode": "File"},
    )
    return request


def kmeans_request() -> dict:
    request = builtin_request("kmeans", {"k": "8", "feature_dim": "20"}, "test:msd", {
        "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "500", "MaxValue": "5000"}]})
    request["TrainingJobDefinition"]["InputDataConfig"] = [  # test:msd is computed on the test channel
        channel("train", "s3://ml-data/clusters/train/"), channel("test", "s3://ml-data/clusters/test/")]
    return request


def linear_learner_request(metric: str = "validation:objective_loss") -> dict:
    return builtin_request("linear-learner", {"feature_dim": "20", "predictor_type": "binary_classifier"}, metric, {
        "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.00001", "MaxValue": "1",
                                       "ScalingType": "Logarithmic"}]})


def grid_request(max_jobs: object = DELETE) -> dict:
    request = single_request()
    config = request["HyperParameterTuningJobConfig"]
    config["Strategy"] = "Grid"
    config["ParameterRanges"] = {"CategoricalParameterRanges": [
        {"Name": "max_depth", "Values": ["3", "6", "9"]}, {"Name": "eta", "Values": ["0.1", "0.3"]}]}
    if max_jobs is DELETE:
        del config["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    else:
        config["ResourceLimits"]["MaxNumberOfTrainingJobs"] = max_jobs
    return request


def hyperband_request(**hyperband) -> dict:
    request = multi_request()
    request["TrainingJobDefinitions"] = [custom_definition()]
    config = request["HyperParameterTuningJobConfig"]
    config["Strategy"] = "Hyperband"
    config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
    return request


_STEP = re.compile(r'\.?([A-Za-z0-9_]+)|\[(\d+)\]|\["([^"]*)"\]')


def edit(request: dict, path: str, value: object) -> dict:
    """Set (or with DELETE, remove) the member at an Issue-style path, creating objects on the way."""
    steps = [m.group(1) or m.group(3) if m.group(2) is None else int(m.group(2)) for m in _STEP.finditer(path)]
    node = request
    for step in steps[:-1]:
        if isinstance(step, str) and step not in node:
            node[step] = {}
        node = node[step]
    if value is DELETE:
        del node[steps[-1]]
    else:
        node[steps[-1]] = value
    return request


def with_(factory, *edits):
    """A builder: ``factory()`` with ``edits`` ((path, value) pairs) applied."""
    def build() -> dict:
        request = factory()
        for path, value in edits:
            edit(request, path, value)
        return request
    return build



# ---- the request the wizard stores --------------------------------------------------------------------
def make_request(name: str = "tune-xgb", *, strategy: str = "Bayesian", max_jobs: int | None = 750,
                 role_arn: str = ROLE_ARN) -> dict[str, Any]:
    """A complete CreateHyperParameterTuningJob request, as the wizard stores it (one definition, the
    singular form)."""
    return _singular(make_request_plural(name, strategy=strategy, max_jobs=max_jobs, role_arn=role_arn))


def _singular(request: dict[str, Any]) -> dict[str, Any]:
    return with_definitions(request, [d.as_plural() for d in definitions(request)])


def make_request_plural(name: str = "tune-xgb", *, strategy: str = "Bayesian", max_jobs: int | None = 750,
                        role_arn: str = ROLE_ARN) -> dict[str, Any]:
    """``make_request``'s definition in the multi-algorithm form (TrainingJobDefinitions, named "xgb")."""
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": 10}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "ResourceLimits": limits,
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinitions": [{
            "DefinitionName": "xgb",
            "TuningObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "HyperParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"}],
            },
            "StaticHyperParameters": {"num_round": "100", "objective": "binary:logistic"},
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": role_arn,
            "InputDataConfig": [{
                "ChannelName": name,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://bucket/{name}/"}},
                "ContentType": "text/csv",
            } for name in ("train", "validation")],  # validation:auc is computed on the validation channel
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }],
        "Tags": [{"Key": "hpo-portal:project", "Value": "demo"}, {"Key": "hpo-portal:created-by", "Value": "alice"}],
    }


# ---- a request the local engine can run --------------------------------------------------------------
def local_request(root, name: str = "imported-job") -> dict:
    """A request the local engine can run, as a user would have it from the CLI (the singular form)."""
    return _singular(local_request_plural(root, name))


def local_request_plural(root, name: str = "imported-job") -> dict:
    """``local_request``'s definition in the multi-algorithm form (TrainingJobDefinitions, named "xgb")."""
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
            "TrainingJobEarlyStoppingType": "Auto",
            "RandomSeed": 3,
        },
        "TrainingJobDefinitions": [{
            "DefinitionName": "xgb",
            "TuningObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "HyperParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5", "ScalingType": "Auto"}],
                "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Linear"}],
            },
            "StaticHyperParameters": {"num_round": "20", "objective": "binary:logistic"},
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::999999999999:role/Whatever",
            "InputDataConfig": [
                {"ChannelName": name, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(root / name)}},
                 "ContentType": "text/csv"}
                for name in ("train", "validation")
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/output/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        }],
        "Tags": [{"Key": "team", "Value": "fraud"}],
    }


def training_definition(image: str, *, static: dict[str, str] | None = None, channels: list | None = None,
                        metrics: list | None = None, runtime: int = 600, **extra: Any) -> dict[str, Any]:
    """A training job definition for any image (the local engine's tests map test images to scripts)."""
    d = {
        "StaticHyperParameters": static or {},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://hpo-portal-test/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": runtime},
        **extra,
    }
    if channels:
        d["InputDataConfig"] = channels
    if metrics is not None:
        d["AlgorithmSpecification"]["MetricDefinitions"] = metrics
    return d


def tuning_request(name: str, training: dict[str, Any], *, strategy: str = "Random", objective=("Minimize", "loss"),
                   jobs: int | None = 4, parallel: int = 2, ranges: dict | None = None, **config: Any) -> dict[str, Any]:
    """A one-definition request around ``training``, in the singular form."""
    limits = {"MaxParallelTrainingJobs": min(parallel, jobs) if jobs else parallel}  # SageMaker: parallel <= jobs
    if jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = jobs
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": objective[0], "MetricName": objective[1]},
            "ResourceLimits": limits,
            "ParameterRanges": ranges or {},
            "TrainingJobEarlyStoppingType": "Off",
            **config,
        },
        "TrainingJobDefinition": training,
    }


# ---- jobs ---------------------------------------------------------------------------------------------
def multi_definition_request(name: str) -> dict:
    """The benchmarks' request with two XGBoost definitions, "deep" and "shallow"."""
    base = bench_request(name, 6)
    config = base["HyperParameterTuningJobConfig"]
    ranges = config.pop("ParameterRanges")
    objective = config.pop("HyperParameterTuningJobObjective")
    definition = base.pop("TrainingJobDefinition")
    base["TrainingJobDefinitions"] = [
        {**definition, "DefinitionName": "deep", "TuningObjective": objective, "HyperParameterRanges": ranges},
        {**definition, "DefinitionName": "shallow", "TuningObjective": objective,
         "HyperParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "3"}]},
         "StaticHyperParameters": {"objective": "binary:logistic", "num_round": "20"}},
    ]
    return base


def make_job(project, creator, name: str = "demo-job", *, status: str = HpoJob.Status.IN_PROGRESS,
             children: int = 0, **fields: Any) -> HpoJob:
    """Store an HpoJob (and ``children`` completed training jobs) directly, for pages that only read the database."""
    request = fields.pop("request", None) or {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinitions": [],
    }
    job = HpoJob.objects.create(
        project=project, name=name, created_by=creator, backend="local",
        request=request, strategy=request["HyperParameterTuningJobConfig"]["Strategy"], status=status,
        max_training_jobs=request["HyperParameterTuningJobConfig"]["ResourceLimits"].get("MaxNumberOfTrainingJobs"),
        **fields,
    )
    TrainingJob.objects.bulk_create(
        TrainingJob(hpo_job=job, name=f"{name}-{i + 1:03d}-abcdef12", status="Completed",
                    objective_status="Succeeded", objective_value=0.5 + i / 1000,
                    objective_metric_name="validation:auc", tuned_hyperparameters={"eta": str(0.1 + i / 100)})
        for i in range(children)
    )
    return job


def insight_request(name: str, *, strategy: str = "Bayesian", max_jobs: int = 60, parallel: int = 3,
                    max_runtime: int | None = None, instance_count: int = 1,
                    objective: tuple[str, str] = ("Maximize", "validation:auc")) -> dict[str, Any]:
    """A one-definition request tuning a log-scaled ``lr``, an integer ``depth`` and a categorical ``booster``."""
    request = make_request_plural(name, strategy=strategy, max_jobs=max_jobs)
    config = request["HyperParameterTuningJobConfig"]
    config["ResourceLimits"]["MaxParallelTrainingJobs"] = parallel
    if max_runtime is not None:
        config["ResourceLimits"]["MaxRuntimeInSeconds"] = max_runtime
    definition = request["TrainingJobDefinitions"][0]
    definition["TuningObjective"] = {"Type": objective[0], "MetricName": objective[1]}
    definition["ResourceConfig"]["InstanceCount"] = instance_count
    definition["HyperParameterRanges"] = {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1",
                                       "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Linear"}],
        "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart", "gblinear"]}],
    }
    return _singular(request)  # one definition: the form the wizard sends


def add_children(job: HpoJob, hyperparameters: list[dict[str, str]], values: list[float | None], *,
                 durations: list[float] | None = None, statuses: list[str] | None = None, start=None,
                 metric: str = "validation:auc") -> list[TrainingJob]:
    """Store ``job``'s children: one per hyperparameter set, with its objective value (None: not
    evaluated), status and duration (seconds from its start; None: still running)."""
    from datetime import timedelta

    from django.utils import timezone

    start = start or timezone.now() - timedelta(days=1)
    first = job.training_jobs.count()  # a second call adds to the children already there
    rows = []
    for i, (hps, value) in enumerate(zip(hyperparameters, values)):
        status = statuses[i] if statuses else "Completed"
        began = start + timedelta(seconds=30 * i)
        seconds = durations[i] if durations else 60.0
        rows.append(TrainingJob(
            hpo_job=job, name=f"{job.name}-{first + i + 1:04d}-abcdef12", definition_name="xgb", status=status,
            objective_status="Succeeded" if value is not None else "Failed", objective_value=value,
            objective_metric_name=metric if value is not None else "", tuned_hyperparameters=hps,
            creation_time=began, start_time=began,
            end_time=began + timedelta(seconds=seconds) if seconds is not None else None,
        ))
    return TrainingJob.objects.bulk_create(rows)
