"""The sandbox of the local engine's training jobs, tested the way a hostile custom algorithm would
try to break out: it reports in its log what each attempt got, and the test checks each report and
the files themselves.

A control run without the sandbox (HPO_LOCAL_SANDBOX=none) shows that the same script does reach
those files there, so each check can fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from hpo_jobs.local_engine import store

from .factories import tuning_request
from .local_engine_harness import Engine, breast_cancer_channels, custom

pytestmark = [
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (apt-get install bubblewrap)"),
    pytest.mark.django_db,  # the database file exists, so that reading it is a real attempt
]

SECRET = os.environ["SECRET_KEY"]  # the test process's own secret, as a worker would hold it

PROBE = """
    import json, os, socket, sys
    root = os.environ["SAGEMAKER_BASE_DIR"]
    hp = json.load(open(os.path.join(root, "input/config/hyperparameters.json")))

    def attempt(label, action):
        try:
            result = action()
            print(f"probe {label}=ok {result!r}"[:400], flush=True)
        except Exception as exc:
            print(f"probe {label}=denied {type(exc).__name__}", flush=True)

    def read(path):
        with open(path, "rb") as handle:
            return handle.read(4096)

    def write(path):
        with open(path, "a") as handle:
            handle.write("written by a training job\\n")
        return path

    def connect():
        with socket.create_connection(("127.0.0.1", int(hp["port"])), timeout=2):
            return "connected"

    attempt("parent_environ", lambda: read(f"/proc/{os.getppid()}/environ"))
    attempt("worker_environ", lambda: read(f"/proc/{hp['worker_pid']}/environ"))
    attempt("database", lambda: read(hp["database"]))
    attempt("portal_settings", lambda: read(hp["settings_file"]))
    attempt("engine_state", lambda: read(hp["state_file"]))
    attempt("write_outside", lambda: write(hp["outside"]))
    channel = os.path.join(root, "input/data/train")
    first = sorted(os.listdir(channel))[0]
    attempt("write_channel", lambda: write(os.path.join(channel, first)))
    attempt("write_own_folder", lambda: write(os.path.join(root, "model", "notes.txt")))
    attempt("network", connect)
    print("score=1", flush=True)
"""


def probe_results(engine: Engine, name: str, settings) -> dict[str, str]:
    """Run the probe as a one-job tuning job; {attempt: "ok ..." or "denied ..."} from its log."""
    path = engine.root / "algorithms" / "probe.py"  # beside the other test algorithms
    path.write_text(textwrap.dedent(PROBE))
    image = "test.local/probe:1"
    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES, image: [sys.executable, str(path)]}
    training = custom(engine, "noop", channels=breast_cancer_channels(engine), runtime=120)
    training["AlgorithmSpecification"]["TrainingImage"] = image
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        database = Path(db.get("TEST", {}).get("NAME") or db["NAME"])
    else:
        # PostgreSQL is reached over TCP (the "network" attempt); a file of the portal's own data
        # folder stands in for the database file.
        database = Path(django_settings.VAR_DIR) / "sandbox-probe-portal-data.bin"
        database.parent.mkdir(parents=True, exist_ok=True)
        database.write_bytes(b"portal data")
    training["StaticHyperParameters"] = {
        "worker_pid": str(os.getpid()),
        "database": str(database),
        "settings_file": str(Path(django_settings.BASE_DIR) / "hpo_portal" / "settings.py"),
        "state_file": str(engine.folder(name) / store.STATE),
        "outside": str(engine.dir / f"{name}-escaped.txt"),
        "port": str(engine.port),
    }
    engine.backend.create_tuning_job(tuning_request(name, training, jobs=1, parallel=1, objective=("Maximize", "score")))
    described = engine.wait(name, timeout=120)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described
    log = engine.backend.get_training_job_log(engine.all_training_jobs(name)[0]["TrainingJobName"])
    results = {}
    for line in log.splitlines():
        if line.startswith("probe "):
            label, _, outcome = line[len("probe "):].partition("=")
            results[label] = outcome
    return results


@pytest.fixture
def listening(engine):  # noqa: F811
    """A TCP port on this machine that accepts connections (the portal's database or Redis would)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    engine.port = server.getsockname()[1]
    yield engine
    server.close()


def digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


def test_a_sandboxed_training_job_reaches_nothing_but_its_own_folder(listening, settings):
    engine = listening
    settings.HPO_LOCAL_SANDBOX = "bwrap"
    train = Path(engine.data["breast-cancer"]["train"])
    before = digest(train)
    results = probe_results(engine, "probe", settings)

    for label in ("parent_environ", "worker_environ"):
        # A new PID namespace: the supervisor and the worker are not there (its parent is bwrap's
        # own init, whose environment holds nothing of the portal's).
        assert results[label].startswith("denied") or SECRET not in results[label], results[label]
    assert results["worker_environ"].startswith("denied"), results
    for label in ("database", "portal_settings", "engine_state", "write_channel", "network"):
        assert results[label].startswith("denied"), (label, results[label])
    assert results["write_own_folder"].startswith("ok"), results

    # Outside its folder the sandbox's root is read-only, except its own fresh /tmp: the test's
    # engine folder lies under /tmp, so the write may land there, never in the real one.
    assert results["write_outside"].startswith("denied") or str(engine.dir).startswith("/tmp/"), results
    assert not (engine.dir / "probe-escaped.txt").exists()
    assert digest(train) == before  # the channel's data, untouched
    log = engine.backend.get_training_job_log(engine.all_training_jobs("probe")[0]["TrainingJobName"])
    assert SECRET not in log


def test_without_the_sandbox_the_same_script_reaches_those_files(listening, settings):
    """The control: each denial above is the sandbox's doing, not a broken probe."""
    engine = listening
    settings.HPO_LOCAL_SANDBOX = "none"
    results = probe_results(engine, "control", settings)
    for label in ("database", "portal_settings", "engine_state", "write_outside", "write_channel", "network"):
        assert results[label].startswith("ok"), (label, results[label])
    assert (engine.dir / "control-escaped.txt").exists()


def test_the_supervisor_holds_no_secret_in_its_environment(engine, settings):  # noqa: F811
    settings.HPO_LOCAL_SANDBOX = "bwrap"
    # A training job that runs until it is stopped, so that its supervisor is there to be looked at.
    path = engine.root / "algorithms" / "until_stopped.py"
    path.write_text('import signal\nprint("epoch=1 loss=1.0", flush=True)\nsignal.pause()\n')
    image = "test.local/until-stopped:1"
    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES, image: [sys.executable, str(path)]}
    training = custom(engine, "epochs")
    training["AlgorithmSpecification"]["TrainingImage"] = image
    engine.backend.create_tuning_job(tuning_request("quiet", training, jobs=1, parallel=1))
    engine.wait("quiet", until=lambda d: d["TrainingJobStatusCounters"]["InProgress"] == 1
                and engine.state("quiet").get("supervisor_pid"))
    pid = engine.state("quiet")["supervisor_pid"]
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    names = sorted(item.split(b"=", 1)[0].decode() for item in environ if item)
    assert names == ["HOME", "LANG", "PATH", "PYTHONPATH"]
    assert SECRET.encode() not in b"".join(environ)
    plan = json.loads((engine.folder("quiet") / store.PLAN).read_text())
    assert plan["limits"]["sandbox"] == "bwrap"
    engine.backend.stop_tuning_job("quiet")
    assert engine.wait("quiet")["HyperParameterTuningJobStatus"] == "Stopped"


@pytest.mark.parametrize("sandbox,warned", [("none", True), ("bwrap", False)])
def test_the_site_settings_page_warns_staff_when_training_jobs_run_unsandboxed(admin_client_, settings, sandbox, warned):
    settings.HPO_BACKEND, settings.HPO_LOCAL_SANDBOX = "local", sandbox
    html = admin_client_.get("/settings/").content.decode()
    assert ("Training jobs run without a sandbox (HPO_LOCAL_SANDBOX=none)" in html) is warned
