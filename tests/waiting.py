"""Waiting for another process: check a condition until it holds or a generous deadline passes.

The one way the tests wait for a worker, an engine or a browser-less server to reach a state. No
test waits a fixed time for a state; between two checks this pauses briefly (an Event that is never
set: a pause that cannot be mistaken for a wait on the state itself).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

_NEVER = threading.Event()


def wait_until(condition: Callable[[], T], *, timeout: float = 60, interval: float = 0.05,
               describe: Callable[[], str] | str = "the condition", gives_up: Callable[[], bool] | None = None) -> T:
    """The first truthy value of ``condition()``; AssertionError after ``timeout`` seconds, or as soon as
    ``gives_up()`` says waiting longer is pointless (a process died)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline or (gives_up is not None and gives_up()):
            text = describe() if callable(describe) else describe
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {text}")
        _NEVER.wait(interval)
