"""Hyperparameter ranges: parsed from a SageMaker request, and sampled through an Optuna trial.

Scaling types follow SageMaker's definitions:
- Linear (and Auto, for which the local engine always picks linear): uniform between min and max.
- Logarithmic: log-uniform; min must be above 0.
- ReverseLogarithmic: continuous only, 0 <= min <= max < 1; ``1 - x`` is log-uniform, which puts
  more samples close to 1 (SageMaker's description). The trial samples ``1 - x`` log-uniformly
  between ``1 - max`` and ``1 - min``, so Optuna's model sees the scale the search works on, and
  the training job receives ``x``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from hpo_jobs.sagemaker.request import HYPERBAND_EPOCH_HYPERPARAMETERS, MAX_TUNED_HYPERPARAMETERS

MAX_TUNED = MAX_TUNED_HYPERPARAMETERS  # SageMaker's limit, across the three lists
MAX_CATEGORICAL_VALUES = 30
SCALING_TYPES = ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic")
# SageMaker infers Hyperband's MaxResource from the first of these static hyperparameters.
EPOCH_HYPERPARAMETERS = HYPERBAND_EPOCH_HYPERPARAMETERS


@dataclass(frozen=True)
class Range:
    """One tuned hyperparameter: kind is "integer", "continuous" or "categorical"."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    scaling: str = "Auto"
    values: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["values"] = list(self.values)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Range:
        return cls(**{**data, "values": tuple(data.get("values") or ())})


def _number(text: Any, what: str, integer: bool) -> float:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be given as text (got {type(text).__name__})")
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{what} must be {kind} (got {text!r})") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number (got {text!r})")
    return value


def parse_ranges(parameter_ranges: dict[str, Any] | None) -> list[Range]:
    """The ranges of a SageMaker ParameterRanges structure; ValueError with a clear message when invalid."""
    parameter_ranges = parameter_ranges or {}
    if parameter_ranges.get("AutoParameters"):
        raise ValueError("AutoParameters (Autotune) are not supported by the local engine")
    ranges: list[Range] = []
    for key, kind in (
        ("IntegerParameterRanges", "integer"),
        ("ContinuousParameterRanges", "continuous"),
        ("CategoricalParameterRanges", "categorical"),
    ):
        for item in parameter_ranges.get(key) or []:
            name = item.get("Name")
            if not isinstance(name, str) or not name:
                raise ValueError(f"Every item of {key} needs a Name")
            if kind == "categorical":
                values = item.get("Values") or []
                if not 1 <= len(values) <= MAX_CATEGORICAL_VALUES or not all(isinstance(v, str) for v in values):
                    raise ValueError(f"{name}: a categorical range takes 1 to {MAX_CATEGORICAL_VALUES} text values")
                if len(set(values)) != len(values):
                    raise ValueError(f"{name}: the categorical values repeat a value")
                ranges.append(Range(name, kind, values=tuple(values)))
                continue
            integer = kind == "integer"
            low = _number(item.get("MinValue"), f"{name}: MinValue", integer)
            high = _number(item.get("MaxValue"), f"{name}: MaxValue", integer)
            scaling = item.get("ScalingType") or "Auto"
            if scaling not in SCALING_TYPES:
                raise ValueError(f"{name}: ScalingType must be one of {', '.join(SCALING_TYPES)}")
            if low > high:
                raise ValueError(f"{name}: MinValue is above MaxValue")
            if scaling == "Logarithmic" and low <= 0:
                raise ValueError(f"{name}: Logarithmic scaling needs values above 0")
            if scaling == "ReverseLogarithmic":
                if integer:
                    raise ValueError(f"{name}: ReverseLogarithmic scaling is for continuous ranges only")
                if not (0 <= low and high < 1):
                    raise ValueError(f"{name}: ReverseLogarithmic scaling needs 0 <= values < 1")
            ranges.append(Range(name, kind, low=low, high=high, scaling=scaling))
    names = [r.name for r in ranges]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"Hyperparameter {duplicates[0]} is given more than one range")
    if len(ranges) > MAX_TUNED:
        raise ValueError(f"At most {MAX_TUNED} hyperparameters can be tuned (got {len(ranges)})")
    return sorted(ranges, key=lambda r: r.name)


def format_value(value: float | int | str) -> str:
    """A sampled value as the string SageMaker passes in hyperparameters.json."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def suggest(trial: Any, ranges: list[Range]) -> dict[str, str]:
    """Ask an Optuna trial for a value of every range; the values as strings, by name."""
    chosen: dict[str, str] = {}
    for r in ranges:
        if r.kind == "categorical":
            value: float | int | str = trial.suggest_categorical(r.name, list(r.values))
        elif r.kind == "integer":
            value = trial.suggest_int(r.name, int(r.low), int(r.high), log=r.scaling == "Logarithmic")
        elif r.scaling == "ReverseLogarithmic":
            # Optuna sees y = 1 - x on a log scale; float rounding may step just past a bound.
            y = trial.suggest_float(r.name, 1.0 - r.high, 1.0 - r.low, log=True)
            value = min(max(1.0 - y, r.low), r.high)
        else:
            value = trial.suggest_float(r.name, r.low, r.high, log=r.scaling == "Logarithmic")
        chosen[r.name] = format_value(value)
    return chosen


def distribution(r: Range) -> BaseDistribution:
    """The Optuna distribution :func:`suggest` samples ``r`` from (ReverseLogarithmic: of ``1 - x``)."""
    if r.kind == "categorical":
        return CategoricalDistribution(list(r.values))
    if r.kind == "integer":
        return IntDistribution(int(r.low), int(r.high), log=r.scaling == "Logarithmic")
    if r.scaling == "ReverseLogarithmic":
        return FloatDistribution(1.0 - r.high, 1.0 - r.low, log=True)
    return FloatDistribution(r.low, r.high, log=r.scaling == "Logarithmic")


def internal_value(r: Range, text: str | None) -> float | int | str | None:
    """The value Optuna keeps for ``r`` when a training job ran with ``text``; None when it does not fit ``r``."""
    if text is None:
        return None
    if r.kind == "categorical":
        return text if text in r.values else None
    try:
        number = float(text)
    except ValueError:
        return None
    if not (r.low <= number <= r.high):
        return None
    if r.kind == "integer":
        return int(number) if number.is_integer() else None
    return 1.0 - number if r.scaling == "ReverseLogarithmic" else number


def grid(ranges: list[Range]) -> dict[str, list[str]]:
    """The search space of Optuna's GridSampler; ValueError unless every range is categorical."""
    numeric = [r.name for r in ranges if r.kind != "categorical"]
    if numeric:
        raise ValueError(
            f"Grid search takes categorical ranges only; {', '.join(numeric)} "
            "must become categorical (list the values to try)"
        )
    if not ranges:
        raise ValueError("Grid search needs at least one categorical range")
    return {r.name: list(r.values) for r in ranges}


def infer_max_resource(static: dict[str, str]) -> int | None:
    """Hyperband's MaxResource when the request leaves it out: the epochs static hyperparameter."""
    for name in EPOCH_HYPERPARAMETERS:
        if name in static:
            try:
                value = int(static[name])
            except ValueError:
                return None
            return value if value >= 1 else None
    return None
