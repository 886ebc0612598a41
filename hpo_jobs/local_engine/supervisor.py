"""The supervisor of one tuning job: ``python -m hpo_jobs.local_engine.supervisor FOLDER [--lock-fd N]``.

It asks Optuna for hyperparameters, runs up to MaxParallelTrainingJobs training jobs at once as
child processes, reads their metrics from their logs, applies early stopping, runtime limits and
completion criteria, and records everything in the folder's ``state.json``. It needs no Django:
everything it needs is in ``plan.json``, which the backend resolved from the request and settings.

Multiple training job definitions share one budget: each definition has its own Optuna study (its
own search space and objective), and new training jobs go to the definitions in turn.

Machine limits (``plan["limits"]``): a training job starts only with one of the machine's slots
(``slots``: HPO_LOCAL_MAX_PARALLEL across every tuning job, first come first served), under the
per-process limits of ``limits`` and, when the plan says so, in the bubblewrap sandbox of
``sandbox``. Its log and the matching of it with the metric regexes are capped too; a job that hits
a limit ends Failed with a reason naming the setting. Each job's metric series are stored in
``metrics/<name>.json`` as the log is read, so nobody parses a log again.

Resuming: the Optuna studies live in a JournalStorage file (made durable before each write of
``state.json``, see ``Journal``), and every training job is in ``state.json``. A new supervisor keeps the finished training jobs as they are (never re-run) and
re-runs, under the same name and with the same hyperparameters, a job that was still running when
the previous supervisor died; its leftover processes are killed first.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import selectors
import signal
import subprocess
import sys
import time
import traceback
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class _NoProgressBar:
    """tqdm's progress bar in the supervisor's process, which never shows one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("The supervisor shows no progress bar (tqdm is not loaded)")

    @staticmethod
    def write(*args: object, **kwargs: object) -> None:
        raise RuntimeError("The supervisor shows no progress bar (tqdm is not loaded)")


def _without_redis_and_tqdm() -> None:
    """Start Optuna without two modules the supervisor never uses (together about a third of its start-up).

    Redis: the supervisor never uses Optuna's Redis journal; with a None entry ``import redis``
    fails at once, and Optuna treats redis as the optional dependency it is. tqdm: Optuna imports
    it (with asyncio and importlib.metadata) for ``study.optimize``'s progress bar; the supervisor
    asks and tells trials itself and shows none, so ``tqdm.auto.tqdm`` is a class that refuses to run.
    """
    sys.modules.setdefault("redis", None)  # type: ignore[arg-type]
    tqdm, auto = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
    tqdm.tqdm = auto.tqdm = _NoProgressBar  # type: ignore[attr-defined]
    tqdm.auto = auto  # type: ignore[attr-defined]
    for module in (tqdm, auto):
        sys.modules.setdefault(module.__name__, module)


if __name__ == "__main__":
    # Only as the supervisor's own process: an importer of this module keeps what it has.
    _without_redis_and_tqdm()

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import Trial, TrialState

from . import container, sandbox, store
from . import limits as resource_limits
from .metrics import LogFollower, tail
from .slots import Slot, Slots
from .space import Range, distribution, internal_value, suggest
from .strategies import make_pruner, make_sampler, uses_intermediate_values

POLL_S = 0.25  # how often logs, runtimes and the stop request are checked
RELAY_DRAIN_S = 10.0  # the longest a finished job's log relay may take to write what it holds
POLL_PRUNING_S = 0.1  # faster while early stopping or Hyperband watch per-epoch metrics
METRICS_SAVE_S = 2.0  # a running training job's metric series are stored at most this often
KILL_GRACE_S = 20.0  # SIGTERM, then SIGKILL after this long (SageMaker waits 120 s)
IMPROVEMENT = 0.01  # BestObjectiveNotImproving: a job must improve the best by 1% to count
# ConvergenceDetected (SageMaker does not document its test): the best has not improved by 0.1%
# over the last max(10, 10% of the budget) jobs that reported the objective.
CONVERGENCE_IMPROVEMENT = 0.001
CONVERGENCE_MIN_WINDOW = 10

# Why the engine stopped a training job (kept in state.json as stop_reason).
EARLY_STOPPED = "EarlyStopped"
HYPERBAND = "Hyperband"
MAX_RUNTIME = "MaxRuntimeExceeded"
TUNING_STOPPED = "TuningJobStopped"
TUNING_COMPLETED = "TuningJobCompleted"
LIMIT_EXCEEDED = "LimitExceeded"  # the job hit one of the engine's limits: it ends Failed, saying which
PRUNED_REASONS = (EARLY_STOPPED, HYPERBAND)


class Journal(JournalFileBackend):
    """Optuna's journal file, written at every operation but made durable (fsync) only by ``sync``,
    which ``Supervisor.save`` calls before each write of ``state.json``.

    Optuna fsyncs after each operation (three or more per training job: ask, each suggested value,
    tell). What a restart needs is that ``state.json`` never names a trial the journal could lose:
    syncing first keeps that, with one fsync per save. Operations after the last save may be lost
    in a machine crash, as if the supervisor had died before them, which resume already handles.
    A last line cut short by such a crash is dropped when the journal is opened again (Optuna would
    read the next operation glued onto it as a corrupt line).
    """

    def __init__(self, path: str) -> None:
        self._repair(path)
        super().__init__(path, lock_obj=SingleWriterLock(path))
        self._handle = open(path, "ab")  # noqa: SIM115 - open for the supervisor's life
        self._unsynced = False

    @staticmethod
    def _repair(path: str) -> None:
        try:
            with open(path, "rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                if size == 0:
                    return
                handle.seek(size - 1)
                if handle.read(1) == b"\n":
                    return
                handle.seek(0)
                handle.truncate(handle.read().rfind(b"\n") + 1)  # Optuna reads it whole anyway
        except FileNotFoundError:
            pass

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        text = "\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n"
        self._handle.write(text.encode("utf-8"))
        self._handle.flush()  # read back at once by the storage's next operation
        self._unsynced = True

    def sync(self) -> None:
        """Make every operation written so far durable."""
        if self._unsynced:
            os.fsync(self._handle.fileno())
            self._unsynced = False


class SingleWriterLock(JournalFileOpenLock):
    """The journal's file lock, made a no-op: the supervisor lock already makes this process its only writer.

    Optuna's own lock is a lock file; a supervisor killed while holding it would leave it behind,
    and the next supervisor would wait out its 30 s grace period before resuming.
    """

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


def training_job_name(tuning_job_name: str, number: int) -> str:
    """A child's name as SageMaker forms it: the tuning job's name, a number and a short hash."""
    digest = hashlib.sha1(f"{tuning_job_name}/{number}".encode()).hexdigest()[:8]
    return f"{tuning_job_name}-{number:03d}-{digest}"


def improves(value: float, best: float, direction: str, by: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by at least the fraction ``by`` of ``|best|``."""
    margin = abs(best) * by
    if direction == "Maximize":
        return value > best + margin
    return value < best - margin


@dataclass
class Definition:
    """One training job definition of the plan, with its Optuna study."""

    index: int
    label: str | None
    command: list[str]
    objective: str
    objective_type: str
    metric_definitions: list[dict[str, str]]
    static: dict[str, str]
    ranges: list[Range]
    channels: list[dict[str, Any]]
    max_runtime_s: int
    environment: dict[str, str]
    grid_size: int | None
    study: optuna.Study = field(repr=False, default=None)  # type: ignore[assignment]


@dataclass
class Running:
    """A training job whose process the supervisor is watching."""

    record: dict[str, Any]
    definition: Definition
    process: subprocess.Popen[bytes]
    trial: Trial
    follower: LogFollower
    started: float
    steps: int = 0
    term_sent: float | None = None
    pidfd: int | None = None
    metrics_saved: float = 0.0  # monotonic time the series were last stored
    metrics_new: bool = False  # values read since then
    slot: Slot | None = None  # the machine slot it holds while its process runs
    relay: subprocess.Popen[bytes] | None = None  # copies the output into the log, up to its limit


class Supervisor:
    """Runs one tuning job to its end from its folder's plan and state."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.plan: dict[str, Any] = store.read_json(folder / store.PLAN)
        self.state: dict[str, Any] = store.read_json(folder / store.STATE)
        self.allowed = [Path(p) for p in self.plan["allowed_data_dirs"]]
        self.direction: str = self.plan["direction"]
        self.pruning = uses_intermediate_values(self.plan["strategy"], self.plan["early_stopping"])
        self.running: dict[str, Running] = {}
        # The engine's limits (plans written before there were any have none: the old behaviour).
        self.limits: dict[str, Any] = self.plan.get("limits") or {}
        self.sandboxed = self.limits.get("sandbox") == "bwrap"
        self.slots = Slots(folder.parent, self.limits.get("max_parallel") or self.plan["parallel"])
        # Training jobs to run again after a restart, each waiting for a machine slot.
        self.pending: list[tuple[dict[str, Any], Definition, Trial]] = []
        self.ending: str | None = None  # "Completed" or "Stopped" once the job winds down
        self.selector = selectors.DefaultSelector()
        self.dirty = False
        self.journal = Journal(str(folder / store.JOURNAL))
        self.storage = JournalStorage(self.journal)
        self.definitions = [self._load_definition(i, d) for i, d in enumerate(self.plan["definitions"])]

    # --- set-up ------------------------------------------------------------------------------
    def _load_definition(self, index: int, data: dict[str, Any]) -> Definition:
        definition = Definition(
            index=index,
            label=data.get("label"),
            command=list(data["command"]),
            objective=data["objective"]["MetricName"],
            objective_type=data["objective"]["Type"],
            metric_definitions=data["metric_definitions"],
            static=data["static"],
            ranges=[Range.from_json(r) for r in data["ranges"]],
            channels=data["channels"],
            max_runtime_s=data["max_runtime_s"],
            environment=data.get("environment") or {},
            grid_size=data.get("grid_size"),
        )
        study = optuna.create_study(
            storage=self.storage,
            study_name=f"definition-{index}",
            direction="maximize" if definition.objective_type == "Maximize" else "minimize",
            load_if_exists=True,
        )
        seed = self.plan["seed"]
        existing = len(study.get_trials(deepcopy=False))
        if seed is not None and existing and self.plan["strategy"] != "Grid":
            # A restarted Random or TPE sampler would replay the seed's first draws: continue
            # from a seed derived from how far the study got (Grid keeps its seed: the grid order).
            seed = (seed * 1_000_003 + existing) % 2**32
        study.sampler = make_sampler(self.plan["strategy"], definition.ranges, seed, self.plan["budget"])
        study.pruner = make_pruner(self.plan["strategy"], self.plan["early_stopping"], self.plan["hyperband"])
        definition.study = study
        warm_start = self.plan.get("warm_start")
        if warm_start and not study.user_attrs.get("warm_started"):
            self._warm_start(definition, warm_start["parents"])
        return definition

    @staticmethod
    def _warm_start(definition: Definition, parents: list[dict[str, str]]) -> None:
        """Give the study the evaluated training jobs of the parent tuning jobs that fit its ranges.

        A parent's job counts when every tuned hyperparameter of this job has a value in it (tuned
        or static there) within this job's range; its final objective becomes a finished trial, so
        the sampler starts from what the parents learnt. They do not use up this job's budget.
        """
        trials = []
        distributions = {r.name: distribution(r) for r in definition.ranges}
        for parent in parents:
            folder = Path(parent["folder"])
            try:
                parent_state = store.read_json(folder / store.STATE)
                parent_plan = store.read_json(folder / store.PLAN)
            except FileNotFoundError:
                continue  # the parent was deleted since this job was created
            for record in parent_state["training_jobs"]:
                if record["objective_status"] != "Succeeded":
                    continue
                parent_definition = parent_plan["definitions"][record["definition_index"]]
                values = {**parent_definition["static"], **record["tuned_hyperparameters"]}
                params = {r.name: internal_value(r, values.get(r.name)) for r in definition.ranges}
                if any(value is None for value in params.values()):
                    continue
                trials.append(
                    optuna.trial.create_trial(
                        params=params,
                        distributions=distributions,
                        value=record["final_value"],
                        user_attrs={"parent": parent_plan["name"], "training_job": record["name"]},
                    )
                )
        definition.study.add_trials(trials)
        definition.study.set_user_attr("warm_started", len(trials))

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        """Resume what a previous supervisor left, then run the tuning job to its end."""
        self.state["supervisor_pid"] = os.getpid()
        self.resume()
        self.save()
        while True:
            self.check_stop_request()
            self.check_tuning_runtime()
            self.poll_jobs()
            if self.ending is None and self.state["status"] == "InProgress":
                self.launch_jobs()
            else:
                self.slots.leave()
            if not self.running and not self.pending and (self.ending is not None or not self.can_launch()):
                self.finish()
                return
            if self.dirty:
                self.save()
            self.wait()

    def can_launch(self) -> bool:
        return len(self.state["training_jobs"]) < self.plan["budget"] and self.next_definition() is not None

    def wait(self) -> None:
        timeout = POLL_PRUNING_S if self.pruning and self.running else POLL_S
        if self.selector.get_map():
            self.selector.select(timeout)  # wakes at once when a job exits (pidfd)
        else:
            time.sleep(timeout)

    def save(self) -> None:
        self.journal.sync()  # first: state.json never names a trial the journal could still lose
        self.state["last_modified_time"] = time.time()
        store.write_json(self.folder / store.STATE, self.state)
        self.dirty = False

    # --- resume --------------------------------------------------------------------------------
    def resume(self) -> None:
        """Settle the training jobs a dead supervisor left InProgress, and Optuna's orphan trials."""
        stopping = self.state["status"] == "Stopping" or (self.folder / store.STOP_REQUESTED).exists()
        rerun = []
        for record in self.state["training_jobs"]:
            if record["status"] != "InProgress":
                continue
            root = store.training_job_dir(self.folder, record["name"])
            container.kill_leftovers(root)
            if stopping or record.get("stop_reason"):
                record["stop_reason"] = record.get("stop_reason") or TUNING_STOPPED
                self._settle_without_process(record)
            else:
                rerun.append(record)
        known = {(r["definition_index"], r["trial_number"]) for r in self.state["training_jobs"]}
        orphans = []
        for definition in self.definitions:
            for trial in definition.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if (definition.index, trial.number) not in known:
                    orphans.append((definition, trial.params))  # asked, but its job was never recorded
                definition.study.tell(trial.number, state=TrialState.FAIL)
        for record in rerun:
            definition = self.definitions[record["definition_index"]]
            definition.study.enqueue_trial(record["optuna_params"])
            trial = definition.study.ask()
            suggest(trial, definition.ranges)  # the enqueued values: registers them with Optuna
            record.update(
                trial_number=trial.number,
                attempts=record.get("attempts", 1) + 1,
                start_time=None,
                pid=None,
            )
            note = (
                f"[local engine] The engine restarted while this training job ran; running it again "
                f"(attempt {record['attempts']}).\n"
            )
            log = store.training_job_log(self.folder, record["name"])
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(note, encoding="utf-8")
            self.pending.append((record, definition, trial))  # started when a machine slot is free
        for definition, params in orphans:
            # Queued after the re-runs have taken theirs: ask() hands out queued trials oldest first.
            definition.study.enqueue_trial(params)
        if stopping and self.state["status"] == "InProgress":
            self.state["status"] = "Stopping"
        if self.state["status"] == "Stopping":
            self.ending = "Stopped"
        self.dirty = True

    def _settle_without_process(self, record: dict[str, Any]) -> None:
        """End a job whose process is gone, from what its log and failure file say."""
        definition = self.definitions[record["definition_index"]]
        follower = LogFollower(store.training_job_log(self.folder, record["name"]), definition.metric_definitions,
                               self.limits.get("metrics_cpu_s") or 0)
        follower.poll(final=True)
        self._record_end(record, definition, follower, returncode=None)

    # --- launching -----------------------------------------------------------------------------
    def next_definition(self) -> Definition | None:
        """The definition that gets the next training job: in turn, skipping exhausted grids."""
        count = len(self.state["training_jobs"])
        per_definition = [0] * len(self.definitions)
        for record in self.state["training_jobs"]:
            per_definition[record["definition_index"]] += 1
        for offset in range(len(self.definitions)):
            definition = self.definitions[(count + offset) % len(self.definitions)]
            if definition.grid_size is None or per_definition[definition.index] < definition.grid_size:
                return definition
        return None

    def launch_jobs(self) -> None:
        """Start training jobs (re-runs first) while the job's parallelism allows and the machine has slots."""
        while len(self.running) < self.plan["parallel"] and (self.pending or self.can_launch()):
            slot = self.slots.try_take()
            if slot is None:
                return  # queued for the machine's next free slot
            if self.pending:
                record, definition, trial = self.pending.pop(0)
                self.start(record, definition, trial, slot)
                continue
            definition = self.next_definition()
            assert definition is not None
            trial = definition.study.ask()
            tuned = suggest(trial, definition.ranges)
            number = len(self.state["training_jobs"]) + 1
            record = {
                "name": training_job_name(self.plan["name"], number),
                "definition_index": definition.index,
                "definition_name": definition.label,
                "trial_number": trial.number,
                "optuna_params": trial.params,
                "tuned_hyperparameters": tuned,
                "status": "InProgress",
                "objective_status": "Pending",
                "creation_time": time.time(),
                "start_time": None,
                "end_time": None,
                "failure_reason": None,
                "retryable": False,
                "final_value": None,
                "final_metrics": {},
                "stop_reason": None,
                "attempts": 1,
                "pid": None,
            }
            self.state["training_jobs"].append(record)
            self.start(record, definition, trial, slot)
        self.slots.leave()  # wants no slot until a training job ends

    def start(self, record: dict[str, Any], definition: Definition, trial: Trial, slot: Slot) -> None:
        """Lay out the job's directory and start its process, which holds ``slot`` while it runs."""
        record["start_time"] = time.time()
        self.save()  # recorded before it starts: a restart finds it InProgress and re-runs it
        name = record["name"]
        root = store.training_job_dir(self.folder, name)
        log = store.training_job_log(self.folder, name)
        store.training_job_metrics(self.folder, name).unlink(missing_ok=True)  # a re-run's start afresh
        hyperparameters = {
            **definition.static,
            **record["tuned_hyperparameters"],
            "_tuning_objective_metric": definition.objective,
        }
        try:
            container.prepare(root, hyperparameters, definition.channels, self.allowed)
            env = container.child_env(
                root,
                training_job_name=name,
                training_job_arn=self.training_job_arn(name),
                channels=[c["name"] for c in definition.channels],
                hyperparameters=hyperparameters,
                threads=self.plan["threads_per_job"],
                pythonpath=self.plan["pythonpath"],
                extra=definition.environment,
            )
            wrap = sandbox.wrapper(root, self.limits.get("bwrap") or "bwrap") if self.sandboxed else None
            process, relay = container.launch(definition.command, root, log, env, self.limits, wrap)
        except (OSError, ValueError) as exc:
            slot.release()
            record.update(
                status="Failed",
                objective_status="Failed",
                end_time=time.time(),
                failure_reason=f"ClientError: the training job could not start on the local engine: {exc}"[:1024],
            )
            definition.study.tell(trial, state=TrialState.FAIL)
            self.dirty = True
            return
        record["pid"] = process.pid  # for people reading state.json; saved with the next change
        job = Running(
            record=record,
            definition=definition,
            process=process,
            trial=trial,
            follower=LogFollower(log, definition.metric_definitions, self.limits.get("metrics_cpu_s") or 0),
            started=time.monotonic(),
            slot=slot,
            relay=relay,
        )
        try:
            job.pidfd = os.pidfd_open(process.pid)
            self.selector.register(job.pidfd, selectors.EVENT_READ, name)
        except (AttributeError, OSError):
            job.pidfd = None  # no pidfd here: the loop polls on its timeout instead
        self.running[name] = job

    def training_job_arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.plan['region']}:{self.plan['account']}:training-job/{name.lower()}"

    # --- watching ------------------------------------------------------------------------------
    def poll_jobs(self) -> None:
        now = time.monotonic()
        for job in list(self.running.values()):
            emitted = job.follower.poll()
            job.metrics_new = job.metrics_new or bool(emitted)
            # An exited job's series are stored once, by finalize (a short job's only write).
            if job.metrics_new and now - job.metrics_saved >= METRICS_SAVE_S and not self._exited(job):
                self.save_metrics(job.record["name"], job.follower)
                job.metrics_saved, job.metrics_new = now, False
            if self.pruning and job.record["stop_reason"] is None:
                self.report(job, emitted)
            limit = job.definition.max_runtime_s
            if job.record["stop_reason"] is None and limit and now - job.started > limit:
                self.stop_job(job, MAX_RUNTIME)
            log_mb = self.limits.get("log_mb")
            if log_mb and self._log_size(job) > log_mb * resource_limits.MB:
                self.limit_hit(job, resource_limits.log_message(self.limits))
            if job.follower.exhausted:
                self.limit_hit(job, resource_limits.metrics_message(self.limits))
            if job.term_sent is not None and now - job.term_sent > KILL_GRACE_S:
                container.signal_group(job.process.pid, signal.SIGKILL)
            if self._exited(job):
                self.finalize(job)

    def report(self, job: Running, emitted: list[tuple[str, float]]) -> None:
        """Feed new per-epoch objective values to Optuna and stop the job if its pruner says so."""
        new = False
        for name, value in emitted:
            if name == job.definition.objective:
                job.steps += 1
                job.trial.report(value, job.steps)
                new = True
        hyperband = self.plan["hyperband"]
        if hyperband and job.steps >= hyperband["max_resource"]:
            return  # the job has had its whole budget: stopping it now would save nothing
        if new and not self._exited(job) and job.trial.should_prune():
            reason = HYPERBAND if self.plan["strategy"] == "Hyperband" else EARLY_STOPPED
            self.stop_job(job, reason)

    def stop_job(self, job: Running, reason: str) -> None:
        """Ask a training job to stop (SIGTERM to its process group, SIGKILL after a grace period)."""
        job.record["stop_reason"] = reason
        if job.term_sent is None:
            job.term_sent = time.monotonic()
            container.signal_group(job.process.pid, signal.SIGTERM, spare_leader=self.sandboxed)
        self.dirty = True

    @staticmethod
    def _log_size(job: Running) -> int:
        """The log's size on disk (the follower may lag behind a fast writer)."""
        try:
            return job.follower.path.stat().st_size
        except FileNotFoundError:
            return 0

    def limit_hit(self, job: Running, message: str) -> None:
        """Kill a training job that hit one of the engine's limits; it ends Failed with ``message``."""
        if job.record.get("limit_exceeded") is not None:
            return
        job.record["limit_exceeded"] = message
        job.record["stop_reason"] = LIMIT_EXCEEDED
        container.signal_group(job.process.pid, signal.SIGKILL)  # no grace: the log would keep growing
        self.dirty = True

    def save_metrics(self, name: str, follower: LogFollower) -> None:
        """Store a training job's metric series beside the job's state, where the backend reads them."""
        path = store.training_job_metrics(self.folder, name)
        path.parent.mkdir(exist_ok=True)
        store.write_json(path, follower.series.to_json())

    @staticmethod
    def _exited(job: Running) -> bool:
        """Whether the job's process has exited; it stays a zombie so its group can still be signalled."""
        if not hasattr(os, "waitid"):  # macOS: reaps at once (its leftovers are then not signalled)
            return job.process.poll() is not None
        try:
            info = os.waitid(os.P_PID, job.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def finalize(self, job: Running) -> None:
        """Record a training job whose process has exited, and tell Optuna how it went."""
        # Whatever the job started and left behind goes with it; its pid is still reserved by the
        # unreaped process, so the group cannot be someone else's.
        container.signal_group(job.process.pid, signal.SIGKILL)
        returncode = job.process.wait()
        if job.relay is not None:
            # The relay ends once every writer of its pipe has: the log is then whole. A process the
            # job started in a session of its own may still hold the pipe; it gets no longer than this.
            try:
                job.relay.wait(timeout=RELAY_DRAIN_S)
            except subprocess.TimeoutExpired:
                job.relay.kill()
                job.relay.wait()
        if job.pidfd is not None:
            self.selector.unregister(job.pidfd)
            os.close(job.pidfd)
        del self.running[job.record["name"]]
        job.follower.poll(final=True)
        self._record_end(job.record, job.definition, job.follower, returncode, job.trial)
        if job.slot is not None:
            job.slot.release()  # after the end is recorded: the slot outlives the process

    def _record_end(
        self,
        record: dict[str, Any],
        definition: Definition,
        follower: LogFollower,
        returncode: int | None,
        trial: Trial | None = None,
    ) -> None:
        root = store.training_job_dir(self.folder, record["name"])
        self.save_metrics(record["name"], follower)
        value = follower.last(definition.objective)
        record["final_metrics"] = {name: values[-1] for name, values in follower.series.values.items()}
        record["end_time"] = time.time()
        if record.get("limit_exceeded"):
            record["status"] = "Failed"
            record["failure_reason"] = f"AlgorithmError: {record['limit_exceeded']}"
        elif record.get("stop_reason"):
            record["status"] = "Stopped"
        elif returncode == 0:
            record["status"] = "Completed"
        else:
            record["status"] = "Failed"
            reason = container.failure_reason(root) or self._exit_reason(returncode)
            seen = f"{reason}\n{tail(store.training_job_log(self.folder, record['name']), 8192)}"
            hit = resource_limits.exceeded(returncode, seen, self.limits, self.sandboxed)
            if hit:
                reason = f"AlgorithmError: {hit}. {reason.removeprefix('AlgorithmError: ')}"
            record["failure_reason"] = reason[:1024]
        if record["status"] != "Failed" and value is not None:
            record["objective_status"] = "Succeeded"
            record["final_value"] = value
        else:
            record["objective_status"] = "Failed"
            # A stopped job (by the user, a completion or an early-stopping rule) is not a failure:
            # its missing objective is no fault of its regex.
            if record["status"] == "Completed":
                regex = next(
                    (d["Regex"] for d in definition.metric_definitions if d["Name"] == definition.objective), "?"
                )
                record["failure_reason"] = (
                    f"The objective metric {definition.objective} was never reported: no line of the "
                    f"training job's log matched its regex {regex!r}"
                )[:1024]
        if trial is None:
            trial_number = record["trial_number"]
            if definition.study.get_trials(deepcopy=False)[trial_number].state != TrialState.RUNNING:
                trial_number = None
        else:
            trial_number = trial.number
        if trial_number is not None:
            if record["objective_status"] != "Succeeded":
                definition.study.tell(trial_number, state=TrialState.FAIL)
            elif record.get("stop_reason") in PRUNED_REASONS:
                definition.study.tell(trial_number, state=TrialState.PRUNED)
            else:
                definition.study.tell(trial_number, value)
        if record["objective_status"] == "Succeeded":
            self.after_objective(value)
        self.dirty = True

    def _exit_reason(self, returncode: int | None) -> str:
        if returncode is None:
            return "AlgorithmError: the training job's process ended while the engine was not watching it"
        sig = resource_limits.death_signal(returncode, self.sandboxed)
        if sig is not None:
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = f"signal {sig}"
            return f"AlgorithmError: the training job's process was killed by {name}"
        return f"AlgorithmError: the training job's process exited with code {returncode} and wrote no output/failure file"

    # --- completion ----------------------------------------------------------------------------
    def after_objective(self, value: float) -> None:
        """Update the best value and the completion criteria after a job reported its objective."""
        state = self.state
        best = state.get("best_value")
        if best is None:
            state["best_value"] = value
            state["not_improving"] = 0
            state["since_convergence_improvement"] = 0
        else:
            state["not_improving"] = 0 if improves(value, best, self.direction, IMPROVEMENT) else state["not_improving"] + 1
            if improves(value, best, self.direction, CONVERGENCE_IMPROVEMENT):
                state["since_convergence_improvement"] = 0
            else:
                state["since_convergence_improvement"] += 1
            if improves(value, best, self.direction):
                state["best_value"] = value
        criteria = self.plan["completion"]
        best = state["best_value"]
        target = criteria.get("target")
        if target is not None and (best >= target if self.direction == "Maximize" else best <= target):
            self.wind_down("Completed")
        limit = criteria.get("not_improving")
        if limit is not None and state["not_improving"] >= limit:
            self.wind_down("Completed")
        if criteria.get("convergence"):
            window = max(CONVERGENCE_MIN_WINDOW, math.ceil(0.1 * self.plan["budget"]))
            if state["since_convergence_improvement"] >= window:
                state["convergence_time"] = time.time()
                self.wind_down("Completed")

    def wind_down(self, ending: str) -> None:
        """Launch nothing more and stop the running training jobs."""
        if self.ending is None:
            self.ending = ending
        reason = TUNING_STOPPED if ending == "Stopped" else TUNING_COMPLETED
        for job in self.running.values():
            if job.record["stop_reason"] is None or reason == TUNING_STOPPED:
                self.stop_job(job, job.record["stop_reason"] or reason)
        self.slots.leave()
        while self.pending:  # re-runs still waiting for a slot never start
            record, definition, trial = self.pending.pop(0)
            record["stop_reason"] = reason
            follower = LogFollower(store.training_job_log(self.folder, record["name"]), definition.metric_definitions)
            self._record_end(record, definition, follower, None, trial)

    def check_stop_request(self) -> None:
        if self.ending != "Stopped" and (self.folder / store.STOP_REQUESTED).exists():
            self.ending = None  # a stop outranks a completion that was winding down
            self.state["status"] = "Stopping"
            self.wind_down("Stopped")
            self.dirty = True

    def check_tuning_runtime(self) -> None:
        limit = self.plan.get("max_runtime_s")
        if self.ending is None and limit and time.time() - self.state["creation_time"] > limit:
            self.wind_down("Completed")

    def finish(self) -> None:
        """Record the tuning job's final status."""
        state = self.state
        if self.ending == "Stopped" or state["status"] == "Stopping":
            state["status"] = "Stopped"
        elif any(r["objective_status"] == "Succeeded" for r in state["training_jobs"]):
            state["status"] = "Completed"
        else:
            state["status"] = "Failed"
            state["failure_reason"] = self._no_success_reason()
        state["end_time"] = time.time()
        self.save()

    def _no_success_reason(self) -> str:
        jobs = self.state["training_jobs"]
        if not jobs:
            return "No training job was run before the tuning job ended"
        first = next((r["failure_reason"] for r in jobs if r.get("failure_reason")), None)
        text = f"No training job reported the objective metric ({len(jobs)} ran)"
        if first:
            text += f". First failure: {first}"
        return text[:1024]

    def abort(self, error: str) -> None:
        """Stop every running job after an unexpected error; the next supervisor re-runs them."""
        for job in self.running.values():
            container.signal_group(job.process.pid, signal.SIGKILL)
        self.state["last_error"] = error[:1024]
        try:
            self.save()
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    """Run the supervisor of the tuning job in FOLDER, holding (or taking) its supervisor lock."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--lock-fd", type=int, default=None)
    args = parser.parse_args(argv)
    lock = store.SupervisorLock(args.folder)
    if args.lock_fd is not None:
        lock.adopt(args.lock_fd)
    elif not lock.try_acquire():
        print("Another supervisor runs this tuning job", file=sys.stderr)
        return 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    supervisor = None
    try:
        supervisor = Supervisor(args.folder)
        if supervisor.state["status"] in store.ACTIVE_STATUSES:
            supervisor.run()
        return 0
    except Exception as exc:  # noqa: BLE001 - recorded for the backend, which restarts or fails the job
        traceback.print_exc()
        if supervisor is not None:
            supervisor.abort(f"{type(exc).__name__}: {exc}")
        return 1
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
