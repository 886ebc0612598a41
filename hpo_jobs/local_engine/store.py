"""A tuning job's folder on disk: its layout, atomic JSON files and the supervisor lock.

One writer, many readers: whoever holds the folder's supervisor lock (the supervisor, or the
backend while no supervisor runs) is the only process that writes ``state.json``; readers (web,
workers) read whole files, which ``os.replace`` swaps in atomically.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from hpo_jobs.sagemaker.request import TUNING_JOB_ACTIVE_STATUSES

REQUEST = "request.json"  # the CreateHyperParameterTuningJob request, as received
PLAN = "plan.json"  # the request resolved by the backend: commands, channel paths, limits
STATE = "state.json"  # status, training jobs, counters: written by the lock holder only
STOP_REQUESTED = "stop-requested"  # created by stop_tuning_job; the supervisor acts on it
LOCK = "supervisor.lock"  # flock held by the live supervisor for its whole life
JOURNAL = "optuna-journal.log"  # Optuna's JournalStorage: trials survive a restart
SUPERVISOR_LOG = "supervisor.log"
TRAINING_JOBS = "training-jobs"  # one /opt/ml-like directory per training job
LOGS = "logs"  # one log file per training job (stdout and stderr together)
METRICS = "metrics"  # one JSON file per training job: its metric series, written by the supervisor

ACTIVE_STATUSES = TUNING_JOB_ACTIVE_STATUSES


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON so that a reader sees the old file or the new one, never half of one."""
    # dumps, not dump: dump streams through json's pure-Python encoder, several times slower.
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            # fsync so that a machine crash leaves the old or the new state, not an empty file.
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_json(path: Path) -> Any:
    """The JSON document at ``path`` (FileNotFoundError when there is none)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def training_job_dir(folder: Path, training_job_name: str) -> Path:
    """The /opt/ml-like root of one training job."""
    return folder / TRAINING_JOBS / training_job_name


def training_job_log(folder: Path, training_job_name: str) -> Path:
    """The file holding one training job's stdout and stderr."""
    return folder / LOGS / f"{training_job_name}.log"


def training_job_metrics(folder: Path, training_job_name: str) -> Path:
    """The file holding one training job's metric series ({name: [values]}), as read from its log."""
    return folder / METRICS / f"{training_job_name}.json"


class SupervisorLock:
    """The exclusive flock that marks a live supervisor; released by the kernel when its holder dies.

    A flock belongs to the open file description, so a process that takes it can hand it to a child
    (``pass_fds``) and close its own descriptor: the child then holds the lock alone, with no moment
    in which another process could take it.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def adopt(self, fd: int) -> None:
        """Take over a descriptor inherited from the process that acquired the lock."""
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # already ours: succeeds at once
        os.set_inheritable(fd, False)  # training jobs must never hold the supervisor's lock
        self.fd = fd

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases it)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> SupervisorLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def supervisor_alive(folder: Path) -> bool:
    """Whether a process holds the folder's supervisor lock right now."""
    lock = SupervisorLock(folder)
    if lock.try_acquire():
        lock.release()
        return False
    return True
