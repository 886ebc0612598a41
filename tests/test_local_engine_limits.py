"""The local engine's machine-wide limits: one cap on training processes across every tuning job,
queued first come first served, and per-process memory, CPU-time, file-size and log limits, each
ending its training job Failed with a reason that names the setting.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time

import pytest

from hpo_jobs.local_engine.slots import Slots

from .factories import tuning_request
from .local_engine_harness import Engine, _job_processes, custom
from .waiting import wait_until

HOGS = {
    "memory": """
        print("allocating", flush=True)
        hog = bytearray(1024 * 1024 * 1024)
        print("score=1")
    """,
    "cpu": """
        print("spinning", flush=True)
        while True:
            pass
    """,
    "file": """
        import os
        with open(os.path.join(os.environ["SAGEMAKER_BASE_DIR"], "model", "big.bin"), "wb") as handle:
            for _ in range(64):
                handle.write(b"x" * 1024 * 1024)
        print("score=1")
    """,
    "log": """
        while True:  # as fast as the machine lets it
            print("chatter " * 100, flush=True)
    """,
}


def hog(engine: Engine, settings, kind: str) -> dict:
    path = engine.root / "algorithms" / f"hog_{kind}.py"
    path.write_text(textwrap.dedent(HOGS[kind]))
    image = f"test.local/hog-{kind}:1"
    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES, image: [sys.executable, str(path)]}
    training = custom(engine, "noop", runtime=300)
    training["AlgorithmSpecification"]["TrainingImage"] = image
    name = f"hog-{kind}"
    engine.backend.create_tuning_job(tuning_request(name, training, jobs=1, parallel=1, objective=("Maximize", "score")))
    described = engine.wait(name, timeout=120)
    assert described["HyperParameterTuningJobStatus"] == "Failed", described
    (job,) = engine.all_training_jobs(name)
    assert job["TrainingJobStatus"] == "Failed"
    return job


@pytest.mark.parametrize("kind,setting,value,words", [
    ("memory", "HPO_LOCAL_MAX_MEMORY_MB", 256, "exceeded the memory limit of 256 MiB (HPO_LOCAL_MAX_MEMORY_MB)"),
    ("cpu", "HPO_LOCAL_MAX_CPU_S", 1, "exceeded the CPU time limit of 1 s (HPO_LOCAL_MAX_CPU_S)"),
    ("file", "HPO_LOCAL_MAX_FILE_MB", 8, "exceeded the file size limit of 8 MiB (HPO_LOCAL_MAX_FILE_MB)"),
    ("log", "HPO_LOCAL_MAX_LOG_MB", 1, "exceeded the log limit of 1 MiB (HPO_LOCAL_MAX_LOG_MB)"),
])
def test_a_training_job_over_a_limit_fails_with_the_limit_named(engine, settings, kind, setting, value, words):  # noqa: F811
    setattr(settings, setting, value)
    job = hog(engine, settings, kind)
    assert job["FailureReason"].startswith("AlgorithmError: Training job " + words), job["FailureReason"]
    assert job["FailureReason"].count("AlgorithmError") == 1
    assert _job_processes(engine.dir) == []


def test_a_log_never_grows_far_past_its_cap(engine, settings):  # noqa: F811
    settings.HPO_LOCAL_MAX_LOG_MB = 1
    job = hog(engine, settings, "log")
    log = engine.folder("hog-log") / "logs" / f"{job['TrainingJobName']}.log"
    # However fast the job writes and however late the supervisor polls, the log stops one byte past the cap.
    assert log.stat().st_size == 1024 * 1024 + 1


def test_two_jobs_never_run_more_training_processes_than_the_machine_cap(engine, settings):  # noqa: F811
    settings.HPO_LOCAL_MAX_PARALLEL = 2
    training = custom(engine, "epochs", static={"epochs": "4", "pause": "0.1"})
    for name in ("first", "second"):
        engine.backend.create_tuning_job(tuning_request(name, training, jobs=4, parallel=2))
    seen: list[int] = []

    def finished_within_the_cap() -> bool:
        running = len(_job_processes(engine.dir))  # the engine's /proc scanner, as it runs
        assert running <= 2
        seen.append(running)
        return all(engine.state(n)["status"] == "Completed" for n in ("first", "second"))

    wait_until(finished_within_the_cap, timeout=180, interval=0.02, describe="the two jobs to finish")
    assert max(seen) >= 1

    # The engine's own record: each process ran within [start_time, end_time] of its training job,
    # and those intervals never overlap more than the cap.
    records = [r for n in ("first", "second") for r in engine.state(n)["training_jobs"]]
    assert len(records) == 8 and all(r["status"] == "Completed" for r in records)
    events = sorted([(r["start_time"], 1) for r in records] + [(r["end_time"], -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    assert peak == 2  # the cap, reached, and never passed (each job alone would run 2: 4 in all)
    # Which job's training jobs started first depends on how fast each supervisor started, so the
    # order slots are granted in is checked on the slots themselves (the next test), not on times.


def test_slots_are_granted_in_queue_order_and_a_dead_waiters_ticket_is_dropped(tmp_path):
    a, b, c = Slots(tmp_path, 1), Slots(tmp_path, 1), Slots(tmp_path, 1)
    held = a.try_take()
    assert held is not None
    assert b.try_take() is None  # queued first
    assert c.try_take() is None  # queued second
    held.release()
    assert c.try_take() is None  # b is ahead of it
    slot_b = b.try_take()
    assert slot_b is not None
    slot_b.release()
    assert c.try_take() is not None
    # A waiter that dies (its ticket's lock released) no longer holds the queue up.
    d, e = Slots(tmp_path / "other", 1), Slots(tmp_path / "other", 1)
    first = d.try_take()
    assert e.try_take() is None and d.try_take() is None  # e queued, then d queued again behind it
    os.close(e.ticket[0])  # e's process dies: the kernel drops its ticket's lock, the file stays
    e.ticket = None
    first.release()
    assert d.try_take() is not None
