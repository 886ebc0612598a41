"""SageMaker's own facts about a tuning job's request and answers, Django-free: one home for each.

- The definitions of a CreateHyperParameterTuningJob request (or of a DescribeHyperParameterTuningJob
  response, which has the same members), in either form: ``TrainingJobDefinition`` (one algorithm;
  its objective and ranges sit in ``HyperParameterTuningJobConfig``) or ``TrainingJobDefinitions``
  (each with its DefinitionName, TuningObjective and HyperParameterRanges). ``definitions`` reads
  both into one shape; ``with_definitions`` writes them back in the form SageMaker's SDK sends (one
  definition: the singular form; several: the plural one).
- The job's objective, a grid's size, the documented limits and name patterns.
- The engine's status vocabulary (tuning jobs, training jobs, their counters) and the sorting of
  botocore error codes into transient, quota, credentials, not found and permanent.
- ``to_datetime``: a timestamp as boto3, JSON or the local engine gives it, as an aware datetime.

Every reader here is lenient: a malformed request (an import not yet validated) is read as far as it
goes, never raised on. The rules that judge a request live in ``spec``.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# ---- limits (sagemaker-hpo-api.md, section 2, and the service model) ---------------------------------
MAX_TUNED_HYPERPARAMETERS = 30  # across the integer, continuous and categorical lists together
MAX_HYPERPARAMETERS = 100  # static + tuned, and SageMaker adds _tuning_objective_metric itself
TUNING_OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
MAX_PARALLEL_TRAINING_JOBS = 100  # default quota 10, raisable to 100
MAX_TAGS = 50  # the service model's limit on a request's Tags
MAX_TRAINING_JOBS = 750  # Bayesian, Hyperband, Grid
MAX_TRAINING_JOBS_RANDOM = 10_000  # Random: 750 by default, raisable to 10,000
MAX_DEFINITIONS = 10  # TrainingJobDefinitions holds 1 to 10
MAX_WARM_START_PARENTS = 5
HYPERBAND_MAX_RESOURCE = 20_000
HYPERBAND_EPOCH_HYPERPARAMETERS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
MAX_TRAINING_RUNTIME_S = 28 * 24 * 3600  # a training job runs at most 28 days
# A tuning job's ResourceLimits.MaxRuntimeInSeconds: the service model's range (botocore checks only the min).
MIN_TUNING_RUNTIME_S, MAX_TUNING_RUNTIME_S = 120, 15_768_000
MAX_ENVIRONMENT_VARIABLES = 48  # in total across all definitions
MAX_INSTANCE_CONFIGS = 6  # HyperParameterTuningResourceConfig.InstanceConfigs holds 1 to 6

# ---- name patterns (the service model's, read as Python regexes; use fullmatch) ------------------------
JOB_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
TRAINING_JOB_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
DEFINITION_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,63}")
CHANNEL_NAME_RE = re.compile(r"[A-Za-z0-9.\-_]{1,64}")

# ---- statuses ----------------------------------------------------------------------------------------
# HyperParameterTuningJobStatus.
TUNING_JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting", "DeleteFailed")
TUNING_JOB_ACTIVE_STATUSES = ("InProgress", "Stopping")  # the engine still runs something
TUNING_JOB_ENDED_STATUSES = ("Completed", "Stopped", "Failed")  # what a warm start parent must be
# StopHyperParameterTuningJob is accepted only while the job runs.
TUNING_JOB_STOPPABLE_STATUSES = ("InProgress",)
# TrainingJobStatus, as the summaries give it.
TRAINING_JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
TRAINING_JOB_ACTIVE_STATUSES = ("InProgress", "Stopping")
TRAINING_JOB_ENDED_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
# TrainingJobStatusCounters; a failure counts as RetryableError or NonRetryableError.
STATUS_COUNTERS = ("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped")
# The counters of training jobs that have ended, whatever the end (an early-stopped one is Stopped).
FINISHED_COUNTERS = ("Completed", "Stopped", "RetryableError", "NonRetryableError")
# ObjectiveStatus and ObjectiveStatusCounters.
OBJECTIVE_STATUSES = ("Succeeded", "Pending", "Failed")

# ---- botocore error codes ------------------------------------------------------------------------------
# Worth a retry; any 5xx and 429 are too, whatever their code.
TRANSIENT_ERROR_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestThrottled",
    "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "SlowDown", "PriorRequestNotComplete",
    "InternalFailure", "InternalServerError", "InternalError", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
})
# The caller is not who AWS will serve: no retry helps until an operator fixes it.
CREDENTIAL_ERROR_CODES = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException",
    "InvalidSignatureException", "SignatureDoesNotMatch", "MissingAuthenticationToken",
    "IncompleteSignature", "AuthFailure",
})
ACCESS_DENIED_ERROR_CODES = frozenset({"AccessDenied", "AccessDeniedException", "NotAuthorized"})
NOT_FOUND_ERROR_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
# An account quota reached (concurrent tuning jobs, instances of a type...): fine once running jobs end.
QUOTA_ERROR_CODES = frozenset({"ResourceLimitExceeded"})
ALREADY_EXISTS_ERROR_CODES = frozenset({"ResourceInUse"})


def error_kind(code: str, http_status: int = 0) -> str:
    """What a botocore ClientError's code (and HTTP status) means: "already_exists", "not_found", "quota",
    "transient", "credentials", "access_denied" or "permanent"."""
    if code in ALREADY_EXISTS_ERROR_CODES:
        return "already_exists"
    if code in NOT_FOUND_ERROR_CODES:
        return "not_found"
    if code in QUOTA_ERROR_CODES:
        return "quota"
    if code in TRANSIENT_ERROR_CODES or http_status >= 500 or http_status == 429:
        return "transient"
    if code in CREDENTIAL_ERROR_CODES:
        return "credentials"
    if code in ACCESS_DENIED_ERROR_CODES:
        return "access_denied"
    return "permanent"


# ---- paths into a request ------------------------------------------------------------------------------
def key_path(path: str, key: str) -> str:
    """The path of a map's member (``Environment["NAME"]``), its key cut short past 80 characters."""
    shown = key if len(key) <= 80 else key[:80] + "…"
    return f'{path}["{shown}"]'


# ---- definitions -----------------------------------------------------------------------------------------
SINGULAR = "TrainingJobDefinition"
PLURAL = "TrainingJobDefinitions"
CONFIG = "HyperParameterTuningJobConfig"
RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class Definition:
    """One training job definition, wherever the request's form keeps its parts.

    ``data`` is the definition as the request holds it; ``objective`` and ``ranges`` are its own or, in
    the singular form, the tuning configuration's. The paths say where each part sits in the request
    (the validator's notation), so a problem can be reported at the member that holds it.
    """

    index: int
    name: str  # DefinitionName; "" in the singular form, which needs none
    data: dict
    objective: dict
    ranges: dict
    path: str
    objective_path: str
    ranges_path: str

    @property
    def static(self) -> dict:
        """The static hyperparameters (name -> string value)."""
        return _dict(self.data.get("StaticHyperParameters"))

    @property
    def algorithm_specification(self) -> dict:
        return _dict(self.data.get("AlgorithmSpecification"))

    @property
    def image(self) -> str | None:
        image = self.algorithm_specification.get("TrainingImage")
        return image if isinstance(image, str) else None

    def as_plural(self) -> dict:
        """A copy of the definition as ``TrainingJobDefinitions`` holds it: with its DefinitionName,
        TuningObjective and HyperParameterRanges on it (the name only when it has one)."""
        result = copy.deepcopy(self.data)
        if self.name:
            result["DefinitionName"] = self.name
        if self.objective or "TuningObjective" in self.data:
            result["TuningObjective"] = copy.deepcopy(self.objective)
        result["HyperParameterRanges"] = copy.deepcopy(self.ranges)
        return result


def single_algorithm(message: Any) -> bool:
    """Whether the request (or describe response) uses the singular, one-algorithm form."""
    return isinstance(message, dict) and message.get(SINGULAR) is not None


def definitions(message: Any) -> list[Definition]:
    """The training job definitions of a request or describe response, whichever form it uses.

    The singular form wins when a (malformed) request gives both; items of the plural list that are
    not objects are skipped, keeping the others' indexes.
    """
    message = _dict(message)
    config = _dict(message.get(CONFIG))
    single = message.get(SINGULAR)
    if single is not None:
        data = _dict(single)
        config_ranges = config.get("ParameterRanges")
        # SageMaker's shape lets the one definition carry its ranges itself; the tuning configuration's win.
        in_config = config_ranges is not None or data.get("HyperParameterRanges") is None
        objective_in_config = config.get("HyperParameterTuningJobObjective") is not None \
            or data.get("TuningObjective") is None
        return [Definition(
            index=0,
            name=data.get("DefinitionName") if isinstance(data.get("DefinitionName"), str) else "",
            data=data,
            objective=_dict(config.get("HyperParameterTuningJobObjective") if objective_in_config
                            else data.get("TuningObjective")),
            ranges=_dict(config_ranges if in_config else data.get("HyperParameterRanges")),
            path=SINGULAR,
            objective_path=f"{CONFIG}.HyperParameterTuningJobObjective" if objective_in_config
            else f"{SINGULAR}.TuningObjective",
            ranges_path=f"{CONFIG}.ParameterRanges" if in_config else f"{SINGULAR}.HyperParameterRanges",
        )]
    result = []
    for index, item in enumerate(_list(message.get(PLURAL))):
        if not isinstance(item, dict):
            continue
        path = f"{PLURAL}[{index}]"
        name = item.get("DefinitionName")
        result.append(Definition(
            index=index,
            name=name if isinstance(name, str) else "",
            data=item,
            objective=_dict(item.get("TuningObjective")),
            ranges=_dict(item.get("HyperParameterRanges")),
            path=path,
            objective_path=f"{path}.TuningObjective",
            ranges_path=f"{path}.HyperParameterRanges",
        ))
    return result


def tuned_names(message: Any) -> list[str]:
    """The names of the hyperparameters the request tunes: every definition's ranges (integer,
    continuous, categorical, then automatic), in the order they are declared, each name once."""
    names: dict[str, None] = {}
    for definition in definitions(message):
        for kind in (*RANGE_KINDS, "AutoParameters"):
            for item in _list(definition.ranges.get(kind)):
                name = _dict(item).get("Name")
                if isinstance(name, str) and name:
                    names.setdefault(name, None)
    return list(names)


def objective(message: Any) -> dict:
    """The job's objective ({"Type", "MetricName"}): the tuning configuration's, else the first
    definition's (with several definitions each has its own; they usually agree); {} when none."""
    found = _dict(_dict(_dict(message).get(CONFIG)).get("HyperParameterTuningJobObjective"))
    if found:
        return found
    return next((d.objective for d in definitions(message) if d.objective), {})


def grid_size(ranges: Any) -> int:
    """How many combinations a grid of these ranges has: the product of each categorical range's value
    count (a range without values counts once, as the validator reports it)."""
    return math.prod(max(len(_list(_dict(r).get("Values"))), 1)
                     for r in _list(_dict(ranges).get("CategoricalParameterRanges")))


def grid_combinations(message: Any) -> int:
    """How many training jobs a Grid search of the request runs: every definition's combinations."""
    return sum(grid_size(d.ranges) for d in definitions(message))


def max_training_jobs(message: Any) -> int | None:
    """The request's budget: MaxNumberOfTrainingJobs, or for Grid (which may leave it out) its
    combinations; None when neither is known."""
    config = _dict(_dict(message).get(CONFIG))
    limit = _dict(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs")
    if limit is not None or config.get("Strategy") != "Grid":
        return limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    return grid_combinations(message) if definitions(message) else None


def with_definitions(request: dict, new: list[dict]) -> dict:
    """A copy of ``request`` holding ``new`` (definitions as ``TrainingJobDefinitions`` holds them) in the
    form SageMaker's SDK sends: one definition as ``TrainingJobDefinition``, its objective and ranges
    moved to the tuning configuration and no DefinitionName; several as ``TrainingJobDefinitions``."""
    result = copy.deepcopy(request)
    config = dict(_dict(result.get(CONFIG)))
    result.pop(SINGULAR, None)
    result.pop(PLURAL, None)
    config.pop("HyperParameterTuningJobObjective", None)
    config.pop("ParameterRanges", None)
    new = [copy.deepcopy(d) for d in new]
    if len(new) == 1:
        one = new[0]
        one.pop("DefinitionName", None)
        objective_value = one.pop("TuningObjective", None)
        ranges = one.pop("HyperParameterRanges", None)
        # The configuration's members in the order SageMaker documents them.
        after = {"StrategyConfig" if "StrategyConfig" in config else "Strategy": ("HyperParameterTuningJobObjective",
                                                                                   objective_value),
                 "ResourceLimits": ("ParameterRanges", ranges)}
        ordered: dict[str, Any] = {}
        for key, value in config.items():
            ordered[key] = value
            if key in after and after[key][1] is not None:
                ordered[after[key][0]] = after[key][1]
        for key, value in after.values():
            if value is not None:
                ordered.setdefault(key, value)
        config = ordered
        result[SINGULAR] = one
    else:
        result[PLURAL] = new
    result[CONFIG] = config
    return result


# ---- times -----------------------------------------------------------------------------------------------
def to_datetime(value: Any) -> datetime | None:
    """A timestamp as boto3 (datetime), JSON (ISO text) or an epoch number gives it, as an aware
    datetime (naive ones are UTC); None for None, "" or text that is not a time."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)
