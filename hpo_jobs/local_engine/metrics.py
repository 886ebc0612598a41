"""Metrics read from a training job's log the way SageMaker reads them.

SageMaker applies each metric definition's regex to the log lines as CloudWatch Logs holds them,
and the first capture group is the value; the objective's final value is the last one emitted.
CloudWatch shows a tab as ``#011`` (the built-in XGBoost regexes depend on it), so the engine
keeps each log exactly as the process wrote it and renders it through :func:`cloudwatch_text`
both for matching and for showing: the tabs an algorithm prints appear as ``#011`` everywhere,
as they would on SageMaker, and a custom algorithm's regexes are written against the same text
its author sees in the portal.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

# A line longer than this is matched on its first part only: a runaway line must not stall the
# supervisor (CloudWatch cuts events at 256 KB; metric lines are short).
MAX_LINE_CHARS = 16_384
# A chatty job's log is read this much at a time, so one poll never holds a huge log in memory.
READ_CHUNK = 4 * 1024 * 1024


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


class LogFollower:
    """Reads a growing log file incrementally and collects the metrics its complete lines emit."""

    def __init__(self, path: Path, definitions: list[dict[str, str]]) -> None:
        self.path = path
        self.definitions = compile_definitions(definitions)
        self.offset = 0
        self.partial = b""
        self.values: dict[str, list[float]] = {}

    def poll(self, final: bool = False) -> list[tuple[str, float]]:
        """The metric values emitted since the last call; ``final`` reads to the end, unterminated last line too."""
        emitted: list[tuple[str, float]] = []
        while True:
            try:
                with open(self.path, "rb") as handle:
                    handle.seek(self.offset)
                    chunk = handle.read(READ_CHUNK)
            except FileNotFoundError:
                chunk = b""
            self.offset += len(chunk)
            lines = (self.partial + chunk).split(b"\n")
            more = len(chunk) == READ_CHUNK
            self.partial = b"" if final and not more else lines.pop()
            for raw in lines:
                line = cloudwatch_text(raw.decode("utf-8", errors="replace").rstrip("\r"))
                for name, value in match_line(line, self.definitions):
                    self.values.setdefault(name, []).append(value)
                    emitted.append((name, value))
            if len(self.partial) > MAX_LINE_CHARS * 4:
                self.partial = self.partial[: MAX_LINE_CHARS * 4]  # a line without end: keep its start only
            if not (final and more):
                return emitted

    def last(self, name: str) -> float | None:
        """The last value ``name`` emitted so far (SageMaker's final metric value), or None."""
        values = self.values.get(name)
        return values[-1] if values else None


def tail(path: Path, max_bytes: int) -> str:
    """The last ``max_bytes`` characters of a log, as CloudWatch shows it."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = cloudwatch_text(data.decode("utf-8", errors="replace"))
    return text[-max_bytes:] if max_bytes > 0 else ""
