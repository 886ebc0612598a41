"""A real Celery worker process for the end-to-end tests: started on the configured broker and the
test database, stopped with its whole process group. The ``celery_worker_process`` fixture in
``conftest.py`` uses it; so does the stubbed-AWS worker of ``test_e2e_worker.py``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from .waiting import wait_until


def _database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or ""
    auth = f"{user}:{s['PASSWORD']}@" if s.get("PASSWORD") else (f"{user}@" if user else "")
    return f"postgres://{auth}{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def purge_broker() -> None:
    """Drop queued messages left by earlier tests, so a worker sees only this test's tasks."""
    from hpo_portal.celery import app

    if app.conf.broker_url.startswith("filesystem://"):
        queue = Path(app.conf.broker_transport_options["data_folder_in"])
        for f in queue.glob("*"):
            f.unlink(missing_ok=True)
    else:
        with app.connection_for_write() as conn:
            app.control.purge(connection=conn)


def start_worker(module: list[str], tmp_path: Path, worker_args: tuple[str, ...] = (),
                 env_overrides: dict[str, str] | None = None, env_unset: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start ``python -m <module> worker`` as a Celery worker process (with embedded beat) on the
    configured broker and the test database; returns once it is ready, log at ``proc.log_path``."""
    env = {k: v for k, v in os.environ.items() if k not in env_unset}
    env.update({
        "DATABASE_URL": _database_url(),
        "HPO_POLL_INTERVAL_S": env.get("HPO_TEST_POLL_INTERVAL_S", "1"),
        "HPO_SWEEP_INTERVAL_S": "5",
        "HPO_LOCAL_ENGINE_DIR": str(settings.HPO_LOCAL_ENGINE_DIR),
        "HPO_LOCAL_DATA_DIRS": ",".join(str(p) for p in settings.HPO_LOCAL_DATA_DIRS),
        "HPO_BACKEND": settings.HPO_BACKEND,
        **(env_overrides or {}),
    })
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module, "worker", *worker_args, "-B", "-c", "2", "-l", "info",
             "-s", str(tmp_path / "beat-schedule"), "--without-mingle", "--without-gossip"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=settings.BASE_DIR, start_new_session=True,
        )
    try:
        wait_until(lambda: b"ready." in log.read_bytes(), timeout=60, interval=0.2,
                   gives_up=lambda: proc.poll() is not None, describe="the Celery worker to start")
    except AssertionError:
        stop_process_group(proc)
        raise RuntimeError(f"Celery worker did not start:\n{log.read_text(errors='replace')[-4000:]}") from None
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


def stop_process_group(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM (Celery's warm shutdown), then SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass
