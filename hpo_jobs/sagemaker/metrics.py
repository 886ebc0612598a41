"""Metrics read from a training job's log the way SageMaker reads them.

SageMaker applies each metric definition's regex to the log lines as CloudWatch Logs holds them,
and the first capture group is the value; the objective's final value is the last one emitted.
CloudWatch shows a tab as ``#011`` (the built-in XGBoost regexes depend on it), so a log is kept
exactly as the process wrote it and rendered through :func:`cloudwatch_text` both for matching and
for showing: the tabs an algorithm prints appear as ``#011`` everywhere, as they would on SageMaker,
and a custom algorithm's regexes are written against the same text its author sees in the portal.

Every metric regex runs on RE2 (the ``google-re2`` package), whose matching time is linear in the
line's length times the pattern's compiled size, and both are bounded here: lines are cut to
``MAX_LINE_CHARS`` and a pattern whose program is above ``MAX_PROGRAM_SIZE`` is refused. So no
regex a member writes (``(a+)+$``...) can make a reader backtrack for ever. RE2 has no
backreferences or lookarounds; a pattern that needs them is refused when the job is submitted.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any

import re2

# A line longer than this is matched on its first part only: a runaway line must not stall the
# reader (CloudWatch cuts events at 256 KB; metric lines are short).
MAX_LINE_CHARS = 2_048
# RE2's compiled size of a pattern (its instructions): the catalogue's regexes are below 150.
# With the line cut above it bounds the work per line: about 4 ms for the most hostile pattern
# accepted, on a cut line, on a 2026 server core (bench/bench_training_job_page.py measures it).
MAX_PROGRAM_SIZE = 500
# Each metric keeps its last this many values (a training job's curve; the final value is the last).
MAX_POINTS = 1_000
# At most this many metrics are kept per training job (SageMaker allows 40 metric definitions).
MAX_METRICS = 40

Pattern = Any  # re2's compiled pattern (``re2._Regexp``); the package ships no type stubs


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a member's bad pattern is reported to them, not to stderr
    return options


def compile_regex(regex: str) -> Pattern:
    """``regex`` compiled by RE2; ValueError saying why RE2 cannot run it, or why it is too large."""
    try:
        pattern = re2.compile(regex, _options())
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        try:
            re.compile(regex)
        except (re.error, OverflowError, RecursionError, ValueError) as syntax:
            raise ValueError(f"is not valid: {syntax}") from None
        raise ValueError(
            "uses something the portal's linear-time regex engine (RE2) cannot run, such as a "
            f"backreference, a lookahead or lookbehind, or a repetition above 1000 ({detail})"
        ) from None
    if pattern.programsize > MAX_PROGRAM_SIZE:
        raise ValueError(
            f"is too complex to match quickly: its compiled size is {pattern.programsize}, above "
            f"{MAX_PROGRAM_SIZE} (use fewer or smaller counted repetitions such as {{100}})"
        )
    return pattern


def cloudwatch_text(text: str) -> str:
    """``text`` as CloudWatch Logs shows it: tabs become ``#011``."""
    return text.replace("\t", "#011")


def compile_definitions(definitions: list[dict[str, str]]) -> list[tuple[str, Pattern]]:
    """The (name, RE2-compiled regex) pairs of SageMaker metric definitions; ValueError on a bad regex."""
    compiled = []
    for definition in definitions:
        name, regex = definition["Name"], definition["Regex"]
        try:
            pattern = compile_regex(regex)
        except ValueError as exc:
            raise ValueError(f"The regex of metric {name!r} {exc}") from None
        if pattern.groups < 1:
            raise ValueError(f"The regex of metric {name!r} has no capture group for the value")
        compiled.append((name, pattern))
    return compiled


def match_line(line: str, definitions: list[tuple[str, Pattern]]) -> list[tuple[str, float]]:
    """The (metric, value) pairs one CloudWatch-form log line emits, in definition order."""
    line = line[:MAX_LINE_CHARS]
    found = []
    for name, pattern in definitions:
        match = pattern.search(line)
        if match is None or match.group(1) is None:
            continue
        try:
            value = float(match.group(1))
        except ValueError:
            continue
        if math.isfinite(value):  # SageMaker drops NaN and infinities: they cannot be compared
            found.append((name, value))
    return found


class Series:
    """Every metric's values in the order emitted, the last ``MAX_POINTS`` of each (``MAX_METRICS`` metrics)."""

    def __init__(self) -> None:
        self.values: dict[str, deque[float]] = {}

    def add(self, name: str, value: float) -> None:
        """Record one value of ``name``."""
        values = self.values.get(name)
        if values is None:
            if len(self.values) >= MAX_METRICS:
                return
            values = self.values[name] = deque(maxlen=MAX_POINTS)
        values.append(value)

    def last(self, name: str) -> float | None:
        """The last value ``name`` emitted, or None."""
        values = self.values.get(name)
        return values[-1] if values else None

    def to_json(self) -> dict[str, list[float]]:
        """The series as plain lists, for storing."""
        return {name: list(values) for name, values in self.values.items()}


def parse_text(text: str, definitions: list[dict[str, str]]) -> dict[str, list[float]]:
    """The values each metric emitted in ``text`` (raw log text), in order (the last ``MAX_POINTS``)."""
    compiled = compile_definitions(definitions)
    series = Series()
    for line in cloudwatch_text(text).splitlines():
        for name, value in match_line(line, compiled):
            series.add(name, value)
    return series.to_json()


def definitions_for(spec: dict[str, Any]) -> list[dict[str, str]]:
    """The regexes SageMaker reads a training job's metrics with, from its AlgorithmSpecification:
    the built-in algorithm's own (SageMaker adds them for built-ins) and then the definition's."""
    from . import catalogue

    found: dict[str, dict[str, str]] = {}
    image = spec.get("TrainingImage") or ""
    try:
        algorithm = catalogue.algorithm_for_image(image) if image else None
    except Exception:  # noqa: BLE001 - an image the catalogue cannot read is a custom one
        algorithm = None
    if algorithm is not None:
        for item in algorithm.metric_definitions:
            found[item["Name"]] = item
    for item in spec.get("MetricDefinitions") or []:
        if isinstance(item, dict) and item.get("Name") and item.get("Regex"):
            found[item["Name"]] = {"Name": item["Name"], "Regex": item["Regex"]}
    return list(found.values())
