"""Metrics read from a training job's log the way SageMaker reads them.

SageMaker applies each metric definition's regex to the log lines as CloudWatch Logs holds them,
and the first capture group is the value; the objective's final value is the last one emitted.
CloudWatch shows a tab as ``#011`` (the built-in XGBoost regexes depend on it), so a log is kept
exactly as the process wrote it and rendered through :func:`cloudwatch_text` both for matching and
for showing: the tabs an algorithm prints appear as ``#011`` everywhere, as they would on SageMaker,
and a custom algorithm's regexes are written against the same text its author sees in the portal.
"""

from __future__ import annotations

import math
import re

# A line longer than this is matched on its first part only: a runaway line must not stall the
# reader (CloudWatch cuts events at 256 KB; metric lines are short).
MAX_LINE_CHARS = 16_384


def cloudwatch_text(text: str) -> str:
    """``text`` as CloudWatch Logs shows it: tabs become ``#011``."""
    return text.replace("\t", "#011")


def compile_definitions(definitions: list[dict[str, str]]) -> list[tuple[str, re.Pattern[str]]]:
    """The (name, compiled regex) pairs of SageMaker metric definitions; ValueError on a bad regex."""
    compiled = []
    for definition in definitions:
        name, regex = definition["Name"], definition["Regex"]
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ValueError(f"The regex of metric {name!r} is not valid: {exc}") from None
        if pattern.groups < 1:
            raise ValueError(f"The regex of metric {name!r} has no capture group for the value")
        compiled.append((name, pattern))
    return compiled


def match_line(line: str, definitions: list[tuple[str, re.Pattern[str]]]) -> list[tuple[str, float]]:
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


def parse_text(text: str, definitions: list[dict[str, str]]) -> dict[str, list[float]]:
    """Every value each metric emitted in ``text`` (raw log text), in order."""
    compiled = compile_definitions(definitions)
    values: dict[str, list[float]] = {}
    for line in cloudwatch_text(text).splitlines():
        for name, value in match_line(line, compiled):
            values.setdefault(name, []).append(value)
    return values
