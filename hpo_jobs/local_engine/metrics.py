"""The local engine's side of reading metrics: following a growing log file, and its tail.

How a line becomes metric values is SageMaker's rule and lives in ``hpo_jobs.sagemaker.metrics``.
The supervisor follows each training job's log as it is written, once, and keeps the series it
reads (bounded) beside the job's state, where the backend reads them: nobody parses a log again.
"""

from __future__ import annotations

import time
from pathlib import Path

from hpo_jobs.sagemaker.metrics import MAX_LINE_CHARS, Series, cloudwatch_text, compile_definitions, match_line

# A chatty job's log is read this much at a time, so one poll never holds a huge log in memory,
# and never spends more than about a second matching (RE2's worst on long lines, see
# hpo_jobs.sagemaker.metrics): the supervisor still checks stops and runtimes in between.
READ_CHUNK = 1024 * 1024


class LogFollower:
    """Reads a growing log file incrementally and collects the metrics its complete lines emit."""

    def __init__(self, path: Path, definitions: list[dict[str, str]], cpu_budget_s: float = 0) -> None:
        self.path = path
        self.definitions = compile_definitions(definitions)
        self.offset = 0
        self.partial = b""
        self.series = Series()
        # Matching stops once it has cost this much CPU time (0: never): RE2 is linear, but a
        # hostile regex over an endless log of long lines must not keep the supervisor busy for ever.
        self.cpu_budget_s = cpu_budget_s
        self.cpu_s = 0.0
        self.exhausted = False

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
            started = time.process_time()
            for raw in lines:
                if self.exhausted:
                    break
                # Cut before decoding: a line is matched on its first MAX_LINE_CHARS characters only.
                raw = raw[: MAX_LINE_CHARS * 4]
                line = cloudwatch_text(raw.decode("utf-8", errors="replace").rstrip("\r"))
                for name, value in match_line(line, self.definitions):
                    self.series.add(name, value)
                    emitted.append((name, value))
                if self.cpu_budget_s and self.cpu_s + time.process_time() - started > self.cpu_budget_s:
                    self.exhausted = True
            self.cpu_s += time.process_time() - started
            if len(self.partial) > MAX_LINE_CHARS * 4:
                self.partial = self.partial[: MAX_LINE_CHARS * 4]  # a line without end: keep its start only
            if not (final and more):
                return emitted

    def last(self, name: str) -> float | None:
        """The last value ``name`` emitted so far (SageMaker's final metric value), or None."""
        return self.series.last(name)


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
