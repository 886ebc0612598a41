"""A CreateHyperParameterTuningJob request, read for people: one presentation shared by the wizard's
review, the job page's definitions and configuration tabs, and the JSON API.

The result is plain data (dicts, lists, strings, numbers, booleans and None), so that ``json.dumps``
takes it as it is; the templates render it and the API returns it. Both definition forms of a
request are read (``TrainingJobDefinition``, one algorithm, whose objective and ranges live in
``HyperParameterTuningJobConfig``, and ``TrainingJobDefinitions``), through SageMaker's facts about
a request (``hpo_jobs.sagemaker.request``).
"""

from __future__ import annotations

from typing import Any

from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.sagemaker.metrics import definitions_for

RANGE_KINDS = (
    ("IntegerParameterRanges", "Integer"),
    ("ContinuousParameterRanges", "Continuous"),
    ("CategoricalParameterRanges", "Categorical"),
    ("AutoParameters", "Auto"),
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _algorithm(image: str) -> catalogue.Algorithm | None:
    if not image:
        return None
    try:
        return catalogue.algorithm_for_image(image)
    except Exception:  # the catalogue is a reader's aid here: a page must not fail on it
        return None


def _pairs(mapping: Any) -> list[dict[str, str]]:
    """A string map as sorted name/value rows."""
    return [{"name": str(k), "value": str(v)} for k, v in sorted(_dict(mapping).items())]


def _ranges(ranges: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, kind in RANGE_KINDS:
        for r in _list(ranges.get(key)):
            r = _dict(r)
            row: dict[str, Any] = {"name": str(r.get("Name", "")), "kind": kind, "min": "", "max": "",
                                   "scaling": "", "values": None}
            if kind in ("Integer", "Continuous"):
                row.update(min=str(r.get("MinValue", "")), max=str(r.get("MaxValue", "")),
                           scaling=str(r.get("ScalingType") or "Auto"))
            elif kind == "Categorical":
                row["values"] = [str(v) for v in _list(r.get("Values"))]
            else:
                row["values"] = [str(r.get("ValueHint", ""))]
            rows.append(row)
    return rows


def _channel(channel: dict[str, Any]) -> dict[str, Any]:
    source = _dict(channel.get("DataSource"))
    s3 = _dict(source.get("S3DataSource"))
    fs = _dict(source.get("FileSystemDataSource"))
    if s3:
        where, kind = str(s3.get("S3Uri", "")), str(s3.get("S3DataType", "S3Prefix"))
    elif fs:
        where = f"{fs.get('FileSystemType', '')} {fs.get('FileSystemId', '')}:{fs.get('DirectoryPath', '')}"
        kind = f"file system ({fs.get('FileSystemAccessMode', '')})"
    elif source.get("DatasetSource"):
        where, kind = str(_dict(source["DatasetSource"]).get("DatasetArn", "")), "dataset"
    else:
        where, kind = "", ""
    return {
        "name": str(channel.get("ChannelName", "")),
        "where": where,
        "kind": kind,
        "distribution": str(s3.get("S3DataDistributionType", "")),
        "content_type": str(channel.get("ContentType", "")),
        "compression": str(channel.get("CompressionType", "")),
        "input_mode": str(channel.get("InputMode", "")),
        "record_wrapper": str(channel.get("RecordWrapperType", "")),
        "shuffle_seed": _dict(channel.get("ShuffleConfig")).get("Seed"),
        "attribute_names": [str(name) for name in _list(s3.get("AttributeNames"))],
    }


def _definition(read: facts.Definition, index: int) -> dict[str, Any]:
    definition, objective, ranges = read.data, read.objective, read.ranges
    spec = _dict(definition.get("AlgorithmSpecification"))
    image = str(spec.get("TrainingImage") or "")
    algorithm = None if spec.get("AlgorithmName") else _algorithm(image)
    if spec.get("AlgorithmName"):
        label = str(spec["AlgorithmName"])
    else:
        label = algorithm.display_name if algorithm is not None else "Custom image"
    resources = _dict(definition.get("ResourceConfig") or definition.get("HyperParameterTuningResourceConfig"))
    stopping = _dict(definition.get("StoppingCondition"))
    vpc = _dict(definition.get("VpcConfig"))
    output = _dict(definition.get("OutputDataConfig"))
    range_rows = _ranges(ranges)
    name = read.name
    return {
        "index": index,
        "name": name,
        "title": name or f"Definition {index}",
        "objective_metric": str(objective.get("MetricName", "")),
        "objective_type": str(objective.get("Type", "")),
        "algorithm": label,
        "builtin": algorithm is not None,
        "image": image,
        "algorithm_name": str(spec.get("AlgorithmName") or ""),
        "input_mode": str(spec.get("TrainingInputMode") or ""),
        "metric_definitions": [{"Name": str(_dict(m).get("Name", "")), "Regex": str(_dict(m).get("Regex", ""))}
                               for m in _list(spec.get("MetricDefinitions"))],
        "metric_regexes": definitions_for(spec),
        "ranges_raw": ranges,
        "ranges": range_rows,
        "tuned_names": [r["name"] for r in range_rows],
        "static": _pairs(definition.get("StaticHyperParameters")),
        "channels": [_channel(_dict(c)) for c in _list(definition.get("InputDataConfig"))],
        "output_path": str(output.get("S3OutputPath", "")),
        "output_kms": str(output.get("KmsKeyId", "")),
        "output_compression": str(output.get("CompressionType") or "GZIP"),  # SageMaker's default when absent
        "instance_type": str(resources.get("InstanceType", "")),
        "instance_count": resources.get("InstanceCount"),
        "volume_gb": resources.get("VolumeSizeInGB"),
        "volume_kms": str(resources.get("VolumeKmsKeyId", "")),
        "instance_configs": [
            {"type": str(_dict(c).get("InstanceType", "")), "count": _dict(c).get("InstanceCount"),
             "volume_gb": _dict(c).get("VolumeSizeInGB")}
            for c in _list(resources.get("InstanceConfigs"))
        ],
        "allocation_strategy": str(resources.get("AllocationStrategy", "")),
        "max_runtime_s": stopping.get("MaxRuntimeInSeconds"),
        "max_wait_s": stopping.get("MaxWaitTimeInSeconds"),
        "max_pending_s": stopping.get("MaxPendingTimeInSeconds"),
        "role_arn": str(definition.get("RoleArn", "")),
        "subnets": [str(s) for s in _list(vpc.get("Subnets"))],
        "security_groups": [str(s) for s in _list(vpc.get("SecurityGroupIds"))],
        "network_isolation": bool(definition.get("EnableNetworkIsolation", False)),
        "encryption": bool(definition.get("EnableInterContainerTrafficEncryption", False)),
        "spot": bool(definition.get("EnableManagedSpotTraining", False)),
        "checkpoint": str(_dict(definition.get("CheckpointConfig")).get("S3Uri", "")),
        "checkpoint_local_path": str(_dict(definition.get("CheckpointConfig")).get("LocalPath", "")),
        "retries": _dict(definition.get("RetryStrategy")).get("MaximumRetryAttempts"),
        "environment": _pairs(definition.get("Environment")),
    }


def present_definitions(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Each training job definition of the request, read for people (objective and ranges included,
    from wherever the request's form keeps them)."""
    return [_definition(d, i) for i, d in enumerate(facts.definitions(request), start=1)]


def present_request(request: dict[str, Any]) -> dict[str, Any]:
    """The whole request, read for people: job settings, definitions, tuning resources, warm start, tags."""
    config = _dict(request.get("HyperParameterTuningJobConfig"))
    limits = _dict(config.get("ResourceLimits"))
    criteria = _dict(config.get("TuningJobCompletionCriteria"))
    strategy_config = _dict(config.get("StrategyConfig"))
    hyperband = _dict(strategy_config.get("HyperbandStrategyConfig"))
    warm = _dict(request.get("WarmStartConfig"))
    definitions = present_definitions(request)
    objective = facts.objective(request)
    return {
        "name": str(request.get("HyperParameterTuningJobName", "")),
        "settings": {
            "strategy": str(config.get("Strategy", "")),
            "hyperband": {"min_resource": hyperband.get("MinResource"), "max_resource": hyperband.get("MaxResource")}
            if "HyperbandStrategyConfig" in strategy_config else None,
            "objective": {"metric": str(objective.get("MetricName", "")), "type": str(objective.get("Type", ""))},
            "early_stopping": str(config.get("TrainingJobEarlyStoppingType") or "Off"),
            "random_seed": config.get("RandomSeed"),
            "completion": {
                "target_value": criteria.get("TargetObjectiveMetricValue"),
                "not_improving": _dict(criteria.get("BestObjectiveNotImproving")).get(
                    "MaxNumberOfTrainingJobsNotImproving"),
                "convergence": _dict(criteria.get("ConvergenceDetected")).get("CompleteOnConvergence"),
            },
            "autotune": _dict(request.get("Autotune")).get("Mode"),
        },
        "definitions": definitions,
        "resources": {
            "max_jobs": limits.get("MaxNumberOfTrainingJobs"),
            "max_parallel": limits.get("MaxParallelTrainingJobs"),
            "max_runtime_s": limits.get("MaxRuntimeInSeconds"),
            # Grid runs every combination of the categorical values: how many that is.
            "grid_combinations": facts.grid_combinations(request) if config.get("Strategy") == "Grid" else None,
        },
        "warm_start": {
            "type": str(warm.get("WarmStartType", "")),
            "parents": [str(_dict(p).get("HyperParameterTuningJobName", ""))
                        for p in _list(warm.get("ParentHyperParameterTuningJobs"))],
        } if warm else None,
        "tags": _pairs_in_order(request.get("Tags")),
    }


def _pairs_in_order(tags: Any) -> list[dict[str, str]]:
    return [{"key": str(_dict(t).get("Key", "")), "value": str(_dict(t).get("Value", ""))} for t in _list(tags)]
