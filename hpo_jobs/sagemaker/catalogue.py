"""SageMaker's built-in algorithms as data: hyperparameter specs and the rules between them, objective metrics,
metric regexes, channels, images.

Each algorithm is one JSON file in ``catalogue_data/``, holding the SageMaker developer guide's facts
(``catalogue_data/SOURCES.md`` lists the pages, per algorithm). Image URIs are not copied: they come from the
image configuration that AWS ships with ``sagemaker-core`` (every region, version and registry), read by
``image_uri`` below under the same rules as ``sagemaker.core.image_uris.retrieve``. This module loads them
once; everything else asks it, so adding an algorithm means adding a file.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

DATA_DIR = Path(__file__).with_name("catalogue_data")

PARAMETER_TYPES = ("Static", "Integer", "Continuous", "Categorical")
TUNED_TYPES = ("Integer", "Continuous", "Categorical")
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
DIRECTIONS = ("Maximize", "Minimize")
VALUE_TYPES = ("integer", "float", "options", "string")


class UnknownRegionError(ValueError):
    """The catalogue knows no image registry for this algorithm in this region."""


class UnknownVersionError(ValueError):
    """The algorithm has no image of this version."""


# ---- values ---------------------------------------------------------------------------------------
# SageMaker passes every hyperparameter as a string; these read the numbers a person can type, and
# refuse what Python would also accept but SageMaker would not (" 1", "1_000", "nan", "inf").
_INT_RE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_FLOAT_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def parse_int(text: object) -> int | None:
    """The integer written in ``text``, or None when it is not a plain whole number."""
    if not isinstance(text, str) or len(text) > 64 or not _INT_RE.fullmatch(text):
        return None
    return int(text)


def parse_float(text: object) -> float | None:
    """The finite number written in ``text``, or None when it is not a plain decimal number."""
    if not isinstance(text, str) or len(text) > 64 or not _FLOAT_RE.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def format_number(value: float) -> str:
    """A number as a person writes it: 5 rather than 5.0, 1e-07 rather than 0.00000010; huge ones abridged."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) < 10**18:
            return str(value)
        # str() of a huge int is slow, and refused past 4300 digits: give its size instead.
        return f"{'-' if value < 0 else ''}about 10^{int(abs(value).bit_length() * math.log10(2))}"
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(float(value))


def show(value: object, limit: int = 60) -> str:
    """A short, safe rendering of a value a user gave, for messages."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "…"
        return repr(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return format_number(value)
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class HyperparameterSpec:
    """One hyperparameter of a built-in algorithm: the types it may take and the values it accepts."""

    name: str
    allowed_types: tuple[str, ...]
    initial_type: str
    default: str | None
    min_value: float | None
    max_value: float | None
    min_exclusive: bool
    max_exclusive: bool
    options: tuple[str, ...]
    scaling: str
    description: str
    required: bool
    suggested_min: float | None
    suggested_max: float | None
    is_integer: bool
    # "integer"/"float": a number within the bounds, or one of ``options`` (e.g. "auto");
    # "options": one of ``options``; "string": free text (``options`` are only suggestions).
    value_type: str = "string"
    initial_values: tuple[str, ...] = ()  # the values a Categorical range starts with
    multiple: bool = False  # a comma-joined list of options (XGBoost's updater)
    pattern: str | None = None  # a Python regex the whole value must match

    @property
    def tunable(self) -> bool:
        return any(t in TUNED_TYPES for t in self.allowed_types)

    @property
    def is_numeric(self) -> bool:
        return self.value_type in ("integer", "float")

    def tunable_as(self) -> tuple[str, ...]:
        """The range types this hyperparameter may be tuned with: its own, plus Categorical (a list of values)
        for numeric ones, since grid search takes categorical ranges only."""
        types = tuple(t for t in self.allowed_types if t in TUNED_TYPES)
        if types and self.is_numeric and "Categorical" not in types:
            types += ("Categorical",)
        return types

    def bounds_text(self) -> str:
        """The bounds in words, e.g. "between 0 and 1" or "above 0"."""
        lo, hi = self.min_value, self.max_value
        if lo is not None and hi is not None and not self.min_exclusive and not self.max_exclusive:
            return f"between {format_number(lo)} and {format_number(hi)}"
        parts = []
        if lo is not None:
            parts.append(f"{'above' if self.min_exclusive else 'at least'} {format_number(lo)}")
        if hi is not None:
            parts.append(f"{'below' if self.max_exclusive else 'at most'} {format_number(hi)}")
        return " and ".join(parts)

    def within_bounds(self, number: float) -> bool:
        """Whether ``number`` lies within this hyperparameter's bounds."""
        low, high = self.min_value, self.max_value
        if low is not None and (number < low or (self.min_exclusive and number == low)):
            return False
        if high is not None and (number > high or (self.max_exclusive and number == high)):
            return False
        return True

    def parse(self, text: object) -> float | None:
        """The number ``text`` holds for this hyperparameter (whole numbers only when it is an integer)."""
        return parse_int(text) if self.is_integer else parse_float(text)

    def check_value(self, value: object) -> str | None:
        """What is wrong with ``value`` as this hyperparameter's value, in a sentence; None when it is fine."""
        if not isinstance(value, str):
            return f"{self.name} must be given as text (got {show(value)})"
        if self.multiple:
            parts = [part.strip() for part in value.split(",")]
            bad = [part for part in parts if part not in self.options]
            if bad:
                return f"{self.name} takes a comma-separated list of {', '.join(self.options)} (got {show(bad[0])})"
            return None
        if value in self.options:
            return None
        if self.value_type == "options":
            return f"{self.name} must be one of {', '.join(self.options)} (got {show(value)})"
        if self.is_numeric:
            number = self.parse(value)
            if number is None and len(value) > 64 and _FLOAT_RE.fullmatch(value):
                return f"{self.name} is too long: at most 64 characters (got {len(value)})"
            if number is None:
                kind = "a whole number" if self.is_integer else "a number"
                alternatives = f" or one of {', '.join(self.options)}" if self.options else ""
                return f"{self.name} must be {kind}{alternatives} (got {show(value)})"
            if not self.within_bounds(number):
                return f"{self.name} must be {self.bounds_text()} (got {show(value)})"
            return None
        if self.pattern and not re.fullmatch(self.pattern, value):
            example = f", e.g. {self.default}" if self.default else ""
            return f"{self.name} is not in the expected form{example} (got {show(value)})"
        return None


@dataclass(frozen=True)
class ObjectiveMetric:
    """A metric a tuning job may optimise, and which way."""

    name: str
    direction: str  # "Maximize" | "Minimize"


@dataclass(frozen=True)
class ChannelSpec:
    """An input channel of a built-in: its name, whether training needs it, and the content types it reads."""

    name: str
    required: bool
    content_types: tuple[str, ...]  # the first is the default
    description: str = ""

    @property
    def default_content_type(self) -> str:
        return self.content_types[0]


@dataclass(frozen=True)
class ObjectiveRule:
    """A hyperparameter setting without which the algorithm never emits an objective metric
    (BlazingText reports validation:accuracy in supervised mode only)."""

    metrics: tuple[str, ...]
    hyperparameter: str
    values: tuple[str, ...]  # the values under which the metrics are emitted
    default: str | None  # the value SageMaker uses when the hyperparameter is not sent

    def problem(self, metric: str, value: str | None) -> str | None:
        """What is wrong when tuning towards ``metric`` with the hyperparameter at ``value``; None when fine."""
        if metric not in self.metrics:
            return None
        value = self.default if value is None else value
        if value in self.values:
            return None
        shown = "its default" if value is None else show(value)
        allowed = " or ".join(show(v) for v in self.values)
        return (f"{metric} is only reported with {self.hyperparameter} {allowed}; with {shown} no training job "
                f"would report the objective metric")


@dataclass(frozen=True)
class Tuned:
    """How a definition tunes one hyperparameter, as the rules below read it: a Categorical range's values,
    or an Integer or Continuous range's bounds (None where not a number)."""

    kind: str  # "Integer" | "Continuous" | "Categorical"
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class RuleProblem:
    """A hyperparameter rule broken: whose field it belongs next to, which part of a range (None: the value or
    the range's name), and what is wrong."""

    hyperparameter: str
    member: str | None
    message: str


RULE_KINDS = ("only_with", "required_with", "range_with")


@dataclass(frozen=True)
class HyperparameterRule:
    """One hyperparameter's dependency on another's value, as the guide states it.

    ``only_with``: ``hyperparameter`` takes effect only when ``on`` is one of ``values`` (Factorization
    Machines' ``bias_init_scale`` with ``bias_init_method`` uniform), so setting or tuning it otherwise is refused.
    ``required_with``: ``hyperparameter`` must be given when ``on`` is one of ``values`` (XGBoost's ``num_class``
    with a ``multi:`` objective). ``range_with``: a range tuning ``hyperparameter`` must lie within
    ``ranges[v]`` when ``on`` is ``v`` (Seq2Seq's ``weight_init_scale`` per ``weight_init_type``).
    """

    kind: str
    hyperparameter: str
    on: str
    values: tuple[str, ...] = ()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict, hash=False)

    def problems(self, algorithm: Algorithm, static: Mapping[str, str],
                 tuned: Mapping[str, Tuned]) -> list[RuleProblem]:
        """What breaks this rule in a definition with these static values and tuned ranges."""
        possible = _possible_values(algorithm, self.on, static, tuned)
        if possible is None:
            return []  # ``on`` is tuned as a number: its values are not known before the job runs
        name, on = self.hyperparameter, self.on
        given = name in static or name in tuned
        if self.kind == "only_with":
            if not given or possible & set(self.values):
                return []
            allowed = " or ".join(show(v) for v in self.values)
            action = "tuned" if name in tuned else "set"
            return [RuleProblem(name, None, f"{name} takes effect only with {on} {allowed} "
                                            f"({_described(on, possible, static, tuned)}); it would be {action} "
                                            f"for nothing: set {on} to {allowed}, or leave {name} out")]
        if self.kind == "required_with":
            needing = sorted(possible & set(self.values))
            if given or not needing:
                return []
            return [RuleProblem(on, "Values" if on in tuned else None,
                                f"{algorithm.display_name} needs {name} when {on} is {show(needing[0])}")]
        if self.kind == "range_with":
            item = tuned.get(name)
            if item is None or item.kind == "Categorical":
                return []
            ranges = {v: self.ranges[v] for v in sorted(v for v in possible if v is not None) if v in self.ranges}
            if len(set(ranges.values())) > 1:
                shown = "; ".join(f"{show(v)}: {format_number(lo)} to {format_number(hi)}"
                                  for v, (lo, hi) in ranges.items())
                return [RuleProblem(name, None, f"{name}'s range depends on {on} ({shown}); tune {name} with {on} "
                                                f"fixed to one of them")]
            found = []
            for value, (lo, hi) in ranges.items():
                text = f"With {on} {show(value)} the guide's range of {name} is {format_number(lo)} to " \
                       f"{format_number(hi)}"
                if item.low is not None and item.low < lo:
                    found.append(RuleProblem(name, "MinValue", f"{text} (min value is {format_number(item.low)})"))
                if item.high is not None and item.high > hi:
                    found.append(RuleProblem(name, "MaxValue", f"{text} (max value is {format_number(item.high)})"))
            return found
        return []


def _possible_values(algorithm: Algorithm, name: str, static: Mapping[str, str],
                     tuned: Mapping[str, Tuned]) -> set[str | None] | None:
    """The values hyperparameter ``name`` can take in a definition's training jobs (None: not known)."""
    if name in static:
        return {static[name]}
    if name in tuned:
        item = tuned[name]
        return set(item.values) if item.kind == "Categorical" else None
    spec = algorithm.hyperparameter(name)
    return {spec.default if spec is not None else None}


def _described(name: str, possible: set[str | None], static: Mapping[str, str], tuned: Mapping[str, Tuned]) -> str:
    if name in static:
        return f"it is {show(static[name])}"
    if name in tuned:
        return f"it is tuned over {', '.join(show(v) for v in sorted(v for v in possible if v is not None))}"
    (value,) = possible
    return f"it is left at its default, {show(value)}" if value is not None else "it is not set"


@dataclass(frozen=True)
class ImageVersion:
    """One version of a built-in's training image, as sagemaker-core's image configuration lists it."""

    version: str
    repository: str
    tag: str
    registries: Mapping[str, str] = field(hash=False)  # region -> the AWS account of its registry


@dataclass(frozen=True)
class Algorithm:
    """A built-in algorithm: what it accepts, what it reports, and where its image lives."""

    key: str
    display_name: str
    description: str
    hyperparameters: tuple[HyperparameterSpec, ...]
    objective_metrics: tuple[ObjectiveMetric, ...]
    metric_regexes: tuple[tuple[str, str], ...]
    image_framework: str  # the name of its image configuration in sagemaker-core (``retrieve``'s framework)
    runnable_locally: bool
    default_input_mode: str
    supports_early_stopping: bool
    # With early stopping supported: the objective metrics it works with (empty: all of them).
    early_stopping_metrics: tuple[str, ...]
    channels: tuple[ChannelSpec, ...] = ()
    objective_rules: tuple[ObjectiveRule, ...] = ()
    hyperparameter_rules: tuple[HyperparameterRule, ...] = ()
    # The objective metric and the static hyperparameter values a new definition starts with.
    default_objective_name: str | None = None
    default_static_values: Mapping[str, str] = field(default_factory=dict, hash=False)
    input_modes: tuple[str, ...] = ("File", "Pipe")
    default_instance_type: str | None = None  # where the algorithm trains on GPUs only
    pinned_version: str | None = None  # the data file's choice of default version, when not the newest

    @property
    def metric_definitions(self) -> tuple[dict[str, str], ...]:
        """SageMaker-shaped ``{"Name", "Regex"}`` items; fresh dicts, so a caller cannot alter the catalogue."""
        return tuple({"Name": name, "Regex": regex} for name, regex in self.metric_regexes)

    @property
    def default_objective(self) -> ObjectiveMetric:
        if self.default_objective_name:
            found = self.objective_metric(self.default_objective_name)
            if found is not None:
                return found
        return self.objective_metrics[0]

    @property
    def required_hyperparameters(self) -> tuple[HyperparameterSpec, ...]:
        return tuple(hp for hp in self.hyperparameters if hp.required)

    @property
    def required_channels(self) -> tuple[ChannelSpec, ...]:
        return tuple(c for c in self.channels if c.required)

    def channel(self, name: str) -> ChannelSpec | None:
        """The spec of channel ``name``, or None when the algorithm reads no such channel."""
        return next((c for c in self.channels if c.name == name), None)

    def hyperparameter(self, name: str) -> HyperparameterSpec | None:
        """The spec of hyperparameter ``name``, or None when this algorithm has no such hyperparameter."""
        return _hp_index(self.key).get(name)

    def objective_metric(self, name: str) -> ObjectiveMetric | None:
        """The objective metric called ``name``, or None when tuning cannot optimise it for this algorithm."""
        return next((m for m in self.objective_metrics if m.name == name), None)

    def objective_problems(self, metric: str, static_values: Mapping[str, str]) -> list[tuple[str, str]]:
        """(hyperparameter, message) for each static setting under which ``metric`` is never reported."""
        problems = []
        for rule in self.objective_rules:
            problem = rule.problem(metric, static_values.get(rule.hyperparameter))
            if problem:
                problems.append((rule.hyperparameter, problem))
        return problems

    def hyperparameter_problems(self, static: Mapping[str, str],
                                tuned: Mapping[str, Tuned] | None = None) -> list[RuleProblem]:
        """What breaks the guide's rules between hyperparameters (``hyperparameter_rules``) in a definition with
        these static values and tuned ranges."""
        tuned = tuned or {}
        return [problem for rule in self.hyperparameter_rules for problem in rule.problems(self, static, tuned)]

    def early_stopping_works_with(self, metric_name: str) -> bool:
        """Whether early stopping (Auto) is supported when tuning towards ``metric_name``."""
        if not self.supports_early_stopping:
            return False
        return not self.early_stopping_metrics or metric_name in self.early_stopping_metrics

    # ---- images ----
    @property
    def image_versions(self) -> tuple[ImageVersion, ...]:
        """Every version of the training image, in sagemaker-core's order."""
        return image_versions(self.image_framework)

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(v.version for v in self.image_versions)

    @property
    def default_version(self) -> str:
        """The version a new definition uses: the data file's pin, else the newest one the library lists."""
        if self.pinned_version in self.versions:
            return self.pinned_version  # type: ignore[return-value]
        return max(self.versions, key=version_key)

    @property
    def regions(self) -> frozenset[str]:
        """The regions the default version's image is published in."""
        return frozenset(self.image_version().registries)

    def image_version(self, version: str | None = None) -> ImageVersion:
        """The image of ``version`` (default: ``default_version``); UnknownVersionError when there is none."""
        wanted = version or self.default_version
        found = next((v for v in self.image_versions if v.version == wanted), None)
        if found is None:
            raise UnknownVersionError(
                f"{self.display_name} has no image version {show(wanted)} (versions: {', '.join(self.versions)})"
            )
        return found

    def registry(self, region: str, version: str | None = None) -> str:
        """The registry host of this algorithm's image in ``region``."""
        image = self.image_version(version)
        account = image.registries.get(region) if isinstance(region, str) else None
        if account is None:
            known = ", ".join(sorted(image.registries)) or "none"
            raise UnknownRegionError(
                f"The catalogue has no image registry for {self.display_name} in region {show(region)} "
                f"(regions known: {known})"
            )
        return f"{account}.dkr.ecr.{region}.{dns_suffix(region)}"

    def image_uri(self, region: str, version: str | None = None) -> str:
        """The training image URI of this algorithm in ``region``; UnknownRegionError when not known."""
        image = self.image_version(version)
        return f"{self.registry(region, version)}/{image.repository}:{image.tag}"

    def version_of_image(self, uri: str) -> str | None:
        """The version whose image ``uri`` is (by repository and tag), or None."""
        ref = parse_image_uri(uri)
        if ref is None:
            return None
        return next((v.version for v in self.image_versions if (v.repository, v.tag) == (ref.repository, ref.tag)),
                    None)


def version_key(version: str) -> tuple[int, Any]:
    """A sort key of image versions: PEP 440 ones in order, after any that are not."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


# ---- images: sagemaker-core's image configuration ---------------------------------------------------
# Importing sagemaker.core.image_uris costs seconds and a thousand modules (pandas among them), so the
# wizard reads the JSON that the package ships, through the installed distribution's file list (which
# imports nothing), and applies retrieve()'s rules for the image scope "training" and no instance type.
# tests/test_catalogue_images.py checks that the result is exactly what retrieve() gives.
IMAGE_SCOPE = "training"
IMAGE_CONFIG_PACKAGE = "sagemaker-core"
IMAGE_CONFIG_DIR = "sagemaker/core/image_uri_config"


@cache
def image_config(framework: str) -> dict[str, Any]:
    """The training-scope image configuration sagemaker-core ships for ``framework``."""
    path = importlib.metadata.distribution(IMAGE_CONFIG_PACKAGE).locate_file(f"{IMAGE_CONFIG_DIR}/{framework}.json")
    config = json.loads(Path(str(path)).read_text(encoding="utf-8"))
    # retrieve's _config_for_framework_and_scope: one config for every listed scope, or one per scope.
    if "scope" in config:
        if IMAGE_SCOPE not in config["scope"]:
            raise ValueError(f"{framework}: sagemaker-core has no {IMAGE_SCOPE} image")
        return config
    return config[IMAGE_SCOPE]


def _image_tag(version: str, config: dict[str, Any], version_config: dict[str, Any]) -> str:
    # retrieve's tag: prefix, the processor (when only one is listed), the Python version (when only
    # one), the container version, joined with "-".
    processors = config.get("processors") or version_config.get("processors") or []
    processor = processors[0] if len(processors) == 1 else None
    py_versions = version_config.get("py_versions") or []
    py_version = py_versions[0] if len(py_versions) == 1 else None
    container = (version_config.get("container_version") or {}).get(processor) if processor else None
    if not version_config.get("processor_in_tag", True):
        processor = None
    prefix = version_config.get("tag_prefix", version)
    return "-".join(part for part in (prefix, processor, py_version, container) if part)


@cache
def image_versions(framework: str) -> tuple[ImageVersion, ...]:
    """Every training image version of ``framework``, with its repository, tag and registries per region."""
    config = image_config(framework)
    versions = []
    for version, version_config in config["versions"].items():
        versions.append(ImageVersion(version=version, repository=version_config["repository"],
                                     tag=_image_tag(version, config, version_config),
                                     registries=dict(version_config["registries"])))
    return tuple(versions)


# ---- regions --------------------------------------------------------------------------------------
@cache
def _partitions() -> tuple[tuple[frozenset[str], re.Pattern[str], str], ...]:
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("endpoints")
    return tuple(
        (frozenset(p.get("regions", {})), re.compile(p["regionRegex"]), p["dnsSuffix"]) for p in data["partitions"]
    )


@cache
def dns_suffix(region: str) -> str:
    """The DNS suffix of ``region``'s partition (amazonaws.com, amazonaws.com.cn, ...), from botocore's data."""
    for regions, _, suffix in _partitions():
        if region in regions:
            return suffix
    for _, pattern, suffix in _partitions():
        if pattern.match(region):
            return suffix
    return "amazonaws.com"


# ---- loading --------------------------------------------------------------------------------------
def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _load_hyperparameter(raw: dict) -> HyperparameterSpec:
    return HyperparameterSpec(
        name=raw["name"],
        allowed_types=tuple(raw["allowed_types"]),
        initial_type=raw["initial_type"],
        default=raw.get("default"),
        min_value=_number(raw.get("min")),
        max_value=_number(raw.get("max")),
        min_exclusive=bool(raw.get("min_exclusive")),
        max_exclusive=bool(raw.get("max_exclusive")),
        options=tuple(raw.get("options") or ()),
        scaling=raw.get("scaling") or "Auto",
        description=raw["description"],
        required=bool(raw.get("required")),
        suggested_min=_number(raw.get("suggested_min")),
        suggested_max=_number(raw.get("suggested_max")),
        is_integer=raw["value_type"] == "integer",
        value_type=raw["value_type"],
        initial_values=tuple(raw.get("initial_values") or ()),
        multiple=bool(raw.get("multiple")),
        pattern=raw.get("pattern"),
    )


def _load_channel(raw: dict) -> ChannelSpec:
    return ChannelSpec(name=raw["name"], required=bool(raw.get("required")),
                       content_types=tuple(raw["content_types"]), description=raw.get("description") or "")


def _load_rule(raw: dict) -> ObjectiveRule:
    return ObjectiveRule(metrics=tuple(raw["metrics"]), hyperparameter=raw["hyperparameter"],
                         values=tuple(raw["values"]), default=raw.get("default"))


def _load_hyperparameter_rule(raw: dict) -> HyperparameterRule:
    if raw["kind"] not in RULE_KINDS:
        raise KeyError(f"rule kind {raw['kind']!r}")
    ranges = {value: (float(low), float(high)) for value, (low, high) in (raw.get("ranges") or {}).items()}
    return HyperparameterRule(kind=raw["kind"], hyperparameter=raw["hyperparameter"], on=raw["on"],
                              values=tuple(raw.get("values") or ()), ranges=ranges)


def _load(path: Path) -> tuple[int, Algorithm]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    try:
        algorithm = Algorithm(
            key=raw["key"],
            display_name=raw["display_name"],
            description=raw["description"],
            hyperparameters=tuple(_load_hyperparameter(hp) for hp in raw["hyperparameters"]),
            objective_metrics=tuple(ObjectiveMetric(m["name"], m["direction"]) for m in raw["objective_metrics"]),
            metric_regexes=tuple((m["Name"], m["Regex"]) for m in raw["metric_definitions"]),
            image_framework=raw["image_framework"],
            runnable_locally=bool(raw["runnable_locally"]),
            default_input_mode=raw.get("default_input_mode", "File"),
            supports_early_stopping=bool(raw.get("supports_early_stopping")),
            early_stopping_metrics=tuple(raw.get("early_stopping_metrics") or ()),
            channels=tuple(_load_channel(c) for c in raw.get("channels") or ()),
            objective_rules=tuple(_load_rule(r) for r in raw.get("objective_rules") or ()),
            hyperparameter_rules=tuple(_load_hyperparameter_rule(r) for r in raw.get("hyperparameter_rules") or ()),
            default_objective_name=raw.get("default_objective"),
            default_static_values=dict(raw.get("default_static_values") or {}),
            input_modes=tuple(raw.get("input_modes") or ("File", "Pipe")),
            default_instance_type=raw.get("default_instance_type"),
            pinned_version=raw.get("default_version"),
        )
    except (KeyError, TypeError) as exc:
        # A broken data file must stop the process at start-up, naming the file.
        raise ValueError(f"{path.name}: malformed catalogue entry ({exc!r})") from exc
    if algorithm.key != path.stem:
        raise ValueError(f"{path.name}: key {algorithm.key!r} does not match the file name")
    return raw.get("position", 1000), algorithm


def _load_all() -> dict[str, Algorithm]:
    loaded = sorted((_load(path) for path in DATA_DIR.glob("*.json")), key=lambda item: (item[0], item[1].key))
    return {algorithm.key: algorithm for _, algorithm in loaded}


ALGORITHMS: dict[str, Algorithm] = _load_all()


@cache
def _hp_index(key: str) -> dict[str, HyperparameterSpec]:
    return {hp.name: hp for hp in ALGORITHMS[key].hyperparameters}


# ---- lookups --------------------------------------------------------------------------------------
def get(key: str) -> Algorithm:
    """The algorithm called ``key``; KeyError when the catalogue has none."""
    try:
        return ALGORITHMS[key]
    except (KeyError, TypeError):
        raise KeyError(f"No built-in algorithm {key!r}") from None


def choices() -> list[tuple[str, str]]:
    """(key, display name) pairs for a form's select, in display order."""
    return [(algorithm.key, algorithm.display_name) for algorithm in ALGORITHMS.values()]


_HOST_RE = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<suffix>[a-z0-9.-]+)", re.ASCII)


@dataclass(frozen=True)
class ImageReference:
    """An ECR image URI taken apart: registry host, account, region, repository, tag or digest."""

    host: str
    account: str
    region: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image_uri(uri: object) -> ImageReference | None:
    """The parts of an ECR image URI (``host/repository[:tag|@digest]``), or None when it is not one."""
    if not isinstance(uri, str) or len(uri) > 2048:
        return None
    host, slash, rest = uri.partition("/")
    match = _HOST_RE.fullmatch(host)
    if not slash or not rest or match is None or match["suffix"] != dns_suffix(match["region"]):
        return None
    digest = None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
    tag = None
    repository = rest
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = rest.rpartition(":")
    if not repository:
        return None
    return ImageReference(host, match["account"], match["region"], repository, tag, digest)


@cache
def _image_index() -> dict[tuple[str, str, str], Algorithm]:
    return {
        (account, region, image.repository): algorithm
        for algorithm in ALGORITHMS.values()
        for image in algorithm.image_versions
        for region, account in image.registries.items()
    }


def algorithm_for_image(uri: str) -> Algorithm | None:
    """The built-in algorithm whose image ``uri`` is (any version's registry in any region, any tag), or None
    for a custom image."""
    ref = parse_image_uri(uri)
    if ref is None:
        return None
    return _image_index().get((ref.account, ref.region, ref.repository))
