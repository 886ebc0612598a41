"""The machine's training slots: at most N training processes at once across every tuning job and
every worker that shares the engine's folder, granted first come, first served.

A slot is an ``flock`` on one of N files in ``<engine dir>/.slots/``; the supervisor holds it while
its training job's process runs, and the kernel releases it if the supervisor dies. Waiting is a
queue of ticket files named by the time they were taken: a supervisor that wants a slot takes a
ticket (holding an flock on it for as long as it waits), and only the oldest live ticket may take
a free slot. A supervisor takes one ticket at a time and queues again after each slot, so tuning
jobs take turns. A ticket whose flock nobody holds belongs to a dead supervisor and is removed.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from pathlib import Path

SLOTS_DIR = ".slots"  # a dot: never a tuning job's folder (job names are letters, digits, hyphens)
QUEUE_DIR = "queue"


def _lock(fd: int) -> bool:
    """Take an exclusive flock on ``fd`` without waiting; whether it was free."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Slot:
    """One held slot; ``release`` (or the holder's death) frees it."""

    def __init__(self, fd: int, index: int) -> None:
        self.fd: int | None = fd
        self.index = index

    def release(self) -> None:
        """Free the slot (closing the descriptor drops the flock)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Slots:
    """The queue and the ``capacity`` slots of one engine folder, as one supervisor sees them."""

    def __init__(self, engine_dir: Path, capacity: int) -> None:
        self.dir = engine_dir / SLOTS_DIR
        self.queue = self.dir / QUEUE_DIR
        self.capacity = max(1, capacity)
        self.ticket: tuple[int, str] | None = None  # (descriptor holding its flock, file name)

    def try_take(self) -> Slot | None:
        """A free slot when this supervisor is first in the queue; otherwise None, keeping its place."""
        if self.ticket is None:
            self._join()
        if not self._first():
            return None
        for index in range(self.capacity):
            fd = os.open(self.dir / f"slot-{index}", os.O_RDWR | os.O_CREAT, 0o600)
            if _lock(fd):
                self.leave()
                return Slot(fd, index)
            os.close(fd)
        return None

    def leave(self) -> None:
        """Give up this supervisor's place in the queue (it wants no slot now)."""
        if self.ticket is None:
            return
        fd, name = self.ticket
        self.ticket = None
        try:
            os.unlink(self.queue / name)
        except FileNotFoundError:
            pass
        os.close(fd)

    def _join(self) -> None:
        self.queue.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging = self.queue / f".{name}"
        fd = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        _lock(fd)  # a new file: nobody else can hold it
        os.rename(staging, self.queue / name)  # visible only once locked, so never taken for stale
        self.ticket = (fd, name)

    def _first(self) -> bool:
        """Whether no live ticket is older than this supervisor's (stale ones are removed on the way)."""
        assert self.ticket is not None
        mine = self.ticket[1]
        for name in sorted(os.listdir(self.queue)):
            if name >= mine:
                return True
            if name.startswith("."):
                continue
            try:
                fd = os.open(self.queue / name, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                if not _lock(fd):
                    return False  # a live supervisor waits ahead of this one
                try:
                    os.unlink(self.queue / name)  # its supervisor died while waiting
                except FileNotFoundError:
                    pass
            finally:
                os.close(fd)
        return True
