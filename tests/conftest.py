"""Shared fixtures: the five personas, a project with a job, a real Celery worker, Playwright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from .waiting import wait_until

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# from a thread with a running loop unless told this is intended (it is: pytest is synchronous).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PASSWORD = "persona-pass-123"
CHROMIUM = os.environ.get("HPO_CHROMIUM", "/usr/bin/chromium")


def pytest_configure(config):
    # Hashing passwords properly costs ~100 ms per user; tests make hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # pytest-django removes an old SQLite test database but not its WAL files; stale ones make
    # the new database unreadable ("disk I/O error").
    test_name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") and test_name:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{test_name}{suffix}").unlink(missing_ok=True)


# --- fail on skip ----------------------------------------------------------------------------
_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # CI sets HPO_FAIL_ON_SKIP=1: a skipped test there means a missing install step, not a pass.
    if os.environ.get("HPO_FAIL_ON_SKIP") == "1" and _skipped:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_line(f"HPO_FAIL_ON_SKIP: {len(_skipped)} test(s) skipped; failing the run:", red=True)
            for nodeid in _skipped:
                reporter.write_line(f"  {nodeid}", red=True)
        session.exitstatus = 1


# --- personas --------------------------------------------------------------------------------
@pytest.fixture
def make_user(django_user_model):
    def make(username: str, *, staff: bool = False):
        user = django_user_model.objects.create_user(
            username=username, password=PASSWORD, email=f"{username}@example.com", is_staff=staff, is_superuser=staff
        )
        return user

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def charlie(make_user):
    return make_user("charlie")


@pytest.fixture
def admin_user(make_user):
    return make_user("admin", staff=True)


@pytest.fixture
def project(alice, bob):
    """Project `demo`: alice owns it, bob is a member, charlie is outside."""
    from projects.models import Membership, Project

    project = Project.objects.create(name="Demo", slug="demo", description="Demo project")
    Membership.objects.create(project=project, user=alice, role=Membership.Role.OWNER)
    Membership.objects.create(project=project, user=bob, role=Membership.Role.MEMBER)
    return project


def _client_for(user):
    from django.test import Client

    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def alice_client(alice):
    return _client_for(alice)


@pytest.fixture
def bob_client(bob):
    return _client_for(bob)


@pytest.fixture
def charlie_client(charlie):
    return _client_for(charlie)


@pytest.fixture
def admin_client_(admin_user):
    return _client_for(admin_user)


@pytest.fixture
def anon_client():
    return _client_for(None)


PERSONAS = ("owner", "member", "outsider", "anonymous", "admin")


@pytest.fixture
def persona_clients(alice, bob, charlie, admin_user):
    """A logged-in test client per persona name."""
    return {
        "owner": _client_for(alice),
        "member": _client_for(bob),
        "outsider": _client_for(charlie),
        "anonymous": _client_for(None),
        "admin": _client_for(admin_user),
    }


@pytest.fixture
def make_job(project, alice):
    """Store an HpoJob (and optionally children) directly, for pages that only read the database."""
    from hpo_jobs.models import HpoJob, TrainingJob

    def make(name: str = "demo-job", *, status: str = HpoJob.Status.IN_PROGRESS, created_by=None,
             children: int = 0, project_=None, **fields):
        request = fields.pop("request", None) or {
            "HyperParameterTuningJobName": name,
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
                "TrainingJobEarlyStoppingType": "Off",
            },
            "TrainingJobDefinitions": [],
        }
        job = HpoJob.objects.create(
            project=project_ or project, name=name, created_by=created_by or alice, backend="local",
            request=request, strategy=request["HyperParameterTuningJobConfig"]["Strategy"], status=status,
            max_training_jobs=request["HyperParameterTuningJobConfig"]["ResourceLimits"].get("MaxNumberOfTrainingJobs"),
            **fields,
        )
        TrainingJob.objects.bulk_create(
            TrainingJob(hpo_job=job, name=f"{name}-{i + 1:03d}-abcdef12", status="Completed",
                        objective_status="Succeeded", objective_value=0.5 + i / 1000,
                        objective_metric_name="validation:auc", tuned_hyperparameters={"eta": str(0.1 + i / 100)})
            for i in range(children)
        )
        return job

    return make


# --- a real Celery worker ----------------------------------------------------------------------
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


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """A real `celery worker` process (with embedded beat) on the configured broker and the test database."""
    purge_broker()
    proc = start_worker(["celery", "-A", "hpo_portal"], tmp_path)
    yield proc
    stop_process_group(proc)
    purge_broker()


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


# --- the browser -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium, never a downloaded browser (none can be fetched here)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture
def screenshot_dir() -> Path:
    path = Path(settings.BASE_DIR) / "var" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def login(live_server):
    """Log a Playwright page in through the real login form."""

    def do(page, username: str, password: str = PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/projects/")

    return do
