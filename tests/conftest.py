"""Shared fixtures: the five personas, a project with a job, a real Celery worker, AWS at the seam
(moto, botocore's Stubber, the scripted FakeSageMaker, queued tasks), the local engine, Playwright."""

from __future__ import annotations

import functools
import os
import shutil
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from moto import mock_aws  # first: every boto3 client built afterwards carries moto's hook (inert outside mock_aws)

from hpo_jobs import aws

from .aws_fakes import REGION, FakeSageMaker, QueuedTasks
from .workers import purge_broker, start_worker, stop_process_group

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# from a thread with a running loop unless told this is intended (it is: pytest is synchronous).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# No property test races the clock: a loaded machine runs an example slower, never differently.
# The suite draws the same examples on every run (derandomize), so it passes or fails the same way
# every time; `make fuzz` (HPO_FUZZ=1) draws new ones on each run, many more, to look for what the
# fixed ones miss (a failure it finds becomes a test of its own).
hypothesis_settings.register_profile("hpo-portal", deadline=None, derandomize=True,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("fuzz", deadline=None, derandomize=False, max_examples=1000,
                                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
hypothesis_settings.load_profile("fuzz" if os.environ.get("HPO_FUZZ") else "hpo-portal")

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
    from hpo_jobs.models import HpoJob

    from .factories import make_job as store_job

    def make(name: str = "demo-job", *, status: str = HpoJob.Status.IN_PROGRESS, created_by=None,
             children: int = 0, project_=None, **fields):
        return store_job(project_ or project, created_by or alice, name, status=status, children=children, **fields)

    return make


# --- a real Celery worker ----------------------------------------------------------------------
@pytest.fixture
def celery_worker_process(transactional_db, tmp_path, settings):
    """A real `celery worker` process (with embedded beat) on the configured broker and the test database,
    with a local engine folder of its own (a job name an earlier run left there would be taken)."""
    settings.HPO_LOCAL_ENGINE_DIR = tmp_path / "local-engine"
    purge_broker()
    proc = start_worker(["celery", "-A", "hpo_portal"], tmp_path)
    yield proc
    stop_process_group(proc)
    purge_broker()


# --- AWS at the one seam (hpo_jobs.aws) --------------------------------------------------------------
# Building a SageMaker client parses botocore's large service model (about 0.3 s). Tests reuse the
# clients they build, all made under the same fake credentials; importing moto first gives every one
# of them moto's hook (inert outside ``mock_aws``), so none can reach the network by accident.
_shared_clients: dict[Any, Any] = {}


@pytest.fixture
def aws_env(monkeypatch, settings):
    """Fake credentials, the SageMaker engine, and the seam's clients (made under those credentials)."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }.items():
        monkeypatch.setenv(key, value)
    # Only the fake keys above: no other provider in the chain is ever consulted.
    for key in ("AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(key, raising=False)
    settings.HPO_BACKEND = "sagemaker"
    settings.AWS_REGION = REGION
    aws.reset_clients()
    aws._clients.update(_shared_clients)
    yield
    _shared_clients.update(aws._clients)
    aws.reset_clients()


@pytest.fixture
def moto_aws(aws_env):
    """moto's fake AWS for every client the seam hands out during the test."""
    with mock_aws():
        yield


@pytest.fixture
def sagemaker_stub(aws_env) -> Iterator[Stubber]:
    """A botocore Stubber on the seam's SageMaker client; every queued response must be used."""
    stubber = Stubber(aws.client("sagemaker"))
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def fake_sagemaker(aws_env) -> Iterator[FakeSageMaker]:
    """A stateful scripted SageMaker behind the seam's (non-interactive and interactive) clients."""
    fake = FakeSageMaker()
    fake.attach(aws.client("sagemaker"))
    fake.attach(aws.client("sagemaker", interactive=True))
    yield fake
    fake.detach()


@pytest.fixture
def queued_tasks(monkeypatch) -> QueuedTasks:
    """Publishing launch_job, stop_job and sync_jobs records them instead of sending them to a broker."""
    from hpo_jobs import tasks

    queue = QueuedTasks()
    monkeypatch.setattr(tasks.launch_job, "apply_async", queue.publish("launch_job"))
    monkeypatch.setattr(tasks.stop_job, "apply_async", queue.publish("stop_job"))
    monkeypatch.setattr(tasks.sync_jobs, "apply_async", queue.publish("sync_jobs"))
    return queue


@pytest.fixture
def submit(django_capture_on_commit_callbacks, project, alice):
    """Create a job the way the wizard does, running its on-commit hooks (the launch is queued)."""
    from hpo_jobs import services

    from .factories import make_request

    def do(request: dict[str, Any] | None = None, *, user=None, project_=None):
        with django_capture_on_commit_callbacks(execute=True):
            return services.create_job(project_ or project, user or alice, request or make_request())

    return do


# --- the local engine ---------------------------------------------------------------------------
@pytest.fixture
def local_data(settings, tmp_path):
    """The local engine's data folder for project ``demo`` (HPO_LOCAL_DATA_DIRS = tmp/data/{project}),
    with the shipped example image runnable; returns the demo project's folder."""
    settings.HPO_LOCAL_DATA_DIRS = [tmp_path / "data" / "{project}"]
    settings.HPO_LOCAL_CUSTOM_IMAGES = {"hpo-portal/example-custom:latest": [sys.executable, "-c", "pass"]}
    folder = tmp_path / "data" / "demo"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def engine(settings, tmp_path):
    """The local engine under test: its folders under tmp_path, the test algorithms mapped to images."""
    from hpo_jobs.local_engine.demo_data import write_demo_datasets

    from .local_engine_harness import ALGORITHMS, REGION, Engine

    algorithms = tmp_path / "algorithms"
    algorithms.mkdir()
    images = {}
    for name, source in ALGORITHMS.items():
        path = algorithms / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        images[f"test.local/{name}:1"] = [sys.executable, str(path)]
    data = write_demo_datasets(tmp_path / "data")
    settings.HPO_LOCAL_ENGINE_DIR = tmp_path / "engine"
    settings.HPO_LOCAL_DATA_DIRS = [tmp_path / "data"]
    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES, **images}
    settings.AWS_REGION = REGION
    engine = Engine(tmp_path, data)
    yield engine
    engine.cleanup()
    assert engine.supervisor_errors() == {}


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


# Every page of every browser test reports Content-Security-Policy violations to the test (Chromium
# fires `securitypolicyviolation` for each refused script, style, image or connection); the
# test fails at teardown if there was any.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__hpoReportCsp(JSON.stringify({directive: event.effectiveDirective, blocked: event.blockedURI,
    source: event.sourceFile, line: event.lineNumber, sample: event.sample, page: event.documentURI}));
});
"""


@pytest.fixture
def csp_violations() -> list[dict]:
    """The CSP violations seen by this test's browser pages (the test fails if any is left at its end)."""
    return []


@pytest.fixture
def context(context, csp_violations):
    """pytest-playwright's browser context, failing the test on any CSP violation of its pages."""
    import json

    context.expose_binding("__hpoReportCsp", lambda _source, report: csp_violations.append(json.loads(report)))
    context.add_init_script(CSP_LISTENER)
    yield context
    if csp_violations:
        pytest.fail(f"Content-Security-Policy violations: {csp_violations}")


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


@pytest.fixture
def world(project, make_job, make_user):
    """One real object for each URL converter: a route of the resolver can be filled with these."""
    from projects.models import Membership

    dave = make_user("dave")
    Membership.objects.create(project=project, user=dave, role=Membership.Role.MEMBER)
    job = make_job("matrix-job", children=1, status="Completed")
    from hpo_jobs.api.models import ApiToken

    token, _text = ApiToken.issue(dave, "dave's", 90)
    return {
        "pk": token.pk,
        "slug": project.slug,
        "name": job.name,
        "training_job_name": job.training_jobs.get().name,
        "user_id": dave.pk,
    }


# --- sagemaker-core ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sagemaker_core_resolver_once():
    """retrieve() reloads botocore's endpoint data on every call (0.2 s); the same resolver, built once."""
    from sagemaker.core import common_utils

    original = common_utils._botocore_resolver
    common_utils._botocore_resolver = functools.cache(original)
    yield
    common_utils._botocore_resolver = original
