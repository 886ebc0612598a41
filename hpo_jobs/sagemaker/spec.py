"""CreateHyperParameterTuningJob requests checked by SageMaker's own rules, for the wizard and for import alike.

Two layers:
1. ``check_shape`` walks a request against botocore's service model (required and unknown members, types,
   lengths, numeric bounds, patterns, enums). botocore's client checks only required members, types and
   minimums; the server rejects the rest, and moto accepts anything, so the portal checks them here.
2. ``validate_request`` adds the documented cross-field rules (strategies, ranges, limits, warm start,
   built-in algorithms from the catalogue with its rules between hyperparameters, augmented manifests) and this
   portal's own policy (allowed images, instance types), then asks the engine that will run the job
   (``ValidationContext.engine``) for its own problems (``Backend.check_request``): what it cannot run, and the data folders the project may read.

Neither raises for any input: they return Issues, each with a path into the request and a sentence a
data scientist can act on.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from . import catalogue
from . import request as facts
from .catalogue import format_number, parse_float, parse_int, show
from .request import (  # noqa: F401  (SageMaker's limits; re-exported for the wizard and the tests)
    HYPERBAND_EPOCH_HYPERPARAMETERS,
    HYPERBAND_MAX_RESOURCE,
    MAX_ENVIRONMENT_VARIABLES,
    MAX_HYPERPARAMETERS,
    MAX_PARALLEL_TRAINING_JOBS,
    MAX_TAGS,
    MAX_TRAINING_JOBS,
    MAX_TRAINING_JOBS_RANDOM,
    MAX_TRAINING_RUNTIME_S,
    MAX_TUNED_HYPERPARAMETERS,
    MAX_TUNING_RUNTIME_S,
    MIN_TUNING_RUNTIME_S,
    TUNING_OBJECTIVE_HYPERPARAMETER,
)

logger = logging.getLogger(__name__)

OPERATION = "CreateHyperParameterTuningJob"

INTERNAL_ERROR = "Part of this request could not be checked because of an internal error"


@dataclass(frozen=True)
class Issue:
    """One problem in a request: where (a path into the request, "" for the whole request) and what."""

    path: str
    message: str


@dataclass
class ValidationContext:
    """What the portal knows beyond the request itself: the engine, the region and the site's policy."""

    engine: Any = None  # the Backend that will run the job; None: SageMaker's rules only
    project: Any = None  # the project (or its slug) the request is made in, for the engine's check
    region: str = "us-east-1"
    instance_types: tuple[str, ...] | None = None  # allowed instance types; None: not checked
    ecr_enabled: bool = False
    ecr_allowed: tuple[str, ...] = ()  # registries or prefixes a custom image URI must start with
    warm_start_parents: tuple[str, ...] | None = None  # this project's terminal tuning jobs; None: not checked
    name_taken: Callable[[str], bool] | None = None  # True when a job name is already in use

    @property
    def capabilities(self) -> Any:
        """The engine's Capabilities, or None when no engine is given."""
        return getattr(self.engine, "capabilities", None)


# ---- the service model ----------------------------------------------------------------------------
@cache
def service_model():
    """botocore's SageMaker service model, loaded once (no client, no credentials needed)."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


@cache
def input_shape():
    """The botocore input shape of CreateHyperParameterTuningJob."""
    return service_model().operation_model(OPERATION).input_shape


# ---- Java regular expressions ---------------------------------------------------------------------
# The model's patterns are Java regexes. Python's ``re`` reads most of them the same way under re.ASCII
# (Java's \d \w \s are ASCII by default); the differences that occur are translated here, and anything
# else is refused loudly so that a new botocore cannot slip a misread pattern past the tests.
_JAVA_LINE_TERMINATORS = "\n\r\u0085\u2028\u2029"  # what Java's "." does not match
_UNSUPPORTED_ESCAPES = set("QEGZzAhHvVRXkce0")  # Java-only, or meaning something else in Python


@cache
def _category_ranges() -> dict[str, str]:
    """Unicode general category -> a character-class body of \\U ranges (built once, ~0.1 s)."""
    spans: dict[str, list[list[int]]] = {}
    for code in range(0x110000):
        cat = unicodedata.category(chr(code))
        runs = spans.setdefault(cat, [])
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return {
        cat: "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in runs)
        for cat, runs in spans.items()
    }


def _property_class_body(name: str) -> str:
    if name.startswith("Is"):
        name = name[2:]
    table = _category_ranges()
    cats = [cat for cat in table if cat == name or (len(name) == 1 and cat[0] == name)]
    if not cats or len(name) > 2:
        raise ValueError(f"unsupported Unicode property \\p{{{name}}}")
    return "".join(table[cat] for cat in sorted(cats))


def translate_java_regex(pattern: str) -> str:
    """The Python ``re`` equivalent of a Java regex from the service model (compile it with re.ASCII)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("pattern ends with a backslash")
            nxt = pattern[i + 1]
            if nxt in "pP":
                if pattern[i + 2 : i + 3] == "{":
                    end = pattern.index("}", i + 3)
                    name, i = pattern[i + 3 : end], end + 1
                else:
                    name, i = pattern[i + 2 : i + 3], i + 3
                body = _property_class_body(name)
                if nxt == "P":
                    if in_class:
                        raise ValueError("\\P{...} inside a character class is not supported")
                    out.append(f"[^{body}]")
                else:
                    out.append(body if in_class else f"[{body}]")
                continue
            if nxt in _UNSUPPORTED_ESCAPES:
                raise ValueError(f"unsupported escape \\{nxt}")
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "[" or pattern.startswith("&&", i):
                raise ValueError("nested character classes and intersections are not supported")
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            start = i + 2 if pattern.startswith("[^", i) else i + 1
            if pattern[start : start + 1] == "]":
                raise ValueError("a ']' first in a character class is read differently by Java and Python")
            out.append(pattern[i:start])
            i = start
            continue
        if c == ".":
            out.append("[^" + "".join(f"\\u{ord(t):04x}" for t in _JAVA_LINE_TERMINATORS) + "]")
            i += 1
            continue
        if c in "*+?}" and pattern[i + 1 : i + 2] == "+":
            raise ValueError("possessive quantifiers are not supported")
        if pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            out.append("(?P<")  # a Java named group
            i += 3
            continue
        out.append(c)
        i += 1
    if in_class:
        raise ValueError("unterminated character class")
    return "".join(out)


@cache
def compile_java_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled Python form of a model pattern, or None (logged) when it cannot be translated."""
    try:
        return re.compile(translate_java_regex(pattern), re.ASCII)
    except (ValueError, re.error) as exc:
        logger.error("Cannot translate the service model's pattern %r: %s", pattern, exc)
        return None


# ---- messages -------------------------------------------------------------------------------------
_LABELS = {
    "HyperParameterTuningJobName": "Job name",
    "HyperParameterTuningJobConfig": "Tuning configuration",
    "HyperParameterTuningJobObjective": "Objective",
    "TuningObjective": "Objective",
    "TrainingJobDefinition": "Training job definition",
    "TrainingJobDefinitions": "Training job definitions",
    "DefinitionName": "Definition name",
    "ParameterRanges": "Hyperparameter ranges",
    "HyperParameterRanges": "Hyperparameter ranges",
    "StaticHyperParameters": "Static hyperparameters",
    "MinValue": "Min value",
    "MaxValue": "Max value",
    "TrainingJobEarlyStoppingType": "Early stopping",
    "MetricName": "Metric name",
    "RoleArn": "Role ARN",
    "S3Uri": "S3 URI",
    "S3OutputPath": "Output path",
    "KmsKeyId": "KMS key ID",
    "VolumeKmsKeyId": "Volume KMS key ID",
    "InputDataConfig": "Input data channels",
    "MaxRuntimeInSeconds": "Max runtime (seconds)",
    "MaxWaitTimeInSeconds": "Max wait time (seconds)",
    "MaxPendingTimeInSeconds": "Max pending time (seconds)",
    "VolumeSizeInGB": "Volume size (GB)",
    "WarmStartConfig": "Warm start",
    "ParentHyperParameterTuningJobs": "Warm start parent jobs",
    "HyperParameterTuningResourceConfig": "Tuning resource configuration",
    "Regex": "Metric regex",
}

# The model's patterns in words, for the patterns that occur in this operation.
_NAME_HINT = "may contain only letters, digits and hyphens, and must start and end with a letter or digit"
_PATTERN_HINTS = {
    "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}": _NAME_HINT,
    "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,63}": _NAME_HINT,
    ".+": "must not be empty or contain line breaks",
    "[A-Za-z0-9\\.\\-_]+": "may contain only letters, digits, '.', '-' and '_'",
    "(https|s3)://([^/]+)/?(.*)": "must be an s3:// (or https://) URI",
    "arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+":
        "must be an IAM role ARN such as arn:aws:iam::123456789012:role/name",
    "[a-zA-Z_][a-zA-Z0-9_]*": "must start with a letter or '_' and contain only letters, digits and '_'",
    "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)": "may contain only letters, digits, spaces and _ . : / = + - @",
    "[-0-9a-zA-Z]+": "may contain only letters, digits and hyphens",
    "(fs-[0-9a-f]{8,})": "must be a file system ID such as fs-0123456789abcdef0",
    "[a-zA-Z0-9:/_-]*": "may contain only letters, digits and : / _ -",
}

_TYPE_WORDS = {
    "structure": "an object with named fields",
    "list": "a list",
    "map": "an object of names and values",
    "string": "text",
    "integer": "a whole number",
    "long": "a whole number",
    "float": "a number",
    "double": "a number",
    "boolean": "true or false",
    "timestamp": "a date and time",
    "blob": "binary data",
}


def _label(name: str) -> str:
    return _LABELS.get(name) or re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).capitalize()


def _names(values: Iterable[str], limit: int = 10) -> str:
    """Names for a message, each shortened, at most ``limit`` of them."""
    values = [v if len(v) <= 60 else v[:60] + "…" for v in values]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


def _text(value: object) -> str:
    """A key as text for a path; JSON keys are strings already, anything else is shown, never str()'d."""
    return value if isinstance(value, str) else show(value)


def _member_path(path: str, name: str) -> str:
    shown = name if len(name) <= 80 else name[:80] + "…"
    return f"{path}.{shown}" if path else shown


# ---- the generic walker -----------------------------------------------------------------------------
@cache
def _enum_set(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(values)


def check_shape(
    value: Any,
    shape: Any = None,
    path: str = "",
    *,
    skip_pattern: Callable[[str], bool] | None = None,
) -> list[Issue]:
    """Issues of ``value`` against a botocore shape (the operation's input shape by default), read generically."""
    issues: list[Issue] = []
    shape = shape if shape is not None else input_shape()
    _walk(value, shape, path, _label(shape.name) if path else "Request", issues, skip_pattern, 0)
    return issues


_INTEGER_BITS = {"integer": 32, "long": 64}


def _walk(value: Any, shape: Any, path: str, label: str, issues: list[Issue],
          skip_pattern: Callable[[str], bool] | None, depth: int) -> None:
    if depth > 64:  # the model is not recursive; this only guards against a future one
        return
    kind = shape.type_name
    meta = shape.metadata
    add = issues.append

    if kind == "structure":
        if not isinstance(value, dict):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
            return
        members = shape.members
        required = shape.required_members
        for name in required:
            if value.get(name) is None:
                add(Issue(_member_path(path, name), f"{_label(name)} is required"))
        for name, item in value.items():
            if not isinstance(name, str) or name not in members:
                where = f" in {label}" if path else ""
                add(Issue(_member_path(path, _text(name)),
                          f"Unknown field {show(_text(name))}{where}: SageMaker does not accept it here"))
                continue
            if item is None:
                # botocore refuses None for any member: leave an optional member out instead.
                if name not in required:
                    add(Issue(_member_path(path, name), f"{_label(name)} must be "
                              f"{_TYPE_WORDS.get(members[name].type_name, 'a value')} or left out (got null)"))
                continue
            _walk(item, members[name], _member_path(path, name), _label(name), issues, skip_pattern, depth + 1)
        if meta.get("union") and sum(1 for name in members if value.get(name) is not None) != 1:
            add(Issue(path, f"{label} takes exactly one of {', '.join(members)}"))
        return

    if kind == "list":
        if not isinstance(value, (list, tuple)):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
            return
        _check_size(len(value), meta, path, label, "item", issues)
        limit = meta.get("max")
        for index, item in enumerate(value[: limit if isinstance(limit, int) else None]):
            _walk(item, shape.member, f"{path}[{index}]", f"{label} item {index + 1}", issues, skip_pattern, depth + 1)
        return

    if kind == "map":
        if not isinstance(value, dict):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
            return
        _check_size(len(value), meta, path, label, "entry", issues)
        for key, item in value.items():
            item_path = facts.key_path(path, _text(key))
            _walk(key, shape.key, item_path, f"{label}: name {show(key)}", issues, skip_pattern, depth + 1)
            _walk(item, shape.value, item_path, f"{label}: {show(_text(key))}", issues, skip_pattern, depth + 1)
        return

    if kind == "string":
        if not isinstance(value, str):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
            return
        if "\x00" in value:
            # No field of the wizard takes one, and PostgreSQL cannot store one in a job's request.
            add(Issue(path, f"{label} must not contain a null character (\\u0000)"))
            return
        enum = meta.get("enum")
        if enum:
            if value not in _enum_set(tuple(enum)):
                if len(enum) <= 12:
                    add(Issue(path, f"{label} must be one of {', '.join(enum)} (got {show(value)})"))
                else:
                    add(Issue(path, f"{show(value)} is not a valid {label.lower()}"))
            return
        length = len(value)
        if "min" in meta and length < meta["min"]:
            add(Issue(path, f"{label} must not be empty" if meta["min"] == 1
                      else f"{label} must be at least {meta['min']} characters long (got {length})"))
            return
        if "max" in meta and length > meta["max"]:
            add(Issue(path, f"{label} must be at most {meta['max']} characters long (got {length})"))
            return
        pattern = meta.get("pattern")
        if pattern and not (skip_pattern and skip_pattern(path)):
            compiled = compile_java_regex(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                hint = _PATTERN_HINTS.get(pattern, f"does not have the form SageMaker expects ({pattern})")
                add(Issue(path, f"{label} {hint} (got {show(value)})"))
        return

    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
            return
        # The service reads an integer in 32 bits and a long in 64, whatever range the model states.
        bits = _INTEGER_BITS[kind]
        _check_range(value, {"min": -(2 ** (bits - 1)), "max": 2 ** (bits - 1) - 1, **meta}, path, label, issues)
        return

    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
            return
        if not math.isfinite(value):
            add(Issue(path, f"{label} must be a finite number (got {show(value)})"))
            return
        _check_range(value, meta, path, label, issues)
        return

    if kind == "boolean":
        if not isinstance(value, bool):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
        return

    if kind == "timestamp":
        if not isinstance(value, (str, datetime.datetime, int, float)) or isinstance(value, bool):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
        return

    if kind == "blob":
        if not isinstance(value, (str, bytes, bytearray)):
            add(Issue(path, f"{label} must be {_TYPE_WORDS[kind]} (got {show(value)})"))
        return


def _check_size(size: int, meta: Mapping[str, Any], path: str, label: str, noun: str, issues: list[Issue]) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and size < low:
        issues.append(Issue(path, f"{label} must have at least {_count(low, noun)} (got {size})"))
    elif high is not None and size > high:
        issues.append(Issue(path, f"{label} can have at most {_count(high, noun)} (got {size})"))


def _count(number: int, noun: str) -> str:
    plural = noun if number == 1 else noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number} {plural}"


def _check_range(value: float, meta: Mapping[str, Any], path: str, label: str, issues: list[Issue]) -> None:
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        issues.append(Issue(path, f"{label} must be at least {format_number(low)} (got {format_number(value)})"))
    elif high is not None and value > high:
        issues.append(Issue(path, f"{label} must be at most {format_number(high)} (got {format_number(value)})"))


# ---- import -----------------------------------------------------------------------------------------
def strip_read_only(data: dict) -> dict:
    """``data`` without the members the CreateHyperParameterTuningJob input shape lacks (describe output's
    status, times, ARNs, ...), removed recursively shape by shape; values of the wrong type are kept for
    ``validate_request`` to report."""
    return _strip(data, input_shape())


def _strip(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _strip(v, members[k]) for k, v in value.items() if isinstance(k, str) and k in members}
    if kind == "list" and isinstance(value, list):
        return [_strip(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _strip(v, shape.value) for k, v in value.items()}
    return value


# ---- reading a request that may be malformed ---------------------------------------------------------
def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class _Definition:
    """One training job definition as the rules see it (``request.Definition``, with its algorithm)."""

    read: facts.Definition
    image: str | None = field(init=False)
    algorithm: catalogue.Algorithm | None = field(init=False)  # None for a custom image or AlgorithmName

    def __post_init__(self) -> None:
        self.image = self.read.image
        self.algorithm = catalogue.algorithm_for_image(self.image) if self.image else None

    path = property(lambda self: self.read.path)
    data = property(lambda self: self.read.data)
    objective = property(lambda self: self.read.objective)
    objective_path = property(lambda self: self.read.objective_path)
    ranges = property(lambda self: self.read.ranges)
    ranges_path = property(lambda self: self.read.ranges_path)
    name = property(lambda self: self.read.name)
    static = property(lambda self: self.read.static)

    @property
    def spec_path(self) -> str:
        return f"{self.path}.AlgorithmSpecification"

    @property
    def custom(self) -> bool:
        return self.algorithm is None

    def range_items(self, kind: str) -> Iterable[tuple[str, dict]]:
        for index, item in enumerate(_list(self.ranges.get(kind))):
            if isinstance(item, dict):
                yield f"{self.ranges_path}.{kind}[{index}]", item

    def tuned_names(self) -> list[str]:
        return [name for kind in _RANGE_KINDS for _, item in self.range_items(kind)
                if (name := _str(item.get("Name"))) is not None]


_RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")
_RANGE_TYPE = {"IntegerParameterRanges": "Integer", "ContinuousParameterRanges": "Continuous",
               "CategoricalParameterRanges": "Categorical"}


def _local_channel_path(path: str, skip: bool) -> bool:
    # On an engine that reads local folders a channel's S3Uri holds a path; the engine's check reads it.
    return skip and path.endswith(".DataSource.S3DataSource.S3Uri") and ".InputDataConfig[" in path


# ---- the rules --------------------------------------------------------------------------------------
# Job names that would collide with the pages under /projects/<slug>/hpo-jobs/.
PORTAL_PAGE_NAMES = frozenset({"create", "import"})


def validate_request(request: Any, ctx: ValidationContext) -> list[Issue]:
    """Every issue of a CreateHyperParameterTuningJob request under SageMaker's rules and the portal's policy;
    never raises, whatever ``request`` holds."""
    ctx = ctx if isinstance(ctx, ValidationContext) else ValidationContext()
    if not isinstance(request, dict):
        return [Issue("", f"The request must be a JSON object (got {show(request)})")]
    local_paths = bool(getattr(ctx.capabilities, "channels_are_local_paths", False))
    issues: list[Issue] = []
    try:
        issues.extend(check_shape(request, skip_pattern=lambda p: _local_channel_path(p, local_paths)))
    except Exception:  # never let a checker bug turn into a server error
        logger.exception("Shape check failed")
        issues.append(Issue("", INTERNAL_ERROR))
    issues.extend(_Rules(request, ctx).run())
    if ctx.engine is not None:
        try:
            issues.extend(ctx.engine.check_request(request, project=ctx.project))
        except Exception:
            logger.exception("The engine's check failed")
            issues.append(Issue("", INTERNAL_ERROR))
    seen: set[Issue] = set()
    return [i for i in issues if not (i in seen or seen.add(i))]


class _Rules:
    """The cross-field rules, one method per group; each group is isolated so one bug cannot hide the rest."""

    def __init__(self, request: dict, ctx: ValidationContext) -> None:
        self.request = request
        self.ctx = ctx
        self.config = _dict(request.get("HyperParameterTuningJobConfig"))
        self.strategy = _str(self.config.get("Strategy"))
        self.limits = _dict(self.config.get("ResourceLimits"))
        self.early_stopping = _str(self.config.get("TrainingJobEarlyStoppingType")) or "Off"
        self.issues: list[Issue] = []
        self.definitions: list[_Definition] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def run(self) -> list[Issue]:
        for group in (
            self.definition_forms, self.job_name, self.resource_limits, self.strategy_rules, self.warm_start,
            self.early_stopping_rules, self.ranges, self.static_hyperparameters, self.algorithms,
            self.metric_definitions, self.images, self.channels, self.resources, self.stopping, self.environment,
            self.tags,
        ):
            try:
                group()
            except Exception:
                logger.exception("Rule group %s failed", group.__name__)
                self.add("", INTERNAL_ERROR)
        return self.issues

    # -- tags: keys unique; the aws: prefix is AWS's own --
    def tags(self) -> None:
        seen: set[str] = set()
        for index, tag in enumerate(_list(self.request.get("Tags"))):
            key = _str(_dict(tag).get("Key"))
            if key is None:
                continue
            path = f"Tags[{index}].Key"
            if key.lower().startswith("aws:"):
                self.add(path, f"Tag keys starting with 'aws:' are reserved for AWS (got {key!r})")
            if key in seen:
                self.add(path, f"Tag {key!r} is given twice")
            seen.add(key)

    # -- which form of definitions, and where objective and ranges sit --
    def definition_forms(self) -> None:
        single = self.request.get("TrainingJobDefinition")
        several = self.request.get("TrainingJobDefinitions")
        config_path = "HyperParameterTuningJobConfig"
        objective = self.config.get("HyperParameterTuningJobObjective")
        config_ranges = self.config.get("ParameterRanges")
        if single is not None and several is not None:
            self.add("", "Give either TrainingJobDefinition (one algorithm) or TrainingJobDefinitions "
                         "(several), not both")
        elif single is None and several is None:
            self.add("", "The request needs a training job definition (TrainingJobDefinition or "
                         "TrainingJobDefinitions)")
        if single is not None:
            data = _dict(single)
            path = "TrainingJobDefinition"
            if objective is None:
                self.add(f"{config_path}.HyperParameterTuningJobObjective",
                         "Objective is required with a single training job definition")
            if data.get("TuningObjective") is not None:
                self.add(f"{path}.TuningObjective", "With a single definition, set the objective in the tuning "
                         "configuration (HyperParameterTuningJobObjective), not in the definition")
            if config_ranges is not None and data.get("HyperParameterRanges") is not None:
                self.add(f"{path}.HyperParameterRanges", "Hyperparameter ranges are given twice: keep those in "
                         "the tuning configuration (ParameterRanges) or those in the definition, not both")
        elif several is not None:
            if objective is not None:
                self.add(f"{config_path}.HyperParameterTuningJobObjective", "With TrainingJobDefinitions, each "
                         "definition carries its own objective (TuningObjective); remove this one")
            if config_ranges is not None:
                self.add(f"{config_path}.ParameterRanges", "With TrainingJobDefinitions, each definition carries "
                         "its own hyperparameter ranges (HyperParameterRanges); remove these")
            for index, item in enumerate(_list(several)):
                path = f"TrainingJobDefinitions[{index}]"
                if not isinstance(item, dict):
                    continue  # the shape check has reported it
                for member, what in (("DefinitionName", "a definition name"), ("TuningObjective", "an objective"),
                                     ("HyperParameterRanges", "hyperparameter ranges")):
                    if item.get(member) is None:
                        self.add(f"{path}.{member}", f"Each of several training job definitions needs {what} "
                                 f"({member})")
        self.definitions = [_Definition(d) for d in facts.definitions(self.request)]
        names: dict[str, str] = {}
        for definition in self.definitions:
            if definition.name:
                if definition.name in names:
                    self.add(f"{definition.path}.DefinitionName", f"Definition name {show(definition.name)} is "
                             f"already used by {names[definition.name]}; each definition needs its own name")
                else:
                    names[definition.name] = definition.path

    # -- job name --
    def job_name(self) -> None:
        name = _str(self.request.get("HyperParameterTuningJobName"))
        if name and name.lower() in PORTAL_PAGE_NAMES:
            self.add("HyperParameterTuningJobName",
                     f"{show(name)} is the name of one of the portal's own pages; choose another job name")
            return
        if self.ctx.name_taken is None or not name:
            return
        if check_shape(name, input_shape().members["HyperParameterTuningJobName"], "name"):
            return  # the shape check has reported it; do not ask the engine about a malformed name
        try:
            taken = self.ctx.name_taken(name)
        except Exception:
            logger.warning("Could not check whether job name %r is free", name, exc_info=True)
            self.add("HyperParameterTuningJobName", f"Could not check whether job name {show(name)} is free "
                     "(the engine did not answer); try again in a moment")
            return
        if taken:
            self.add("HyperParameterTuningJobName", f"Job name {show(name)} is already used by another tuning "
                     "job (names are unique per account and region, ignoring case); choose another name")

    # -- budgets --
    def resource_limits(self) -> None:
        path = "HyperParameterTuningJobConfig.ResourceLimits"
        parallel = _int(self.limits.get("MaxParallelTrainingJobs"))
        total = _int(self.limits.get("MaxNumberOfTrainingJobs"))
        if parallel is not None and total is not None and parallel > total:
            self.add(f"{path}.MaxParallelTrainingJobs", f"Max parallel training jobs cannot exceed max number of "
                     f"training jobs (got {format_number(parallel)} parallel of {format_number(total)} in all)")
        if parallel is not None and parallel > MAX_PARALLEL_TRAINING_JOBS:
            self.add(f"{path}.MaxParallelTrainingJobs", f"Max parallel training jobs can be at most "
                     f"{MAX_PARALLEL_TRAINING_JOBS}, SageMaker's highest quota (got {format_number(parallel)})")
        runtime = _int(self.limits.get("MaxRuntimeInSeconds"))
        if runtime is not None and runtime > MAX_TUNING_RUNTIME_S:
            self.add(f"{path}.MaxRuntimeInSeconds", f"A tuning job can run at most {MAX_TUNING_RUNTIME_S:,} seconds "
                     f"(182.5 days) (got {format_number(runtime)})")
        cap = MAX_TRAINING_JOBS_RANDOM if self.strategy == "Random" else MAX_TRAINING_JOBS
        if total is not None and total > cap:
            which = "with the Random strategy" if self.strategy == "Random" else "except with the Random strategy"
            self.add(f"{path}.MaxNumberOfTrainingJobs", f"Max number of training jobs can be at most {cap} "
                     f"{which} (got {format_number(total)})")

    # -- strategies --
    def strategy_rules(self) -> None:
        config_path = "HyperParameterTuningJobConfig"
        strategy_config = self.config.get("StrategyConfig")
        if strategy_config is not None and self.strategy != "Hyperband":
            self.add(f"{config_path}.StrategyConfig", "Strategy configuration is only for the Hyperband strategy; "
                     "remove it")
        if self.strategy == "Grid":
            self._grid()
        if self.strategy == "Hyperband":
            self._hyperband(_dict(_dict(strategy_config).get("HyperbandStrategyConfig")))

    def _grid(self) -> None:
        combinations = 0
        for definition in self.definitions:
            for kind in ("IntegerParameterRanges", "ContinuousParameterRanges", "AutoParameters"):
                for path, item in definition.range_items(kind):
                    name = _str(item.get("Name")) or "this range"
                    self.add(path, f"Grid search takes categorical ranges only: make {name} categorical (list the "
                             "values to try) or static, or choose another strategy")
            if not list(definition.range_items("CategoricalParameterRanges")):
                self.add(definition.ranges_path, "Grid search needs at least one categorical range")
            combinations += facts.grid_size(definition.ranges)
        if combinations > MAX_TRAINING_JOBS:
            where = self.definitions[0].ranges_path if len(self.definitions) == 1 else ""
            self.add(where, f"Grid search would run {format_number(combinations)} training jobs, more than the "
                     f"{MAX_TRAINING_JOBS} a tuning job may run; try fewer values")
        total = _int(self.limits.get("MaxNumberOfTrainingJobs"))
        if total is not None and self.definitions and total != combinations:
            self.add("HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs",
                     f"With grid search, max number of training jobs must be left out or equal the number of "
                     f"value combinations ({format_number(combinations)}) (got {format_number(total)})")

    def _hyperband(self, hyperband: dict) -> None:
        path = "HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig"
        if self.early_stopping != "Off":
            self.add("HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType", "Hyperband stops training jobs "
                     "early by itself: set early stopping to Off")
        min_resource = _int(hyperband.get("MinResource"))
        max_resource = _int(hyperband.get("MaxResource"))
        maxima: list[tuple[int, str]] = []
        if max_resource is not None:
            maxima.append((max_resource, f"{path}.MaxResource"))
        elif "MaxResource" not in hyperband:
            for definition in self.definitions:
                epochs = [(name, value) for name, value in definition.static.items()
                          if name in HYPERBAND_EPOCH_HYPERPARAMETERS]
                if not epochs:
                    self.add(f"{definition.path}.StaticHyperParameters", "Hyperband needs a max resource: give "
                             "MaxResource in the Hyperband configuration, or a static epochs hyperparameter (one "
                             f"of {', '.join(HYPERBAND_EPOCH_HYPERPARAMETERS)})")
                    continue
                name, value = epochs[0]
                number = parse_int(value)
                where = facts.key_path(f"{definition.path}.StaticHyperParameters", name)
                if number is None or number < 1:
                    self.add(where, f"Hyperband reads its max resource from {name}, which must then be a whole "
                             f"number of at least 1 (got {show(value)})")
                else:
                    maxima.append((number, where))
        for number, where in maxima:
            if number > HYPERBAND_MAX_RESOURCE:
                self.add(where, f"Hyperband's max resource can be at most {HYPERBAND_MAX_RESOURCE} epochs "
                         f"(got {format_number(number)})")
            if min_resource is not None and min_resource > number:
                self.add(f"{path}.MinResource", f"Hyperband's min resource must not exceed its max resource "
                         f"(got {format_number(min_resource)} and {format_number(number)})")

    # -- warm start and early stopping --
    def warm_start(self) -> None:
        warm = self.request.get("WarmStartConfig")
        if warm is None:
            return
        if len(self.definitions) > 1:
            self.add("WarmStartConfig", "Warm start is only available when tuning a single training job "
                     "definition")
        own = (_str(self.request.get("HyperParameterTuningJobName")) or "").lower()
        allowed = None
        if self.ctx.warm_start_parents is not None:
            allowed = {p.lower() for p in self.ctx.warm_start_parents if isinstance(p, str)}
        seen: set[str] = set()
        for index, parent in enumerate(_list(_dict(warm).get("ParentHyperParameterTuningJobs"))):
            path = f"WarmStartConfig.ParentHyperParameterTuningJobs[{index}].HyperParameterTuningJobName"
            name = _str(_dict(parent).get("HyperParameterTuningJobName"))
            if not isinstance(parent, dict):
                continue
            if not name:
                self.add(path, "Each warm start parent needs the name of a tuning job")
                continue
            key = name.lower()
            if key in seen:
                self.add(path, f"Warm start parent {show(name)} is listed twice")
                continue
            seen.add(key)
            if key == own:
                self.add(path, "A tuning job cannot warm start from itself")
            elif allowed is not None and key not in allowed:
                self.add(path, f"Warm start parent {show(name)} is not a finished (Completed, Stopped or Failed) "
                         "tuning job of this project")

    def early_stopping_rules(self) -> None:
        if self.early_stopping != "Auto":
            return
        path = "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType"
        if len(self.definitions) > 1:
            self.add(path, "Early stopping (Auto) is only available when tuning a single training job definition")
        for definition in self.definitions:
            algorithm = definition.algorithm
            metric = _str(definition.objective.get("MetricName")) or ""
            if algorithm is None:
                continue  # a custom algorithm must emit its objective every epoch; the portal cannot tell
            if not algorithm.supports_early_stopping:
                self.add(path, f"{algorithm.display_name} does not support early stopping (Auto); set it to Off")
            elif metric and not algorithm.early_stopping_works_with(metric):
                self.add(path, f"{algorithm.display_name} supports early stopping only with the objective "
                         f"{' or '.join(algorithm.early_stopping_metrics)} (got {show(metric)})")

    # -- ranges --
    def ranges(self) -> None:
        autotune = self.request.get("Autotune") is not None
        for definition in self.definitions:
            static = definition.static
            seen: dict[str, str] = {}
            tuned = 0
            for kind in _RANGE_KINDS:
                for path, item in definition.range_items(kind):
                    tuned += 1
                    name = _str(item.get("Name"))
                    if name is None:
                        continue
                    if not name:
                        self.add(f"{path}.Name", "Hyperparameter name must not be empty")
                        continue
                    self._once(path, name, kind, seen)
                    if name in static:
                        self.add(f"{path}.Name", f"Hyperparameter {show(name)} is both static and tuned; make it "
                                 "one or the other")
                    if kind == "CategoricalParameterRanges":
                        self._categorical(path, item)
                    else:
                        self._numeric_range(path, item, integer=kind == "IntegerParameterRanges")
            if tuned > MAX_TUNED_HYPERPARAMETERS:
                self.add(definition.ranges_path, f"At most {MAX_TUNED_HYPERPARAMETERS} hyperparameters can be "
                         f"tuned, counting integer, continuous and categorical ranges together (got {tuned})")
            if _list(definition.ranges.get("AutoParameters")) and not autotune:
                self.add(f"{definition.ranges_path}.AutoParameters", "Auto parameters are only used with Autotune "
                         "enabled")
            for path, item in definition.range_items("AutoParameters"):
                name = _str(item.get("Name"))
                if not name:
                    if name is not None:
                        self.add(f"{path}.Name", "Hyperparameter name must not be empty")
                    continue
                self._once(path, name, "AutoParameters", seen)
                if name in static:
                    self.add(f"{path}.Name", f"Hyperparameter {show(name)} is both static and left to Autotune; make "
                             "it one or the other")
            total = len(static) + tuned
            if total + 1 > MAX_HYPERPARAMETERS:
                self.add(definition.path, f"A definition can have at most {MAX_HYPERPARAMETERS - 1} static and "
                         f"tuned hyperparameters together; SageMaker adds {TUNING_OBJECTIVE_HYPERPARAMETER} as the "
                         f"{MAX_HYPERPARAMETERS}th (got {total})")

    def _categorical(self, path: str, item: dict) -> None:
        values = [v for v in _list(item.get("Values")) if isinstance(v, str)]
        seen: set[str] = set()
        for index, value in enumerate(values):
            if value in seen:
                self.add(f"{path}.Values[{index}]", f"Value {show(value)} is listed twice")
            seen.add(value)

    def _numeric_range(self, path: str, item: dict, *, integer: bool) -> None:
        parse = parse_int if integer else parse_float
        kind = "a whole number" if integer else "a number"
        bounds: dict[str, float] = {}
        for member in ("MinValue", "MaxValue"):
            text = item.get(member)
            if not isinstance(text, str):
                continue
            number = parse(text)
            if number is None:
                self.add(f"{path}.{member}", f"{_label(member)} of {'an integer' if integer else 'a continuous'} "
                         f"range must be {kind} (got {show(text)})")
            else:
                bounds[member] = number
        low, high = bounds.get("MinValue"), bounds.get("MaxValue")
        if low is not None and high is not None:
            if low == high:
                self.add(f"{path}.MinValue", f"Min value must be below max value (both are {format_number(low)}); "
                         "to fix a hyperparameter to one value, make it static instead")
            elif low > high:
                self.add(f"{path}.MinValue", f"Min value must be below max value (got {format_number(low)} and "
                         f"{format_number(high)})")
        scaling = _str(item.get("ScalingType")) or "Auto"
        if scaling == "Logarithmic" and low is not None and low <= 0:
            self.add(f"{path}.MinValue", f"Logarithmic scaling needs values above 0 (min value is "
                     f"{format_number(low)})")
        if scaling == "ReverseLogarithmic":
            if integer:
                self.add(f"{path}.ScalingType", "Reverse logarithmic scaling is only for continuous ranges")
            else:
                if low is not None and low < 0:
                    self.add(f"{path}.MinValue", f"Reverse logarithmic scaling needs values from 0 up to but not "
                             f"including 1 (min value is {format_number(low)})")
                if high is not None and high >= 1:
                    self.add(f"{path}.MaxValue", f"Reverse logarithmic scaling needs values from 0 up to but not "
                             f"including 1 (max value is {format_number(high)})")

    def static_hyperparameters(self) -> None:
        for definition in self.definitions:
            base = f"{definition.path}.StaticHyperParameters"
            for name in definition.static:
                if not isinstance(name, str):
                    continue
                if not name:
                    self.add(facts.key_path(base, name), "Hyperparameter name must not be empty")
                elif name == TUNING_OBJECTIVE_HYPERPARAMETER:
                    self.add(facts.key_path(base, name), f"{TUNING_OBJECTIVE_HYPERPARAMETER} is set by SageMaker; "
                             "remove it")

    def _once(self, path: str, name: str, kind: str, seen: dict[str, str]) -> None:
        """Note the range of ``name`` at ``path``; a second one is refused there."""
        if name in seen:
            self.add(f"{path}.Name", f"Hyperparameter {show(name)} has more than one range ({seen[name]}); give it one")
        else:
            seen[name] = kind

    # -- built-in algorithms --
    def algorithms(self) -> None:
        for definition in self.definitions:
            algorithm = definition.algorithm
            if algorithm is None:
                continue
            objective = definition.objective
            metric = _str(objective.get("MetricName"))
            direction = _str(objective.get("Type"))
            if metric is not None:
                known = algorithm.objective_metric(metric)
                if known is None:
                    choices = ", ".join(m.name for m in algorithm.objective_metrics)
                    self.add(f"{definition.objective_path}.MetricName", f"{algorithm.display_name} cannot be tuned "
                             f"towards {show(metric)}; its objective metrics are {choices}")
                elif direction in catalogue.DIRECTIONS and direction != known.direction:
                    self.add(f"{definition.objective_path}.Type", f"{metric} must be {known.direction}d, not "
                             f"{direction}d")
            static = definition.static
            base = f"{definition.path}.StaticHyperParameters"
            if metric is not None and known is not None:
                self._objective_rules(definition, algorithm, metric, base)
            self._hyperparameter_rules(definition, algorithm, base)
            self._builtin_content_types(definition, algorithm)
            self._builtin_channels(definition, algorithm, metric if metric is not None and known is not None else None)
            for name, value in static.items():
                if not isinstance(name, str) or not name or name == TUNING_OBJECTIVE_HYPERPARAMETER:
                    continue
                spec = algorithm.hyperparameter(name)
                if spec is None:
                    self.add(facts.key_path(base, name), f"{algorithm.display_name} has no hyperparameter {show(name)}")
                elif "Static" not in spec.allowed_types:
                    self.add(facts.key_path(base, name), f"{name} must be tuned, not static")
                elif isinstance(value, str) and (problem := spec.check_value(value)):
                    self.add(facts.key_path(base, name), problem)
            for kind in _RANGE_KINDS:
                for path, item in definition.range_items(kind):
                    self._builtin_range(algorithm, kind, path, item)
            for path, item in definition.range_items("AutoParameters"):
                name = _str(item.get("Name"))
                spec = algorithm.hyperparameter(name) if name else None
                if name and spec is None:
                    self.add(f"{path}.Name", f"{algorithm.display_name} has no hyperparameter {show(name)}")
                elif spec is not None and not spec.tunable_as():
                    self.add(f"{path}.Name", f"{name} cannot be tuned (static only), so Autotune cannot choose its "
                             "range")
            present = set(static) | set(definition.tuned_names()) | {
                _str(item.get("Name")) for _, item in definition.range_items("AutoParameters")}
            for spec in algorithm.required_hyperparameters:
                if spec.default is None and spec.name not in present:
                    self.add(base, f"{algorithm.display_name} needs the hyperparameter {spec.name} "
                             f"({spec.description.rstrip('.').lower()})")

    def _objective_rules(self, definition: _Definition, algorithm: catalogue.Algorithm, metric: str, base: str) -> None:
        """The catalogue's rules of which settings make the algorithm report ``metric`` at all."""
        static = {k: v for k, v in definition.static.items() if isinstance(k, str) and isinstance(v, str)}
        for name, problem in algorithm.objective_problems(metric, static):
            if name in static:
                self.add(facts.key_path(base, name), problem)
                continue
            for path, item in definition.range_items("CategoricalParameterRanges"):
                if _str(item.get("Name")) == name:
                    values = [v for v in _list(item.get("Values")) if isinstance(v, str)]
                    bad = [v for v in values if algorithm.objective_problems(metric, {name: v})]
                    if bad:
                        self.add(f"{path}.Values", algorithm.objective_problems(metric, {name: bad[0]})[0][1])
                    break
            else:
                self.add(f"{definition.objective_path}.MetricName", problem)

    def _hyperparameter_rules(self, definition: _Definition, algorithm: catalogue.Algorithm, base: str) -> None:
        """The catalogue's rules between hyperparameters (one taking effect, or needed, only with another's
        value), each next to the hyperparameter it is about."""
        static = {k: v for k, v in definition.static.items() if isinstance(k, str) and isinstance(v, str)}
        tuned: dict[str, catalogue.Tuned] = {}
        paths: dict[str, str] = {}
        for kind in _RANGE_KINDS:
            for path, item in definition.range_items(kind):
                name = _str(item.get("Name"))
                if name is None or name in tuned:
                    continue
                spec = algorithm.hyperparameter(name)
                if kind == "CategoricalParameterRanges":
                    values = tuple(v for v in _list(item.get("Values")) if isinstance(v, str))
                    tuned[name] = catalogue.Tuned("Categorical", values=values)
                else:
                    read = spec.parse if spec is not None else parse_float
                    tuned[name] = catalogue.Tuned(_RANGE_TYPE[kind], low=read(item.get("MinValue")),
                                                  high=read(item.get("MaxValue")))
                paths[name] = path
        for problem in algorithm.hyperparameter_problems(static, tuned):
            name = problem.hyperparameter
            if name in paths:
                self.add(f"{paths[name]}.{problem.member or 'Name'}", problem.message)
            elif name in static:
                self.add(facts.key_path(base, name), problem.message)
            else:
                self.add(base, problem.message)

    def _builtin_channels(self, definition: _Definition, algorithm: catalogue.Algorithm, metric: str | None) -> None:
        """The train channel every built-in trains on, and the channel its objective metric is computed
        on (``test:msd`` on ``test``): without it every training job would end without an objective.
        (The catalogue's ``required`` also marks the channels of its default objective, so it is not
        asked for whole: BlazingText in a Word2Vec mode runs without the validation channel its
        supervised default needs.)"""
        given = {_str(_dict(c).get("ChannelName")) for c in _list(definition.data.get("InputDataConfig"))}
        if algorithm.channel("train") is not None and "train" not in given:
            self.add(f"{definition.path}.InputDataConfig", f"{algorithm.display_name} needs a train channel")
        on = metric.split(":", 1)[0] if metric and ":" in metric else None
        if on and on != "train" and algorithm.channel(on) is not None and on not in given:
            self.add(f"{definition.objective_path}.MetricName",
                     f"{algorithm.display_name} reports {metric} on its {on} channel, which this definition does not "
                     f"have: add a {on} channel, or choose an objective metric of a channel it has")

    def _builtin_content_types(self, definition: _Definition, algorithm: catalogue.Algorithm) -> None:
        """Each channel the built-in reads, in a content type it reads (parameters such as label_size aside)."""
        for index, channel in enumerate(_list(definition.data.get("InputDataConfig"))):
            channel = _dict(channel)
            name, content_type = _str(channel.get("ChannelName")), _str(channel.get("ContentType"))
            accepted = algorithm.channel(name) if name else None
            if accepted is None or not content_type:
                continue
            if _media_type(content_type) not in {_media_type(t) for t in accepted.content_types}:
                self.add(f"{definition.path}.InputDataConfig[{index}].ContentType",
                         f"{algorithm.display_name} reads its {name} channel as "
                         f"{' or '.join(accepted.content_types)} (got {show(content_type)})")

    def _builtin_range(self, algorithm: catalogue.Algorithm, kind: str, path: str, item: dict) -> None:
        name = _str(item.get("Name"))
        if not name:
            return
        spec = algorithm.hyperparameter(name)
        if spec is None:
            self.add(f"{path}.Name", f"{algorithm.display_name} has no hyperparameter {show(name)}")
            return
        range_type = _RANGE_TYPE[kind]
        tunable = spec.tunable_as()
        if range_type not in tunable:
            how = f"can be tuned only as {' or '.join(tunable)}" if tunable else "cannot be tuned (static only)"
            self.add(f"{path}.Name", f"{name} {how}, not as {range_type}")
            return
        if kind == "CategoricalParameterRanges":
            for index, value in enumerate(_list(item.get("Values"))):
                if isinstance(value, str) and (problem := spec.check_value(value)):
                    self.add(f"{path}.Values[{index}]", problem)
            return
        for member in ("MinValue", "MaxValue"):
            number = spec.parse(item.get(member))
            if number is not None and not spec.within_bounds(number):
                self.add(f"{path}.{member}", f"{name} must be {spec.bounds_text()} (got {format_number(number)})")

    # -- metric definitions and custom algorithms --
    def metric_definitions(self) -> None:
        for definition in self.definitions:
            spec = _dict(definition.data.get("AlgorithmSpecification"))
            items = _list(spec.get("MetricDefinitions"))
            names: set[str] = set()
            for index, item in enumerate(items):
                path = f"{definition.spec_path}.MetricDefinitions[{index}]"
                item = _dict(item)
                name, regex = _str(item.get("Name")), _str(item.get("Regex"))
                if name is not None:
                    if name in names:
                        self.add(f"{path}.Name", f"Metric {show(name)} is defined twice")
                    names.add(name)
                if regex:
                    problem = regex_problem(regex)
                    if problem:
                        self.add(f"{path}.Regex", f"Metric regex for {show(name or '')}: {problem}")
            metric = _str(definition.objective.get("MetricName"))
            custom_image = definition.custom and definition.image is not None
            if custom_image and metric and metric not in names:
                defined = _names(sorted(names)) if names else "none are defined"
                self.add(f"{definition.objective_path}.MetricName", f"Objective metric {show(metric)} must be one of "
                         f"this definition's metric definitions ({defined})")

    def images(self) -> None:
        for definition in self.definitions:
            spec = _dict(definition.data.get("AlgorithmSpecification"))
            path = definition.spec_path
            image, algorithm_name = spec.get("TrainingImage"), spec.get("AlgorithmName")
            if image is not None and algorithm_name is not None:
                self.add(path, "Give a training image or an algorithm name, not both")
            elif image is None and algorithm_name is None and definition.data.get("AlgorithmSpecification") is not None:
                self.add(f"{path}.TrainingImage", "Choose a built-in algorithm or give a training image")
            if isinstance(algorithm_name, str):
                self._algorithm_resource(f"{path}.AlgorithmName", algorithm_name)
            if not isinstance(image, str) or not image:
                continue
            algorithm = definition.algorithm
            if algorithm is not None:
                self._builtin_image(f"{path}.TrainingImage", algorithm, image)
            else:
                self._custom_image(f"{path}.TrainingImage", image)

    def _builtin_image(self, path: str, algorithm: catalogue.Algorithm, image: str) -> None:
        region = self.ctx.region
        if region not in algorithm.regions:
            self.add(path, f"SageMaker publishes no {algorithm.display_name} image in {region}; "
                     "choose another algorithm")
            return
        ref = catalogue.parse_image_uri(image)
        # algorithm_for_image matched the image's account, region and repository to one of the algorithm's
        # published images: what is left to check is that it is this region's.
        if ref is not None and ref.region != region:
            self.add(path, f"This {algorithm.display_name} image is from region {ref.region}, but jobs run in "
                     f"{region}: use {algorithm.image_uri(region)}")

    def _custom_image(self, path: str, image: str) -> None:
        if not self.ctx.ecr_enabled:
            self.add(path, f"Custom algorithm images are turned off on this portal (got {show(image)}); choose a "
                     "built-in algorithm, or ask an administrator to allow ECR images")
            return
        if getattr(self.ctx.capabilities, "custom_images", "ecr") != "ecr":
            return  # the engine runs the images it is configured with: its own check says which
        if not allowed_by(image, self.ctx.ecr_allowed):
            entries = (e.strip() for e in self.ctx.ecr_allowed if isinstance(e, str) and e.strip())
            allowed = _names(entries) or "none are configured"
            self.add(path, f"Image {show(image)} is not from a registry this portal allows (allowed: {allowed})")

    def _algorithm_resource(self, path: str, name: str) -> None:
        if not getattr(self.ctx.capabilities, "algorithm_resources", True):
            return  # the engine's own check refuses algorithm resources
        if not self.ctx.ecr_enabled:
            self.add(path, "Custom algorithms are turned off on this portal; choose a built-in algorithm")
        elif not allowed_by(name, self.ctx.ecr_allowed):
            self.add(path, f"Algorithm {show(name)} is not under a prefix this portal allows")

    # -- data channels --
    def channels(self) -> None:
        for definition in self.definitions:
            names: set[str] = set()
            for index, channel in enumerate(_list(definition.data.get("InputDataConfig"))):
                path = f"{definition.path}.InputDataConfig[{index}]"
                channel = _dict(channel)
                name = _str(channel.get("ChannelName"))
                if name is not None:
                    if name in names:
                        self.add(f"{path}.ChannelName", f"Channel name {show(name)} is used twice in this "
                                 "definition")
                    names.add(name)
                source = channel.get("DataSource")
                if not isinstance(source, dict):
                    continue
                given = [k for k in ("S3DataSource", "FileSystemDataSource", "DatasetSource")
                         if source.get(k) is not None]
                if len(given) != 1:
                    self.add(f"{path}.DataSource", "A channel's data source must be exactly one of S3DataSource, "
                             f"FileSystemDataSource and DatasetSource (got {len(given)})")
                self._augmented_manifest(definition, path, channel, _dict(source.get("S3DataSource")))
                if source.get("FileSystemDataSource") is not None and not definition.data.get("VpcConfig"):
                    # SageMaker mounts EFS and FSx for Lustre inside the VPC the training job runs in.
                    self.add(f"{path}.DataSource.FileSystemDataSource", "A file system channel (EFS or FSx for "
                             "Lustre) is mounted through the definition's VPC, and this definition has none: give "
                             "it VPC subnets and security groups (the project's settings set them)")

    def _augmented_manifest(self, definition: _Definition, path: str, channel: dict, s3: dict) -> None:
        """SageMaker reads an augmented manifest in Pipe mode only, and only the attributes it is told to;
        attribute names mean nothing for other data types."""
        s3_path = f"{path}.DataSource.S3DataSource"
        augmented = s3.get("S3DataType") == "AugmentedManifestFile"
        names = s3.get("AttributeNames")
        if not augmented:
            if names:
                self.add(f"{s3_path}.AttributeNames", "Attribute names are read from an augmented manifest only; "
                         "set the data type to AugmentedManifestFile or remove them")
            return
        if not names:
            self.add(f"{s3_path}.AttributeNames", "An augmented manifest needs the names of the attributes to "
                     "read from each of its lines (for example source-ref, class)")
        own = _str(channel.get("InputMode"))
        mode = own or _str(_dict(definition.data.get("AlgorithmSpecification")).get("TrainingInputMode"))
        if mode is not None and mode != "Pipe":
            self.add(f"{path}.InputMode", f"SageMaker reads an augmented manifest in Pipe input mode only (got {mode}); set "
                     "the channel's input mode to Pipe")

    # -- instances, time, environment --
    def resources(self) -> None:
        allowed = set(self.ctx.instance_types) if self.ctx.instance_types is not None else None
        for definition in self.definitions:
            data = definition.data
            spot = data.get("EnableManagedSpotTraining") is True
            resource = data.get("ResourceConfig")
            tuning = data.get("HyperParameterTuningResourceConfig")
            if resource is not None and tuning is not None:
                self.add(definition.path, "Give ResourceConfig or HyperParameterTuningResourceConfig, not both")
            elif resource is None and tuning is None:
                self.add(f"{definition.path}.ResourceConfig", "Resource configuration (instance type and count) is "
                         "required")
            types: list[tuple[str, Any]] = []
            if isinstance(resource, dict):
                path = f"{definition.path}.ResourceConfig"
                types.append((f"{path}.InstanceType", resource.get("InstanceType")))
                for index, group in enumerate(_list(resource.get("InstanceGroups"))):
                    types.append((f"{path}.InstanceGroups[{index}].InstanceType", _dict(group).get("InstanceType")))
                preferences = _list(resource.get("InstancePreferences"))
                for index, preference in enumerate(preferences):
                    types.append((f"{path}.InstancePreferences[{index}].InstanceType",
                                  _dict(preference).get("InstanceType")))
                if preferences and (resource.get("InstanceType") is not None or resource.get("InstanceGroups")
                                    is not None or spot):
                    self.add(f"{path}.InstancePreferences", "Instance preferences cannot be combined with an "
                             "instance type, instance groups or managed spot training")
                if not any(value is not None for _, value in types):
                    self.add(f"{path}.InstanceType", "Choose an instance type")
            if isinstance(tuning, dict):
                path = f"{definition.path}.HyperParameterTuningResourceConfig"
                types.append((f"{path}.InstanceType", tuning.get("InstanceType")))
                configs = _list(tuning.get("InstanceConfigs"))
                for index, config in enumerate(configs):
                    types.append((f"{path}.InstanceConfigs[{index}].InstanceType", _dict(config).get("InstanceType")))
                if configs:
                    for member in ("InstanceType", "InstanceCount", "VolumeSizeInGB"):
                        if tuning.get(member) is not None:
                            self.add(f"{path}.{member}", f"With instance configs, leave out {_label(member).lower()} "
                                     "(each config sets its own)")
                elif tuning.get("InstanceType") is None:
                    self.add(f"{path}.InstanceType", "Choose an instance type (or give instance configs)")
            if allowed is not None:
                for path, value in types:
                    if isinstance(value, str) and value not in allowed:
                        self.add(path, f"Instance type {show(value)} is not offered on this portal (offered: "
                                 f"{_names(self.ctx.instance_types or ()) or 'none'})")

    def stopping(self) -> None:
        for definition in self.definitions:
            path = f"{definition.path}.StoppingCondition"
            stopping = _dict(definition.data.get("StoppingCondition"))
            runtime = _int(stopping.get("MaxRuntimeInSeconds"))
            wait = _int(stopping.get("MaxWaitTimeInSeconds"))
            if runtime is not None and runtime > MAX_TRAINING_RUNTIME_S:
                self.add(f"{path}.MaxRuntimeInSeconds", f"A training job can run at most 28 days "
                         f"({MAX_TRAINING_RUNTIME_S} seconds) (got {format_number(runtime)})")
            if stopping.get("MaxWaitTimeInSeconds") is not None and definition.data.get("EnableManagedSpotTraining") \
                    is not True:
                self.add(f"{path}.MaxWaitTimeInSeconds", "Max wait time is only for managed spot training; turn "
                         "spot training on or remove it")
            elif wait is not None and runtime is not None and wait < runtime:
                self.add(f"{path}.MaxWaitTimeInSeconds", f"Max wait time must be at least the max runtime "
                         f"(got {format_number(wait)} and {format_number(runtime)} seconds)")

    def environment(self) -> None:
        total = sum(len(_dict(d.data.get("Environment"))) for d in self.definitions)
        if total > MAX_ENVIRONMENT_VARIABLES:
            where = self.definitions[-1].path + ".Environment" if self.definitions else ""
            self.add(where, f"At most {MAX_ENVIRONMENT_VARIABLES} environment variables in total across all "
                     f"definitions (got {total})")


# ---- helpers the wizard can use too ------------------------------------------------------------------
def _media_type(content_type: str) -> str:
    """A content type without its parameters, in lower case: text/csv for "text/csv;label_size=1"."""
    return content_type.split(";", 1)[0].strip().lower()


def regex_problem(regex: str) -> str | None:
    """What is wrong with a metric regex (it must compile and capture exactly one group), or None."""
    try:
        compiled = re.compile(regex)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        return f"not a valid regular expression ({exc})"
    if compiled.groups != 1:
        return f"must have exactly one capturing group, the metric's value (has {compiled.groups})"
    return linear_regex_problem(regex)


def linear_regex_problem(regex: str) -> str | None:
    """Why RE2, the linear-time engine every metric regex runs on, cannot run ``regex``, or None."""
    from .metrics import compile_regex

    try:
        compile_regex(regex)
    except ValueError as exc:
        return str(exc)
    return None


def allowed_by(uri: str, prefixes: Iterable[str]) -> bool:
    """Whether ``uri`` starts with one of the allowed registries or prefixes, at a boundary."""
    # A prefix must end at a boundary: "…amazonaws.com" must not admit "…amazonaws.com.evil.example/x",
    # nor "…/team-a" admit "…/team-ab".
    for prefix in prefixes:
        prefix = prefix.strip() if isinstance(prefix, str) else ""
        if not prefix or not uri.startswith(prefix):
            continue
        if len(uri) == len(prefix) or prefix[-1] in "/:@" or uri[len(prefix)] in "/:@":
            return True
    return False


_allowed_by = allowed_by  # the name hpo_jobs.wizard.ecr imports
