"""The local engine under test, for the tests that drive it through the Backend interface: the
small training programs mapped to test images (``ALGORITHMS``), ``Engine`` (the backend with its
folders, waits and the engine's own records), and definitions of those programs (``custom``).
The ``engine`` fixture in ``conftest.py`` makes one per test."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from hpo_jobs.backends.local import LocalBackend
from hpo_jobs.local_engine import store
from hpo_jobs.local_engine.container import processes_where
from hpo_jobs.sagemaker import catalogue

from .factories import REGION, channel, training_definition
from .waiting import wait_until

LL_IMAGE = catalogue.get("linear-learner").image_uri(REGION)
KNN_IMAGE = catalogue.get("knn").image_uri(REGION)
TERMINAL = ("Completed", "Failed", "Stopped")

# Small training programs, each honouring SageMaker's container contract.
ALGORITHMS = {
    # One line per epoch: loss = quality + 1/epoch, so a larger quality is clearly worse. With a
    # `gate` hyperparameter (a Gate's address) each epoch waits for the test's go-ahead.
    "epochs": """
        import json, os
        from multiprocessing.connection import Client
        root = os.environ["SAGEMAKER_BASE_DIR"]
        hp = json.load(open(os.path.join(root, "input/config/hyperparameters.json")))
        quality = float(hp.get("quality", "1"))
        gate = Client(hp["gate"], family="AF_UNIX") if hp.get("gate") else None
        for epoch in range(1, int(hp.get("epochs", "5")) + 1):
            if gate is not None:
                gate.send((os.environ["TRAINING_JOB_NAME"], epoch))
                gate.recv()
            print(f"epoch={epoch} loss={quality + 1.0 / epoch:.6f}", flush=True)
    """,
    # Reports its `score` hyperparameter (1 when it is not a number) and nothing else.
    "noop": """
        import json, os
        hp = json.load(open(os.path.join(os.environ["SAGEMAKER_BASE_DIR"], "input/config/hyperparameters.json")))
        try:
            score = float(hp.get("score", "1"))
        except ValueError:
            score = 1.0
        print(f"score={score}")
    """,
    # Lists what it can see of its channels (to check that nothing outside the data folders leaks in).
    "lister": """
        import os
        root = os.environ["SAGEMAKER_BASE_DIR"]
        for dirpath, _, files in os.walk(os.path.join(root, "input/data")):
            for name in files:
                print("seen", os.path.relpath(os.path.join(dirpath, name), root))
        print("secret_key_visible=" + str("SECRET_KEY" in os.environ))
        print("score=1")
    """,
    "silent": """
        print("training... done, but I never print the metric the regex looks for")
    """,
    "crash": """
        import os, sys
        root = os.environ["SAGEMAKER_BASE_DIR"]
        print("about to fail")
        with open(os.path.join(root, "output/failure"), "w") as f:
            f.write("ValueError: column 3 holds text where a number was expected")
        sys.exit(3)
    """,
}


def _job_processes(engine_dir: Path) -> list[int]:
    """Pids of live processes that belong to a training job under ``engine_dir``."""
    prefix = f"SAGEMAKER_BASE_DIR={engine_dir}/".encode()
    return processes_where("environ", lambda items: any(item.startswith(prefix) for item in items))


def _supervisor_processes(engine_dir: Path) -> list[int]:
    marker = str(engine_dir).encode()
    return processes_where(
        "cmdline", lambda items: b"hpo_jobs.local_engine.supervisor" in items and any(marker in i for i in items))


class Engine:
    """The backend under test, with its folders and the images of the test algorithms."""

    def __init__(self, root: Path, data: dict[str, Any]) -> None:
        self.backend = LocalBackend()
        self.root = root
        self.dir = root / "engine"
        self.data_dir = root / "data"
        self.data = data
        self.images = {name: f"test.local/{name}:1" for name in ALGORITHMS}
        self._journals: dict[str, JournalStorage] = {}

    def folder(self, name: str) -> Path:
        return self.dir / name.lower()

    def state(self, name: str) -> dict[str, Any]:
        return store.read_json(self.folder(name) / store.STATE)

    def wait(self, name: str, timeout: float = 90, until=lambda d: d["HyperParameterTuningJobStatus"] in TERMINAL):
        """Describe the job until ``until`` holds; the last describe response."""
        last: dict[str, Any] = {}

        def described() -> dict[str, Any] | None:
            last["response"] = self.backend.describe_tuning_job(name)
            return last["response"] if until(last["response"]) else None

        return wait_until(described, timeout=timeout, interval=0.1, describe=lambda: (
            f"{name}: {last['response']['HyperParameterTuningJobStatus']} "
            f"{last['response']['TrainingJobStatusCounters']}"))

    def reported_epochs(self, training_job: str) -> int:
        """How many per-epoch objective values the engine has given Optuna for a training job."""
        tuning = training_job.rsplit("-", 2)[0]
        record = next(r for r in self.state(tuning)["training_jobs"] if r["name"] == training_job)
        if tuning not in self._journals:
            self._journals[tuning] = JournalStorage(JournalFileBackend(str(self.folder(tuning) / store.JOURNAL)))
        storage = self._journals[tuning]
        study_id = storage.get_study_id_from_name(f"definition-{record['definition_index']}")
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, record["trial_number"])
        return len(storage.get_trial(trial_id).intermediate_values)

    def all_training_jobs(self, name: str, page_size: int = 100) -> list[dict[str, Any]]:
        jobs, token = [], None
        while True:
            page = self.backend.list_training_jobs(name, next_token=token, max_results=page_size)
            jobs.extend(page["TrainingJobSummaries"])
            token = page.get("NextToken")
            if not token:
                return jobs

    def cleanup(self) -> None:
        """Stop whatever a test left running, so no process outlives it."""
        if not self.dir.exists():
            return
        for folder in self.dir.iterdir():
            try:
                state = store.read_json(folder / store.STATE)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if state["status"] in store.ACTIVE_STATUSES:
                try:
                    self.backend.stop_tuning_job(state_name(folder))
                    self.wait(state_name(folder), timeout=30)
                except Exception:  # noqa: BLE001 - best effort; the kills below finish the job
                    pass
        for pid in _supervisor_processes(self.dir) + _job_processes(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def supervisor_errors(self) -> dict[str, str]:
        """The supervisor logs that hold a traceback: a supervisor must never crash on its own."""
        if not self.dir.exists():
            return {}
        logs = {folder.name: folder / store.SUPERVISOR_LOG for folder in self.dir.iterdir()}
        return {name: log.read_text() for name, log in logs.items() if log.exists() and "Traceback" in log.read_text()}


def state_name(folder: Path) -> str:
    return store.read_json(folder / store.REQUEST)["HyperParameterTuningJobName"]


EPOCH_METRICS = [{"Name": "loss", "Regex": r"epoch=[0-9]+ loss=([0-9.]+)"}]
SCORE_METRICS = [{"Name": "score", "Regex": r"score=([-0-9.e]+)"}]


def custom(engine: Engine, algorithm: str, **kwargs: Any) -> dict[str, Any]:
    metrics = kwargs.pop("metrics", EPOCH_METRICS if algorithm in ("epochs", "silent", "crash") else SCORE_METRICS)
    return training_definition(engine.images[algorithm], metrics=metrics, **kwargs)


def breast_cancer_channels(engine: Engine, validation_as: str = "validation") -> list[dict[str, Any]]:
    bc = engine.data["breast-cancer"]
    return [channel("train", f"file://{bc['train']}"), channel(validation_as, str(bc["validation"]))]
