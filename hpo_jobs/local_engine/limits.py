"""The limits each training process runs under, and the failure reason that names the one it hit.

The plan carries them (``plan["limits"]``, resolved from settings by the backend): address space
(``RLIMIT_AS``), CPU time (``RLIMIT_CPU``), file size (``RLIMIT_FSIZE``), applied to the process
before it starts and inherited by whatever it starts; and the size of its log, which the
supervisor watches. A value of 0 means no limit.

The process limits are set by util-linux's ``prlimit`` (``prlimit_argv``), which sets them on
itself and execs the training job's command in the same process: the supervisor then starts it
with vfork, not a fork of its whole memory followed by Python code in the child (``apply``, the
fallback where there is no prlimit).
"""

from __future__ import annotations

import functools
import resource
import shutil
import signal
from typing import Any

MB = 1024 * 1024
CPU_GRACE_S = 5  # SIGXCPU at the limit, SIGKILL this much later
# What a process that ran out of address space says (Python, C++, C libraries).
_OUT_OF_MEMORY = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory", "[Errno 12]")
_FILE_TOO_LARGE = ("File too large", "[Errno 27]")  # Python ignores SIGXFSZ: the write fails instead


def size_text(mb: int) -> str:
    """``mb`` megabytes in words: ``4 GiB``, ``512 MiB``."""
    return f"{mb // 1024} GiB" if mb >= 1024 and mb % 1024 == 0 else f"{mb} MiB"


def memory_message(limits: dict[str, Any]) -> str:
    return f"Training job exceeded the memory limit of {size_text(limits['memory_mb'])} (HPO_LOCAL_MAX_MEMORY_MB)"


def cpu_message(limits: dict[str, Any]) -> str:
    return f"Training job exceeded the CPU time limit of {limits['cpu_s']} s (HPO_LOCAL_MAX_CPU_S)"


def file_message(limits: dict[str, Any]) -> str:
    return f"Training job exceeded the file size limit of {size_text(limits['file_mb'])} (HPO_LOCAL_MAX_FILE_MB)"


def metrics_message(limits: dict[str, Any]) -> str:
    return (f"Training job's metric regexes used up their {limits['metrics_cpu_s']} s of matching on its log "
            "(HPO_LOCAL_MAX_METRICS_CPU_S): make the log shorter or the regexes simpler")


def log_message(limits: dict[str, Any]) -> str:
    return f"Training job exceeded the log limit of {size_text(limits['log_mb'])} (HPO_LOCAL_MAX_LOG_MB)"


def apply(limits: dict[str, Any]) -> None:
    """Set the process's own limits (run in the child between fork and exec)."""
    if limits.get("memory_mb"):
        size = limits["memory_mb"] * MB
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    if limits.get("cpu_s"):
        resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + CPU_GRACE_S))
    if limits.get("file_mb"):
        size = limits["file_mb"] * MB
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


@functools.lru_cache(maxsize=1)
def prlimit_path() -> str | None:
    """util-linux's prlimit (essential on Debian), or None where there is none."""
    return shutil.which("prlimit", path="/usr/bin:/bin")


def prlimit_argv(limits: dict[str, Any]) -> list[str] | None:
    """The ``prlimit ... --`` prefix that starts a command under the same limits as ``apply`` (soft
    and hard), [] when there are none to set, or None when prlimit is missing (use ``apply``)."""
    options = []
    if limits.get("memory_mb"):
        options.append(f"--as={limits['memory_mb'] * MB}")
    if limits.get("cpu_s"):
        options.append(f"--cpu={limits['cpu_s']}:{limits['cpu_s'] + CPU_GRACE_S}")
    if limits.get("file_mb"):
        options.append(f"--fsize={limits['file_mb'] * MB}")
    if not options:
        return []
    path = prlimit_path()
    return [path, *options, "--"] if path else None


def death_signal(returncode: int | None, sandboxed: bool) -> int | None:
    """The signal that ended a training process (bwrap reports its child's as 128 + the signal)."""
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if sandboxed and returncode > 128:
        return returncode - 128
    return None


def exceeded(returncode: int | None, text: str, limits: dict[str, Any], sandboxed: bool) -> str | None:
    """The limit a failed training process hit, in words, judged from how it ended and what it last
    wrote (``text``: its failure file and the end of its log); None when it hit none."""
    sig = death_signal(returncode, sandboxed)
    if limits.get("cpu_s") and sig == signal.SIGXCPU:
        return cpu_message(limits)
    if limits.get("file_mb") and (sig == signal.SIGXFSZ or any(t in text for t in _FILE_TOO_LARGE)):
        return file_message(limits)
    if limits.get("memory_mb") and any(t in text for t in _OUT_OF_MEMORY):
        return memory_message(limits)
    return None
