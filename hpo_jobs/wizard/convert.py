"""Wizard values <-> CreateHyperParameterTuningJob request, and the project's policy on a request.

The wizard's values are plain Python data, one dict per step (``job``, ``resources``) and a list of
dicts for ``definitions`` (the shapes are documented on ``build_request``). ``build_request`` turns
them into the exact request the portal sends; ``request_to_wizard_data`` reads a request (imported,
or a job's stored request for a clone) back into values, so that for every request the wizard can
produce ``build_request(request_to_wizard_data(r)) == r``.

One definition goes out as ``TrainingJobDefinition`` (the single-algorithm form SageMaker's SDK
sends: its objective and ranges in ``HyperParameterTuningJobConfig``, no DefinitionName), several as
``TrainingJobDefinitions`` (each with its DefinitionName, TuningObjective and HyperParameterRanges);
``request.with_definitions`` writes the form. Import and clone read both forms.

What a member may not choose (the execution role, VPC subnets and security groups) is set by
``apply_project_policy`` from the project's settings, whatever the values or an import say.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hpo_jobs.backends import PROJECT_TAG, get_backend  # the engines read the project tag too
from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker import request as facts

CREATOR_TAG = "hpo-portal:created-by"
RESERVED_TAG_KEYS = (PROJECT_TAG, CREATOR_TAG)
# The local engine assumes no role, but the request's shape needs one: a placeholder in the local
# engine's own fake account, used only when neither the project nor the site names a role.
LOCAL_ROLE_ARN = "arn:aws:iam::000000000000:role/hpo-portal-local-engine"

RANGE_LISTS = {
    "Integer": "IntegerParameterRanges",
    "Continuous": "ContinuousParameterRanges",
    "Categorical": "CategoricalParameterRanges",
}

# Autotune's ranges: a row of kind "Auto" holds the hyperparameter's name and SageMaker's ValueHint.
AUTO_LIST = "AutoParameters"
# An instance pool is tried in this order (SageMaker's one allocation strategy).
ALLOCATION_STRATEGY = "Prioritized"

# A location in the wizard: (step, field) for the flat steps; for definitions
# ("definitions", index, field) or ("definitions", index, table, row, field) where table is
# "hyperparameters", "channels" or "metric_definitions". A trailing None means "the whole thing".
Location = tuple

# Members of a definition the wizard carries; anything else in an imported request is refused by
# name rather than dropped without a word.
_DEFINITION_MEMBERS = {
    "DefinitionName", "TuningObjective", "HyperParameterRanges", "StaticHyperParameters",
    "AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig",
    "ResourceConfig", "StoppingCondition", "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "Environment", "CheckpointConfig",
    "RetryStrategy", "HyperParameterTuningResourceConfig",
}
_CONFIG_MEMBERS = {
    "Strategy", "StrategyConfig", "HyperParameterTuningJobObjective", "ResourceLimits",
    "ParameterRanges", "TrainingJobEarlyStoppingType", "TuningJobCompletionCriteria", "RandomSeed",
}
_REQUEST_MEMBERS = {
    "HyperParameterTuningJobName", "HyperParameterTuningJobConfig", "TrainingJobDefinition",
    "TrainingJobDefinitions", "WarmStartConfig", "Tags", "Autotune",
}


class UnsupportedRequest(ValueError):
    """A request the wizard cannot represent; ``problems`` lists (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


# ---- values -> request ------------------------------------------------------------------------
def build_request(
    cleaned_data_by_step: dict[str, Any], project, user, *, sources: dict[tuple, Location] | None = None
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request for the wizard's values, with the project's policy applied.

    ``cleaned_data_by_step``:
      - ``job``: name, strategy, early_stopping, hyperband_min_resource, hyperband_max_resource,
        warm_start_type, warm_start_parents (list), target_objective_value, max_jobs_not_improving,
        complete_on_convergence (bool), random_seed, tags (list of (key, value)), autotune (bool).
      - ``definitions``: a list of dicts: name, algorithm_source ("builtin" | "custom"), algorithm,
        image, objective_metric, objective_type, input_mode, metric_definitions [{name, regex}],
        hyperparameters [{name, kind, value, min, max, scaling, values}] (kind "Auto": value is
        Autotune's ValueHint), channels [{name, data_source ("S3DataSource" | "FileSystemDataSource"),
        uri (the S3 URI, or the file system's DirectoryPath), s3_data_type, content_type, compression,
        distribution, record_wrapper, input_mode, shuffle_seed, attribute_names (list), file_system_id,
        file_system_type, file_system_access_mode}],
        environment [{name, value}], output_path, output_compression ("GZIP" | "NONE"), output_kms,
        resource_kind ("single" | "pool"), instance_type, instance_count, volume_size (one instance
        type), instance_configs [{instance_type, instance_count, volume_size}] (a pool, in the order
        tried), volume_kms, max_runtime, max_pending, use_spot,
        max_wait, checkpoint_uri, checkpoint_local_path, max_retries, network_isolation,
        inter_container_encryption.
      - ``resources``: max_parallel, max_jobs, max_runtime.

    When ``sources`` is given it is filled with request path (a tuple) -> wizard location, so that
    a problem found in the request can be shown next to the field it came from.
    """
    src: dict[tuple, Location] = sources if sources is not None else {}
    job = cleaned_data_by_step.get("job") or {}
    definitions = cleaned_data_by_step.get("definitions") or []
    resources = cleaned_data_by_step.get("resources") or {}

    request: dict[str, Any] = {"HyperParameterTuningJobName": job.get("name") or ""}
    src[("HyperParameterTuningJobName",)] = ("job", "name")

    config: dict[str, Any] = {"Strategy": job.get("strategy") or "Bayesian"}
    C = ("HyperParameterTuningJobConfig",)
    src[C + ("Strategy",)] = ("job", "strategy")
    if config["Strategy"] == "Hyperband":
        hyperband = {}
        if job.get("hyperband_min_resource") is not None:
            hyperband["MinResource"] = job["hyperband_min_resource"]
        if job.get("hyperband_max_resource") is not None:
            hyperband["MaxResource"] = job["hyperband_max_resource"]
        if hyperband:
            config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
    H = C + ("StrategyConfig", "HyperbandStrategyConfig")
    src[H + ("MinResource",)] = ("job", "hyperband_min_resource")
    src[H + ("MaxResource",)] = ("job", "hyperband_max_resource")
    src[H] = ("job", "hyperband_max_resource")
    src[C + ("StrategyConfig",)] = ("job", "strategy")

    limits: dict[str, Any] = {}
    if resources.get("max_jobs") is not None:
        limits["MaxNumberOfTrainingJobs"] = resources["max_jobs"]
    limits["MaxParallelTrainingJobs"] = resources.get("max_parallel")
    if resources.get("max_runtime") is not None:
        limits["MaxRuntimeInSeconds"] = resources["max_runtime"]
    config["ResourceLimits"] = limits
    R = C + ("ResourceLimits",)
    src[R] = ("resources", None)
    src[R + ("MaxNumberOfTrainingJobs",)] = ("resources", "max_jobs")
    src[R + ("MaxParallelTrainingJobs",)] = ("resources", "max_parallel")
    src[R + ("MaxRuntimeInSeconds",)] = ("resources", "max_runtime")

    config["TrainingJobEarlyStoppingType"] = job.get("early_stopping") or "Off"
    src[C + ("TrainingJobEarlyStoppingType",)] = ("job", "early_stopping")

    criteria: dict[str, Any] = {}
    if job.get("target_objective_value") is not None:
        criteria["TargetObjectiveMetricValue"] = job["target_objective_value"]
    if job.get("max_jobs_not_improving") is not None:
        criteria["BestObjectiveNotImproving"] = {
            "MaxNumberOfTrainingJobsNotImproving": job["max_jobs_not_improving"]
        }
    if job.get("complete_on_convergence"):
        criteria["ConvergenceDetected"] = {"CompleteOnConvergence": "Enabled"}
    if criteria:
        config["TuningJobCompletionCriteria"] = criteria
    T = C + ("TuningJobCompletionCriteria",)
    src[T] = ("job", "target_objective_value")
    src[T + ("TargetObjectiveMetricValue",)] = ("job", "target_objective_value")
    src[T + ("BestObjectiveNotImproving",)] = ("job", "max_jobs_not_improving")
    src[T + ("ConvergenceDetected",)] = ("job", "complete_on_convergence")

    if job.get("random_seed") is not None:
        config["RandomSeed"] = job["random_seed"]
    src[C + ("RandomSeed",)] = ("job", "random_seed")
    request["HyperParameterTuningJobConfig"] = config
    if job.get("autotune"):
        request["Autotune"] = {"Mode": "Enabled"}
    src[("Autotune",)] = ("job", "autotune")

    request = facts.with_definitions(request, [
        _build_definition(definition, index, src) for index, definition in enumerate(definitions)
    ])
    src[("TrainingJobDefinitions",)] = ("definitions", None)
    src[("TrainingJobDefinition",)] = ("definitions", None)
    if len(definitions) == 1:
        # The singular form keeps the definition's objective and ranges in the tuning configuration.
        D = ("TrainingJobDefinitions", 0)
        for plural, singular in (("TuningObjective", "HyperParameterTuningJobObjective"),
                                 ("HyperParameterRanges", "ParameterRanges")):
            for path, location in list(src.items()):
                if path[:3] == D + (plural,):
                    src[C + (singular,) + path[3:]] = location

    parents = list(job.get("warm_start_parents") or [])
    if parents:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in parents],
            "WarmStartType": job.get("warm_start_type") or "IdenticalDataAndAlgorithm",
        }
    src[("WarmStartConfig",)] = ("job", "warm_start_parents")
    src[("WarmStartConfig", "WarmStartType")] = ("job", "warm_start_type")
    src[("WarmStartConfig", "ParentHyperParameterTuningJobs")] = ("job", "warm_start_parents")

    tags = [{"Key": key, "Value": value} for key, value in (job.get("tags") or [])]
    if tags:
        request["Tags"] = tags
    src[("Tags",)] = ("job", "tags")

    return apply_project_policy(request, project, user)


def _build_definition(values: dict[str, Any], index: int, src: dict[tuple, Location]) -> dict[str, Any]:
    D = ("TrainingJobDefinitions", index)
    here = ("definitions", index)
    src[D] = here + (None,)
    # Set by the project's policy, not by anything in the wizard: shown on the review step.
    src[D + ("RoleArn",)] = ("policy", "role")
    src[D + ("VpcConfig",)] = ("policy", "vpc")
    definition: dict[str, Any] = {"DefinitionName": values.get("name") or ""}
    src[D + ("DefinitionName",)] = here + ("name",)
    definition["TuningObjective"] = {
        "Type": values.get("objective_type") or "Maximize",
        "MetricName": values.get("objective_metric") or "",
    }
    src[D + ("TuningObjective",)] = here + ("objective_metric",)
    src[D + ("TuningObjective", "MetricName")] = here + ("objective_metric",)
    src[D + ("TuningObjective", "Type")] = here + ("objective_type",)

    ranges: dict[str, list] = {}
    static: dict[str, str] = {}
    HP = here + ("hyperparameters",)
    src[D + ("HyperParameterRanges",)] = HP + (None, None)
    src[D + ("StaticHyperParameters",)] = HP + (None, None)
    for row_index, row in enumerate(values.get("hyperparameters") or []):
        kind = row.get("kind")
        name = row.get("name") or ""
        if kind == "Static":
            if row.get("value") is None:
                continue  # a built-in's hyperparameter left at the algorithm's own default
            static[name] = row["value"]
            src[D + ("StaticHyperParameters", name)] = HP + (row_index, "value")
            continue
        if kind == "Auto":
            items = ranges.setdefault(AUTO_LIST, [])
            P = D + ("HyperParameterRanges", AUTO_LIST, len(items))
            items.append({"Name": name, "ValueHint": row.get("value") or ""})
            src[P] = HP + (row_index, None)
            src[P + ("Name",)] = HP + (row_index, "name")
            src[P + ("ValueHint",)] = HP + (row_index, "value")
            continue
        list_name = RANGE_LISTS[kind]
        items = ranges.setdefault(list_name, [])
        P = D + ("HyperParameterRanges", list_name, len(items))
        src[P] = HP + (row_index, None)
        src[P + ("Name",)] = HP + (row_index, "name")
        if kind == "Categorical":
            items.append({"Name": name, "Values": list(row.get("values") or [])})
            src[P + ("Values",)] = HP + (row_index, "values")
        else:
            item = {"Name": name, "MinValue": row.get("min") or "", "MaxValue": row.get("max") or ""}
            item["ScalingType"] = row.get("scaling") or "Auto"
            items.append(item)
            src[P + ("MinValue",)] = HP + (row_index, "min")
            src[P + ("MaxValue",)] = HP + (row_index, "max")
            src[P + ("ScalingType",)] = HP + (row_index, "scaling")
    for list_name in (*RANGE_LISTS.values(), AUTO_LIST):
        src[D + ("HyperParameterRanges", list_name)] = HP + (None, None)
    definition["HyperParameterRanges"] = ranges
    if static:
        definition["StaticHyperParameters"] = static

    spec: dict[str, Any] = {"TrainingImage": values.get("image") or ""}
    A = D + ("AlgorithmSpecification",)
    src[A] = here + ("image",)
    src[A + ("TrainingImage",)] = here + ("image",)
    spec["TrainingInputMode"] = values.get("input_mode") or "File"
    src[A + ("TrainingInputMode",)] = here + ("input_mode",)
    metric_definitions = values.get("metric_definitions") or []
    if values.get("algorithm_source") == "custom" and metric_definitions:
        spec["MetricDefinitions"] = [{"Name": m["name"], "Regex": m["regex"]} for m in metric_definitions]
    MD = here + ("metric_definitions",)
    src[A + ("MetricDefinitions",)] = MD + (None, None)
    for row_index, _ in enumerate(metric_definitions):
        src[A + ("MetricDefinitions", row_index)] = MD + (row_index, None)
        src[A + ("MetricDefinitions", row_index, "Name")] = MD + (row_index, "name")
        src[A + ("MetricDefinitions", row_index, "Regex")] = MD + (row_index, "regex")
    definition["AlgorithmSpecification"] = spec

    channels = []
    CH = here + ("channels",)
    src[D + ("InputDataConfig",)] = CH + (None, None)
    for row_index, row in enumerate(values.get("channels") or []):
        I = D + ("InputDataConfig", row_index)
        if row.get("data_source") == "FileSystemDataSource":
            source: dict[str, Any] = {"FileSystemDataSource": {
                "FileSystemId": row.get("file_system_id") or "",
                "FileSystemType": row.get("file_system_type") or "EFS",
                "FileSystemAccessMode": row.get("file_system_access_mode") or "ro",
                "DirectoryPath": row.get("uri") or "",
            }}
        else:
            s3: dict[str, Any] = {"S3DataType": row.get("s3_data_type") or "S3Prefix", "S3Uri": row.get("uri") or ""}
            if row.get("distribution"):
                s3["S3DataDistributionType"] = row["distribution"]
            if row.get("attribute_names"):
                s3["AttributeNames"] = list(row["attribute_names"])
            source = {"S3DataSource": s3}
        channel: dict[str, Any] = {"ChannelName": row.get("name") or "", "DataSource": source}
        if row.get("content_type"):
            channel["ContentType"] = row["content_type"]
        if row.get("compression") and row["compression"] != "None":
            channel["CompressionType"] = row["compression"]
        if row.get("record_wrapper") and row["record_wrapper"] != "None":
            channel["RecordWrapperType"] = row["record_wrapper"]
        if row.get("input_mode"):
            channel["InputMode"] = row["input_mode"]
        if row.get("shuffle_seed") is not None:
            channel["ShuffleConfig"] = {"Seed": row["shuffle_seed"]}
        channels.append(channel)
        src[I] = CH + (row_index, None)
        src[I + ("ChannelName",)] = CH + (row_index, "name")
        src[I + ("DataSource",)] = CH + (row_index, "uri")
        src[I + ("DataSource", "S3DataSource")] = CH + (row_index, "uri")
        S = I + ("DataSource", "S3DataSource")
        src[S + ("S3Uri",)] = CH + (row_index, "uri")
        src[S + ("S3DataType",)] = CH + (row_index, "s3_data_type")
        src[S + ("S3DataDistributionType",)] = CH + (row_index, "distribution")
        src[S + ("AttributeNames",)] = CH + (row_index, "attribute_names")
        F = I + ("DataSource", "FileSystemDataSource")
        src[F] = CH + (row_index, "file_system_id")
        src[F + ("FileSystemId",)] = CH + (row_index, "file_system_id")
        src[F + ("FileSystemType",)] = CH + (row_index, "file_system_type")
        src[F + ("FileSystemAccessMode",)] = CH + (row_index, "file_system_access_mode")
        src[F + ("DirectoryPath",)] = CH + (row_index, "uri")
        src[I + ("ShuffleConfig",)] = CH + (row_index, "shuffle_seed")
        src[I + ("ShuffleConfig", "Seed")] = CH + (row_index, "shuffle_seed")
        src[I + ("ContentType",)] = CH + (row_index, "content_type")
        src[I + ("CompressionType",)] = CH + (row_index, "compression")
        src[I + ("RecordWrapperType",)] = CH + (row_index, "record_wrapper")
        src[I + ("InputMode",)] = CH + (row_index, "input_mode")
    definition["InputDataConfig"] = channels

    output: dict[str, Any] = {"S3OutputPath": values.get("output_path") or ""}
    if values.get("output_kms"):
        output["KmsKeyId"] = values["output_kms"]
    if values.get("output_compression") == "NONE":  # GZIP is SageMaker's default: sent only when not wanted
        output["CompressionType"] = "NONE"
    definition["OutputDataConfig"] = output
    src[D + ("OutputDataConfig",)] = here + ("output_path",)
    src[D + ("OutputDataConfig", "S3OutputPath")] = here + ("output_path",)
    src[D + ("OutputDataConfig", "KmsKeyId")] = here + ("output_kms",)
    src[D + ("OutputDataConfig", "CompressionType")] = here + ("output_compression",)

    if values.get("resource_kind") == "pool":
        # An instance pool: SageMaker tries the configurations in order (instead of ResourceConfig).
        pool: dict[str, Any] = {
            "InstanceConfigs": [
                {"InstanceType": c.get("instance_type") or "", "InstanceCount": c.get("instance_count"),
                 "VolumeSizeInGB": c.get("volume_size")}
                for c in values.get("instance_configs") or []
            ],
            "AllocationStrategy": ALLOCATION_STRATEGY,
        }
        if values.get("volume_kms"):
            pool["VolumeKmsKeyId"] = values["volume_kms"]
        definition["HyperParameterTuningResourceConfig"] = pool
    else:
        definition["ResourceConfig"] = {
            "InstanceType": values.get("instance_type") or "",
            "InstanceCount": values.get("instance_count"),
            "VolumeSizeInGB": values.get("volume_size"),
        }
        if values.get("volume_kms"):
            definition["ResourceConfig"]["VolumeKmsKeyId"] = values["volume_kms"]
    T = D + ("HyperParameterTuningResourceConfig",)
    IC = here + ("instance_configs",)
    src[T] = here + ("resource_kind",)
    src[T + ("AllocationStrategy",)] = here + ("resource_kind",)
    src[T + ("VolumeKmsKeyId",)] = here + ("volume_kms",)
    src[T + ("InstanceConfigs",)] = IC + (None, None)
    for row_index, _ in enumerate(values.get("instance_configs") or []):
        src[T + ("InstanceConfigs", row_index)] = IC + (row_index, None)
        for member, field_name in (("InstanceType", "instance_type"), ("InstanceCount", "instance_count"),
                                   ("VolumeSizeInGB", "volume_size")):
            src[T + ("InstanceConfigs", row_index, member)] = IC + (row_index, field_name)
    src[D + ("ResourceConfig",)] = here + ("instance_type",)
    src[D + ("ResourceConfig", "InstanceType")] = here + ("instance_type",)
    src[D + ("ResourceConfig", "InstanceCount")] = here + ("instance_count",)
    src[D + ("ResourceConfig", "VolumeSizeInGB")] = here + ("volume_size",)
    src[D + ("ResourceConfig", "VolumeKmsKeyId")] = here + ("volume_kms",)

    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": values.get("max_runtime")}
    if values.get("use_spot") and values.get("max_wait") is not None:
        stopping["MaxWaitTimeInSeconds"] = values["max_wait"]
    if values.get("max_pending") is not None:
        stopping["MaxPendingTimeInSeconds"] = values["max_pending"]
    definition["StoppingCondition"] = stopping
    src[D + ("StoppingCondition",)] = here + ("max_runtime",)
    src[D + ("StoppingCondition", "MaxRuntimeInSeconds")] = here + ("max_runtime",)
    src[D + ("StoppingCondition", "MaxWaitTimeInSeconds")] = here + ("max_wait",)
    src[D + ("StoppingCondition", "MaxPendingTimeInSeconds")] = here + ("max_pending",)

    if values.get("checkpoint_uri"):  # offered with spot training, which resumes from it; valid without
        checkpoint = {"S3Uri": values["checkpoint_uri"]}
        if values.get("checkpoint_local_path"):
            checkpoint["LocalPath"] = values["checkpoint_local_path"]
        definition["CheckpointConfig"] = checkpoint
    src[D + ("CheckpointConfig",)] = here + ("checkpoint_uri",)
    src[D + ("CheckpointConfig", "S3Uri")] = here + ("checkpoint_uri",)
    src[D + ("CheckpointConfig", "LocalPath")] = here + ("checkpoint_local_path",)

    if values.get("max_retries") is not None:
        definition["RetryStrategy"] = {"MaximumRetryAttempts": values["max_retries"]}
    src[D + ("RetryStrategy",)] = here + ("max_retries",)
    src[D + ("RetryStrategy", "MaximumRetryAttempts")] = here + ("max_retries",)

    environment = values.get("environment") or []
    if environment:
        definition["Environment"] = {row.get("name") or "": row.get("value") or "" for row in environment}
    EN = here + ("environment",)
    src[D + ("Environment",)] = EN + (None, None)
    for row_index, row in enumerate(environment):
        src[D + ("Environment", row.get("name") or "")] = EN + (row_index, "name")

    definition["EnableNetworkIsolation"] = bool(values.get("network_isolation"))
    definition["EnableInterContainerTrafficEncryption"] = bool(values.get("inter_container_encryption"))
    definition["EnableManagedSpotTraining"] = bool(values.get("use_spot"))
    src[D + ("EnableNetworkIsolation",)] = here + ("network_isolation",)
    src[D + ("EnableInterContainerTrafficEncryption",)] = here + ("inter_container_encryption",)
    src[D + ("EnableManagedSpotTraining",)] = here + ("use_spot",)
    return definition


def apply_project_policy(request: dict[str, Any], project, user) -> dict[str, Any]:
    """A copy of ``request`` with the project's role and VPC on every definition and the cost tags added.

    The execution role is a grant of power (iam:PassRole), so it comes from the project (or the
    site default) and never from what a member typed or imported; the same for VPC subnets and
    security groups. Tags naming the project and the creator are set beside the user's own, and
    replace any user tag with the same key.
    """
    result = copy.deepcopy(request)
    vpc = project.vpc_config
    for read in facts.definitions(result):
        definition = read.data
        definition["RoleArn"] = execution_role(project)
        if vpc:
            definition["VpcConfig"] = copy.deepcopy(vpc)
        else:
            definition.pop("VpcConfig", None)
    user_tags = [
        tag for tag in (result.get("Tags") or [])
        if not (isinstance(tag, dict) and tag.get("Key") in RESERVED_TAG_KEYS)
    ]
    result["Tags"] = user_tags + [
        {"Key": PROJECT_TAG, "Value": project.slug},
        {"Key": CREATOR_TAG, "Value": user.get_username()},
    ]
    return result


# ---- request -> values ------------------------------------------------------------------------
def request_to_wizard_data(request: dict[str, Any]) -> dict[str, Any]:
    """The wizard's values for ``request`` (``job``, ``definitions``, ``resources``, and ``notes`` for the
    person importing it); UnsupportedRequest when it holds something the wizard cannot carry.

    The request should already have passed the validator: this reads shapes, it does not judge values.
    Role, VPC and the portal's own tags are not read: the project's policy sets them again.
    """
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    if not isinstance(request, dict):
        raise UnsupportedRequest([("(request)", "The request must be a JSON object.")])
    for key in request:
        if key not in _REQUEST_MEMBERS:
            problems.append((key, _unsupported(key)))
    config = _dict(request.get("HyperParameterTuningJobConfig"))
    for key in config:
        if key not in _CONFIG_MEMBERS:
            problems.append((f"HyperParameterTuningJobConfig.{key}", _unsupported(key)))

    several = request.get("TrainingJobDefinitions")
    single = request.get("TrainingJobDefinition")
    if several and single:
        problems.append(("TrainingJobDefinition", "Give TrainingJobDefinition or TrainingJobDefinitions, not both."))
    # Each definition as the wizard's values hold it: with its own name, objective and ranges.
    read = facts.definitions(request)
    definitions_raw = [d.as_plural() for d in read]
    if facts.single_algorithm(request):
        if definitions_raw and not definitions_raw[0].get("DefinitionName"):
            definitions_raw[0]["DefinitionName"] = _definition_name_from(request)
        elif definitions_raw:
            notes.append("A single definition (TrainingJobDefinition) goes out without its DefinitionName "
                         f"({definitions_raw[0]['DefinitionName']}); the wizard keeps it as the definition's label.")
    elif isinstance(several, list) and len(definitions_raw) == 1:
        notes.append("The request sent its one definition as TrainingJobDefinitions; the portal sends one "
                     "definition as TrainingJobDefinition, with its objective and ranges in the tuning "
                     "configuration, as SageMaker's SDK does.")
    if not facts.single_algorithm(request) and (
            config.get("HyperParameterTuningJobObjective") or config.get("ParameterRanges")):
        problems.append((
            "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective",
            "With TrainingJobDefinitions, each definition carries its own TuningObjective and "
            "HyperParameterRanges; remove them from HyperParameterTuningJobConfig.",
        ))

    problems.extend(_untypeable(request))
    job = _job_values(request, config, notes)
    resources = _resource_values(config)
    definitions = []
    for index, (raw, where) in enumerate(zip(definitions_raw, (d.path for d in read))):
        definitions.append(_definition_values(raw, index, where, problems, notes))
    if problems:
        raise UnsupportedRequest(problems)
    return {"job": job, "definitions": definitions, "resources": resources, "notes": notes}


def _untypeable(request: dict[str, Any]) -> list[tuple[str, str]]:
    """Text the wizard's fields cannot hold as it is: they trim spaces and hold one line."""
    problems: list[tuple[str, str]] = []
    message = ("This text starts or ends with spaces, or spans several lines, which the wizard's fields "
               "cannot hold as they are; remove them to import it.")

    def walk(value: Any, path: str, verbatim: bool = False) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (key != key.strip() or "\n" in key):
                    problems.append((where, message))
                walk(item, where, verbatim=key == "Regex")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif isinstance(value, str) and not verbatim:
            if value != value.strip() or "\n" in value or "\r" in value:
                problems.append((path, message))

    walk(request, "")
    for index, tag in enumerate(request.get("Tags") or []):
        if isinstance(tag, dict) and "=" in str(tag.get("Key", "")):
            problems.append((f"Tags[{index}].Key", "The wizard writes tags as key=value, so a key cannot hold "
                             "'='; rename the tag to import it."))
    return problems


def _unsupported(key: str) -> str:
    return f"The portal's wizard does not support {key}; remove it from the request to import it."


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _definition_name_from(request: dict[str, Any]) -> str:
    name = request.get("HyperParameterTuningJobName")
    return f"{name}-def"[:64] if isinstance(name, str) and name else "definition-1"


def _job_values(request: dict[str, Any], config: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    hyperband = _dict(_dict(config.get("StrategyConfig")).get("HyperbandStrategyConfig"))
    criteria = _dict(config.get("TuningJobCompletionCriteria"))
    warm = _dict(request.get("WarmStartConfig"))
    tags = []
    for tag in request.get("Tags") or []:
        if not isinstance(tag, dict):
            continue
        if tag.get("Key") in RESERVED_TAG_KEYS:
            notes.append(f"Tag {tag.get('Key')} is set by the portal (project and creator), not taken from the request.")
            continue
        tags.append((tag.get("Key"), tag.get("Value", "")))
    convergence = _dict(criteria.get("ConvergenceDetected")).get("CompleteOnConvergence")
    return {
        "name": request.get("HyperParameterTuningJobName") or "",
        "strategy": config.get("Strategy") or "Bayesian",
        "early_stopping": config.get("TrainingJobEarlyStoppingType") or "Off",
        "hyperband_min_resource": hyperband.get("MinResource"),
        "hyperband_max_resource": hyperband.get("MaxResource"),
        "warm_start_type": warm.get("WarmStartType") or "",
        "warm_start_parents": [
            _dict(p).get("HyperParameterTuningJobName") for p in (warm.get("ParentHyperParameterTuningJobs") or [])
        ],
        "target_objective_value": criteria.get("TargetObjectiveMetricValue"),
        "max_jobs_not_improving": _dict(criteria.get("BestObjectiveNotImproving")).get(
            "MaxNumberOfTrainingJobsNotImproving"
        ),
        "complete_on_convergence": convergence == "Enabled",
        "random_seed": config.get("RandomSeed"),
        "tags": tags,
        "autotune": _dict(request.get("Autotune")).get("Mode") == "Enabled",
    }


def _resource_values(config: dict[str, Any]) -> dict[str, Any]:
    limits = _dict(config.get("ResourceLimits"))
    return {
        "max_parallel": limits.get("MaxParallelTrainingJobs"),
        "max_jobs": limits.get("MaxNumberOfTrainingJobs"),
        "max_runtime": limits.get("MaxRuntimeInSeconds"),
    }


def _definition_values(
    raw: dict[str, Any], index: int, where: str, problems: list[tuple[str, str]], notes: list[str]
) -> dict[str, Any]:
    for key in raw:
        if key not in _DEFINITION_MEMBERS:
            problems.append((f"{where}.{key}", _unsupported(key)))
    algorithm_spec = _dict(raw.get("AlgorithmSpecification"))
    for key in algorithm_spec:
        if key not in ("TrainingImage", "TrainingInputMode", "MetricDefinitions"):
            problems.append((f"{where}.AlgorithmSpecification.{key}", _unsupported(key)))
    if raw.get("RoleArn"):
        notes.append("The execution role in the request is not used: the project's role is.")
    if raw.get("VpcConfig"):
        notes.append("The VPC settings in the request are not used: the project's settings are.")

    image = algorithm_spec.get("TrainingImage") or ""
    builtin = catalogue.algorithm_for_image(image) if image else None
    objective = _dict(raw.get("TuningObjective"))
    output = _dict(raw.get("OutputDataConfig"))
    for key in output:
        if key not in ("S3OutputPath", "KmsKeyId", "CompressionType"):
            problems.append((f"{where}.OutputDataConfig.{key}", _unsupported(key)))
    resource = _dict(raw.get("ResourceConfig"))
    for key in resource:
        if key not in ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId") and resource[key]:
            problems.append((f"{where}.ResourceConfig.{key}", _unsupported(key)))
    tuning = _dict(raw.get("HyperParameterTuningResourceConfig"))
    for key in tuning:
        if key not in ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId", "AllocationStrategy",
                       "InstanceConfigs"):
            problems.append((f"{where}.HyperParameterTuningResourceConfig.{key}", _unsupported(key)))
    pool = [_dict(c) for c in tuning.get("InstanceConfigs") or []]
    if pool and tuning.get("AllocationStrategy") is None:
        notes.append(f"The instance pool is sent with its allocation strategy, {ALLOCATION_STRATEGY} (SageMaker's "
                     "only one): the configurations are tried in their order.")
    if tuning and not pool and not resource:
        # One instance type in the tuning form: the wizard sends it as ResourceConfig, which says the same.
        resource = tuning
        notes.append("The definition's one instance type (HyperParameterTuningResourceConfig without instance "
                     "configs) is sent as ResourceConfig, which SageMaker reads the same way.")
    stopping = _dict(raw.get("StoppingCondition"))
    for key in stopping:
        if key not in ("MaxRuntimeInSeconds", "MaxWaitTimeInSeconds", "MaxPendingTimeInSeconds"):
            problems.append((f"{where}.StoppingCondition.{key}", _unsupported(key)))
    checkpoint = _dict(raw.get("CheckpointConfig"))
    retry = _dict(raw.get("RetryStrategy"))
    environment = _dict(raw.get("Environment"))

    hyperparameters = []
    ranges = _dict(raw.get("HyperParameterRanges"))
    for key in ranges:
        if key not in (*RANGE_LISTS.values(), AUTO_LIST) and ranges[key]:
            problems.append((f"{where}.HyperParameterRanges.{key}", _unsupported(key)))
    for item in ranges.get(AUTO_LIST) or []:
        item = _dict(item)
        hyperparameters.append({"name": item.get("Name") or "", "kind": "Auto", "value": item.get("ValueHint") or "",
                                "min": None, "max": None, "scaling": "Auto", "values": []})
    for kind, list_name in RANGE_LISTS.items():
        for item in ranges.get(list_name) or []:
            item = _dict(item)
            row = {"name": item.get("Name") or "", "kind": kind, "value": None, "min": None, "max": None,
                   "scaling": "Auto", "values": []}
            if kind == "Categorical":
                row["values"] = list(item.get("Values") or [])
            else:
                row.update(min=item.get("MinValue"), max=item.get("MaxValue"), scaling=item.get("ScalingType") or "Auto")
            hyperparameters.append(row)
    for name, value in _dict(raw.get("StaticHyperParameters")).items():
        hyperparameters.append({"name": name, "kind": "Static", "value": value, "min": None, "max": None,
                                "scaling": "Auto", "values": []})

    channels = []
    for c_index, channel in enumerate(raw.get("InputDataConfig") or []):
        channel = _dict(channel)
        source = _dict(channel.get("DataSource"))
        s3 = _dict(source.get("S3DataSource"))
        fs = _dict(source.get("FileSystemDataSource"))
        for key in source:
            if key not in ("S3DataSource", "FileSystemDataSource"):
                problems.append((f"{where}.InputDataConfig[{c_index}].DataSource.{key}", _unsupported(key)))
        for key in s3:
            if key not in ("S3DataType", "S3Uri", "S3DataDistributionType", "AttributeNames") and s3[key]:
                problems.append((f"{where}.InputDataConfig[{c_index}].DataSource.S3DataSource.{key}", _unsupported(key)))
        for key in channel:
            if key not in ("ChannelName", "DataSource", "ContentType", "CompressionType", "RecordWrapperType", "InputMode",
                           "ShuffleConfig"):
                problems.append((f"{where}.InputDataConfig[{c_index}].{key}", _unsupported(key)))
        channels.append({
            "name": channel.get("ChannelName") or "",
            "data_source": "FileSystemDataSource" if fs and not s3 else "S3DataSource",
            "uri": (fs.get("DirectoryPath") if fs and not s3 else s3.get("S3Uri")) or "",
            "file_system_id": fs.get("FileSystemId") or "",
            "file_system_type": fs.get("FileSystemType") or "",
            "file_system_access_mode": fs.get("FileSystemAccessMode") or "",
            "s3_data_type": s3.get("S3DataType") or "S3Prefix",
            "distribution": s3.get("S3DataDistributionType") or "",
            "content_type": channel.get("ContentType") or "",
            "compression": channel.get("CompressionType") or "None",
            "record_wrapper": channel.get("RecordWrapperType") or "None",
            "input_mode": channel.get("InputMode") or "",
            "shuffle_seed": _dict(channel.get("ShuffleConfig")).get("Seed"),
            "attribute_names": list(s3.get("AttributeNames") or []),
        })

    return {
        "name": raw.get("DefinitionName") or f"definition-{index + 1}",
        "algorithm_source": "builtin" if builtin else "custom",
        "algorithm": builtin.key if builtin else "",
        "image": image,
        "objective_metric": objective.get("MetricName") or "",
        "objective_type": objective.get("Type") or "Maximize",
        "input_mode": algorithm_spec.get("TrainingInputMode") or "File",
        "metric_definitions": [
            {"name": _dict(m).get("Name") or "", "regex": _dict(m).get("Regex") or ""}
            for m in (algorithm_spec.get("MetricDefinitions") or [])
        ],
        "hyperparameters": hyperparameters,
        "channels": channels,
        "environment": [{"name": name, "value": value} for name, value in environment.items()],
        "output_path": output.get("S3OutputPath") or "",
        # An explicit GZIP is SageMaker's default, which the wizard sends by leaving the member out.
        "output_compression": "NONE" if output.get("CompressionType") == "NONE" else "GZIP",
        "output_kms": output.get("KmsKeyId") or "",
        "resource_kind": "pool" if pool else "single",
        "instance_type": resource.get("InstanceType") or "",
        "instance_count": resource.get("InstanceCount"),
        "volume_size": resource.get("VolumeSizeInGB"),
        "instance_configs": [
            {"instance_type": c.get("InstanceType") or "", "instance_count": c.get("InstanceCount"),
             "volume_size": c.get("VolumeSizeInGB")} for c in pool
        ],
        "volume_kms": (tuning.get("VolumeKmsKeyId") if pool else resource.get("VolumeKmsKeyId")) or "",
        "max_runtime": stopping.get("MaxRuntimeInSeconds"),
        "max_pending": stopping.get("MaxPendingTimeInSeconds"),
        "use_spot": bool(raw.get("EnableManagedSpotTraining")),
        "max_wait": stopping.get("MaxWaitTimeInSeconds"),
        "checkpoint_uri": checkpoint.get("S3Uri") or "",
        "checkpoint_local_path": checkpoint.get("LocalPath") or "",
        "max_retries": retry.get("MaximumRetryAttempts"),
        "network_isolation": bool(raw.get("EnableNetworkIsolation")),
        "inter_container_encryption": bool(raw.get("EnableInterContainerTrafficEncryption")),
    }


# ---- paths ------------------------------------------------------------------------------------
_PATH_TOKEN = re.compile(r'\.?([^.\[\]"]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: Any) -> tuple:
    """A request path as a tuple of member names, list indexes and map keys.

    Reads the validator's form (``A.B[0].C``, ``A.StaticHyperParameters["eta"]``) and sequences.
    """
    if isinstance(path, (list, tuple)):
        return tuple(path)
    text = str(path or "")
    parts: list = []
    position = 0
    while position < len(text):
        match = _PATH_TOKEN.match(text, position)
        if match is None:
            break  # an unreadable tail: locate what came before it
        member, index, key = match.groups()
        if member is not None:
            parts.append(member)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(key.replace('\\"', '"'))
        position = match.end()
    return tuple(parts)


def locate(path: Any, sources: dict[tuple, Location]) -> Location | None:
    """The wizard location a request path came from (its longest known prefix), or None."""
    parts = parse_path(path)
    # The one-definition form names the same definition without an index.
    if parts[:1] == ("TrainingJobDefinition",):
        parts = ("TrainingJobDefinitions", 0) + parts[1:]
    for end in range(len(parts), 0, -1):
        location = sources.get(parts[:end])
        if location is not None:
            return location
    return None


def execution_role(project) -> str:
    """The role every definition runs as: the project's, else the site default, else (local engine only) a placeholder."""
    if project.role_arn:
        return project.role_arn
    return "" if get_backend().capabilities.needs_role else LOCAL_ROLE_ARN


def default_output_path(project) -> str:
    """Where a new definition's models go unless the user says otherwise.

    SageMaker: no default; a person names their own bucket. Local engine: the request still needs
    an s3:// output path (SageMaker's rule, which the validator applies to both engines), but the
    engine keeps each training job's model in that job's own folder under var/local-engine/ and
    writes nothing there; the default names the project so that the request reads sensibly if it
    is later sent to SageMaker.
    """
    if not get_backend().capabilities.writes_output_path:
        return f"s3://hpo-portal-local/{project.slug}/output/"
    return ""
