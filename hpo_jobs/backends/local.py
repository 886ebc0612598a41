"""The local engine behind the Backend interface: SageMaker's requests in, SageMaker's responses out.

``create_tuning_job`` checks the request (defensively: the wizard checks it too), resolves it with
the settings into a plan (the command of each algorithm, the real path of each channel, the
limits), writes the job's folder under settings.HPO_LOCAL_ENGINE_DIR and starts a detached
supervisor process (``hpo_jobs.local_engine.supervisor``) that runs the training jobs. Every other
method reads the folder's ``state.json``, which only the supervisor writes, and answers at once.

Safety: a training job's command comes from the catalogue (built-ins) or from
settings.HPO_LOCAL_CUSTOM_IMAGES, never from the request; channels must lie under
settings.HPO_LOCAL_DATA_DIRS once symlinks are resolved; Environment variables that could load
code (LD_PRELOAD, PYTHONPATH...) are refused; and the training job's environment is built from
scratch, so it never sees the server's secrets.

Restarts: if a job is InProgress and its supervisor is not alive (worker or machine restart),
``describe_tuning_job`` (which the poller calls every few seconds) starts a new supervisor, which
resumes the job: finished training jobs are kept, an interrupted one is re-run with the same name
and hyperparameters. After settings.HPO_LOCAL_MAX_RESTARTS restarts (default 3) the job ends
Failed with the reason, so it is never InProgress forever.
"""

from __future__ import annotations

import base64
import binascii
import copy
import errno
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.conf import settings

from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.local_engine import container, sandbox, store
from hpo_jobs.local_engine.metrics import tail
from hpo_jobs.sagemaker.metrics import compile_definitions
from hpo_jobs.local_engine.space import grid, infer_max_resource, parse_ranges
# The one copy of botocore's model per process, loaded by the worker before its pool forks.
from hpo_jobs.sagemaker.spec import input_shape as _input_shape

from .base import AlreadyExistsError, NotFoundError, PermanentBackendError, TransientBackendError

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"  # the ARNs are shape-valid; no AWS account is involved
NAME_RE = facts.JOB_NAME_RE
TRAINING_JOB_NAME_RE = facts.TRAINING_JOB_NAME_RE
DEFINITION_NAME_RE = facts.DEFINITION_NAME_RE
# A channel's name becomes a folder name under input/data: "." and ".." must never pass.
CHANNEL_NAME_RE = facts.CHANNEL_NAME_RE
STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")
DIRECTIONS = ("Maximize", "Minimize")
# The built-ins that run here, and the module that runs each one.
BUILTIN_MODULES = {"xgboost": "xgboost_train", "linear-learner": "linear_learner_train", "knn": "knn_train"}
# SageMaker's quota on training jobs per tuning job: the budget when the request gives none.
DEFAULT_MAX_TRAINING_JOBS = facts.MAX_TRAINING_JOBS
_COUNTER_NAMES = facts.STATUS_COUNTERS


def machine_limits() -> dict[str, Any]:
    """The engine's limits from settings, as the supervisor applies them (see local_engine.limits)."""
    return {
        "max_parallel": settings.HPO_LOCAL_MAX_PARALLEL,
        "memory_mb": settings.HPO_LOCAL_MAX_MEMORY_MB,
        "cpu_s": settings.HPO_LOCAL_MAX_CPU_S,
        "file_mb": settings.HPO_LOCAL_MAX_FILE_MB,
        "log_mb": settings.HPO_LOCAL_MAX_LOG_MB,
        "metrics_cpu_s": settings.HPO_LOCAL_MAX_METRICS_CPU_S,
        "sandbox": settings.HPO_LOCAL_SANDBOX,
        "bwrap": sandbox.bwrap_path(),
    }


def _timestamp(seconds: float | None) -> datetime | None:
    return facts.to_datetime(seconds)


class LocalBackend:
    """Runs tuning jobs on this machine, one detached supervisor process per job."""

    name = "local"
    live_metrics = True  # the supervisor stores each training job's series as it reads the log

    # --- the interface -------------------------------------------------------------------------
    def create_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Check the request, write the job's folder and start its supervisor; returns the job's ARN."""
        plan = self._plan(request)
        folder = self._folder(plan["name"])
        if folder.exists():
            raise AlreadyExistsError(f"A tuning job named {plan['name']} already exists")
        try:
            self._write_folder(folder, request, plan)
        except AlreadyExistsError:
            raise
        except OSError as exc:
            raise TransientBackendError(f"The local engine could not write the job's folder: {exc}") from exc
        if plan["limits"]["sandbox"] == "none":
            log.warning("Tuning job %s runs its training jobs without a sandbox (HPO_LOCAL_SANDBOX=none): "
                        "they can read and write whatever the portal's OS user can", plan["name"])
        self._start_supervisor(folder)
        return {"HyperParameterTuningJobArn": plan["arn"]}

    @staticmethod
    def _write_folder(folder: Path, request: dict[str, Any], plan: dict[str, Any]) -> None:
        """Write the job's folder so that it appears whole or not at all."""
        engine_dir = Path(settings.HPO_LOCAL_ENGINE_DIR)
        engine_dir.mkdir(parents=True, exist_ok=True)
        staging = engine_dir / f".creating-{uuid.uuid4().hex}"
        staging.mkdir()
        now = time.time()
        state = {
            "version": 1,
            "status": "InProgress",
            "creation_time": now,
            "last_modified_time": now,
            "end_time": None,
            "failure_reason": None,
            "training_jobs": [],
            "launches": 0,
            "best_value": None,
            "not_improving": 0,
            "since_convergence_improvement": 0,
            "convergence_time": None,
            "last_error": None,
            "supervisor_pid": None,
        }
        try:
            store.write_json(staging / store.REQUEST, request)
            store.write_json(staging / store.PLAN, plan)
            store.write_json(staging / store.STATE, state)
            # A racing create of the same name fails here: rename() will not replace a full folder.
            os.rename(staging, folder)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise AlreadyExistsError(f"A tuning job named {plan['name']} already exists") from None
            raise

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        """A DescribeHyperParameterTuningJob response; restarts the job's supervisor if it died."""
        folder = self._existing_folder(name)
        state = self._state(folder)
        if state["status"] in store.ACTIVE_STATUSES and not store.supervisor_alive(folder):
            self._start_supervisor(folder)
            state = self._state(folder)
        request = store.read_json(folder / store.REQUEST)
        plan = store.read_json(folder / store.PLAN)
        return self._describe(folder, request, plan, state)

    def list_training_jobs(
        self, name: str, next_token: str | None = None, max_results: int = 100
    ) -> dict[str, Any]:
        """One page of ListTrainingJobsForHyperParameterTuningJob, sorted by name (SageMaker's default)."""
        if not isinstance(max_results, int) or not 1 <= max_results <= 100:
            raise PermanentBackendError("MaxResults must be between 1 and 100")
        folder = self._existing_folder(name)
        state = self._state(folder)
        plan = store.read_json(folder / store.PLAN)
        records = sorted(state["training_jobs"], key=lambda r: r["name"])
        if next_token:
            # The token is the last name of the previous page: pages stay right while jobs are added.
            try:
                after = base64.urlsafe_b64decode(next_token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise PermanentBackendError("The NextToken is not valid") from None
            records = [r for r in records if r["name"] > after]
        page = records[:max_results]
        response: dict[str, Any] = {"TrainingJobSummaries": [self._summary(plan, r) for r in page]}
        if len(records) > max_results:
            response["NextToken"] = base64.urlsafe_b64encode(page[-1]["name"].encode()).decode()
        return response

    def stop_tuning_job(self, name: str) -> None:
        """Ask the job's supervisor to stop it: Stopping, children terminated, then Stopped."""
        folder = self._existing_folder(name)
        state = self._state(folder)
        if state["status"] not in store.ACTIVE_STATUSES:
            raise PermanentBackendError(
                f"The tuning job {name} has already ended ({state['status']}); it cannot be stopped"
            )
        stop_file = folder / store.STOP_REQUESTED
        if not stop_file.exists():
            stop_file.write_text(datetime.now(timezone.utc).isoformat(), encoding="utf-8")
        if not store.supervisor_alive(folder):
            self._start_supervisor(folder)  # a new supervisor carries the stop out

    def get_training_job_log(self, training_job_name: str, max_bytes: int = 1_000_000) -> str:
        """The tail of a training job's log, as CloudWatch shows it (tabs as #011)."""
        folder, name = self._training_job(training_job_name)
        return tail(store.training_job_log(folder, name), max_bytes)

    def get_training_job_metrics(
        self, training_job_name: str, metric_definitions: list[dict[str, str]]
    ) -> dict[str, list[float]]:
        """The metric series the supervisor stored while following the log (the plan's definitions)."""
        folder, name = self._training_job(training_job_name)
        try:
            return store.read_json(store.training_job_metrics(folder, name))
        except FileNotFoundError:
            return {}  # not started yet, or nothing matched so far

    def _training_job(self, training_job_name: str) -> tuple[Path, str]:
        """The tuning job folder and exact name of a training job; NotFoundError when there is none."""
        if not isinstance(training_job_name, str) or not TRAINING_JOB_NAME_RE.fullmatch(training_job_name):
            raise NotFoundError(f"No training job named {training_job_name!r}")
        parts = training_job_name.rsplit("-", 2)
        if len(parts) != 3:
            raise NotFoundError(f"No training job named {training_job_name}")
        folder = self._existing_folder(parts[0])
        state = self._state(folder)
        record = next(
            (r for r in state["training_jobs"] if r["name"].lower() == training_job_name.lower()), None
        )
        if record is None:
            raise NotFoundError(f"No training job named {training_job_name}")
        return folder, record["name"]

    def is_name_free(self, name: str) -> bool:
        """Whether no tuning job with this name exists here (names are case-insensitive)."""
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            return True  # no job can have a name outside the pattern
        return not self._folder(name).exists()

    # --- folders and state ---------------------------------------------------------------------
    @staticmethod
    def _folder(name: str) -> Path:
        return Path(settings.HPO_LOCAL_ENGINE_DIR) / name.lower()

    def _existing_folder(self, name: str) -> Path:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise NotFoundError(f"No tuning job named {name!r}")
        folder = self._folder(name)
        if not (folder / store.STATE).exists():
            raise NotFoundError(f"No tuning job named {name}")
        return folder

    @staticmethod
    def _state(folder: Path) -> dict[str, Any]:
        return store.read_json(folder / store.STATE)

    def _start_supervisor(self, folder: Path) -> bool:
        """Start a supervisor for an active job that has none; give up after too many restarts."""
        lock = store.SupervisorLock(folder)
        if not lock.try_acquire():
            return False  # one is running (or another process is starting one right now)
        try:
            state = self._state(folder)
            if state["status"] not in store.ACTIVE_STATUSES:
                return False
            max_restarts = settings.HPO_LOCAL_MAX_RESTARTS
            if state["launches"] > max_restarts:
                self._give_up(folder, state)
                return False
            state["launches"] += 1
            store.write_json(folder / store.STATE, state)
            env = {
                "PATH": os.environ.get("PATH", os.defpath),
                "HOME": os.environ.get("HOME", str(folder)),
                "LANG": "C.UTF-8",
                "PYTHONPATH": str(settings.BASE_DIR),
            }
            with open(folder / store.SUPERVISOR_LOG, "ab") as output:
                # The lock passes to the child with its descriptor: no gap for a second supervisor.
                # Should this fail, the next describe tries again (the attempt counts as a launch).
                subprocess.Popen(
                    [sys.executable, "-m", "hpo_jobs.local_engine.supervisor", str(folder), "--lock-fd", str(lock.fd)],
                    cwd=settings.BASE_DIR,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(lock.fd,),
                )
            return True
        except OSError:
            log.exception("Could not start the supervisor of %s; the next describe tries again", folder.name)
            return False
        finally:
            lock.release()

    @staticmethod
    def _give_up(folder: Path, state: dict[str, Any]) -> None:
        """End a job whose supervisor keeps dying: its running training jobs are killed and recorded."""
        stopped = (folder / store.STOP_REQUESTED).exists()
        now = time.time()
        for record in state["training_jobs"]:
            if record["status"] != "InProgress":
                continue
            container.kill_leftovers(store.training_job_dir(folder, record["name"]))
            record.update(end_time=now, objective_status="Failed")
            if stopped:
                record["status"] = "Stopped"
            else:
                record.update(
                    status="Failed",
                    retryable=True,
                    failure_reason="InternalServerError: the local engine stopped while this training job ran",
                )
        restarts = state["launches"] - 1
        if stopped:
            state["status"] = "Stopped"
        else:
            state["status"] = "Failed"
            last = state.get("last_error") or "none recorded (see supervisor.log in the job's folder)"
            state["failure_reason"] = (
                f"The local engine's supervisor stopped unexpectedly and was restarted {restarts} times; "
                f"giving up. Last error: {last}"
            )[:1024]
        state["end_time"] = state["last_modified_time"] = now
        store.write_json(folder / store.STATE, state)

    # --- responses -----------------------------------------------------------------------------
    def _describe(
        self, folder: Path, request: dict[str, Any], plan: dict[str, Any], state: dict[str, Any]
    ) -> dict[str, Any]:
        records = state["training_jobs"]
        status_counters = dict.fromkeys(_COUNTER_NAMES, 0)
        objective_counters = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        for record in records:
            if record["status"] == "Failed":
                status_counters["RetryableError" if record.get("retryable") else "NonRetryableError"] += 1
            else:
                status_counters[record["status"]] += 1
            objective_counters[record["objective_status"]] += 1
        status = state["status"]
        if status == "InProgress" and (folder / store.STOP_REQUESTED).exists():
            status = "Stopping"  # asked; the supervisor acts on it within a fraction of a second
        response: dict[str, Any] = {
            "HyperParameterTuningJobName": request["HyperParameterTuningJobName"],
            "HyperParameterTuningJobArn": plan["arn"],
            "HyperParameterTuningJobConfig": copy.deepcopy(request["HyperParameterTuningJobConfig"]),
            "HyperParameterTuningJobStatus": status,
            "CreationTime": _timestamp(state["creation_time"]),
            "LastModifiedTime": _timestamp(state["last_modified_time"]),
            "TrainingJobStatusCounters": status_counters,
            "ObjectiveStatusCounters": objective_counters,
        }
        for key in ("TrainingJobDefinition", "TrainingJobDefinitions", "WarmStartConfig", "Autotune"):
            if request.get(key):
                response[key] = copy.deepcopy(request[key])
        if state.get("end_time"):
            response["HyperParameterTuningEndTime"] = _timestamp(state["end_time"])
        best = self._best(plan, records)
        if best is not None:
            response["BestTrainingJob"] = self._summary(plan, best)
        warm_start = plan.get("warm_start")
        if warm_start and warm_start["type"] == "IdenticalDataAndAlgorithm":
            overall = self._overall_best(plan, best, warm_start["parents"])
            if overall is not None:
                response["OverallBestTrainingJob"] = overall
        if state.get("failure_reason"):
            response["FailureReason"] = state["failure_reason"][:1024]
        details: dict[str, Any] = {"NumberOfTrainingJobsObjectiveNotImproving": state.get("not_improving", 0)}
        if state.get("convergence_time"):
            details["ConvergenceDetectedTime"] = _timestamp(state["convergence_time"])
        response["TuningJobCompletionDetails"] = details
        end = state.get("end_time") or time.time()
        response["ConsumedResources"] = {"RuntimeInSeconds": max(0, int(end - state["creation_time"]))}
        return response

    @staticmethod
    def _best(plan: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The job with the best final objective among those whose objective succeeded; on a tie the
        first to report it (as SageMaker keeps its best until a job does strictly better)."""
        best = None
        maximize = plan["direction"] == "Maximize"
        in_order = sorted(records, key=lambda r: (r.get("end_time") or float("inf"), r["creation_time"], r["name"]))
        for record in in_order:
            if record["objective_status"] != "Succeeded":
                continue
            value = record["final_value"]
            if best is None or (value > best["final_value"] if maximize else value < best["final_value"]):
                best = record
        return best

    def _overall_best(
        self, plan: dict[str, Any], best: dict[str, Any] | None, parents: list[dict[str, str]]
    ) -> dict[str, Any] | None:
        """The best training job of this job and its warm start parents, as a summary."""
        candidates = [(plan, best)] if best is not None else []
        for parent in parents:
            folder = Path(parent["folder"])
            try:
                parent_plan = store.read_json(folder / store.PLAN)
                parent_best = self._best(parent_plan, self._state(folder)["training_jobs"])
            except FileNotFoundError:
                continue
            if parent_best is not None:
                candidates.append((parent_plan, parent_best))
        if not candidates:
            return None
        sign = 1 if plan["direction"] == "Maximize" else -1
        owner, record = max(candidates, key=lambda c: sign * c[1]["final_value"])
        summary = self._summary(owner, record)
        summary["FinalHyperParameterTuningJobObjectiveMetric"]["Type"] = plan["direction"]
        return summary

    @staticmethod
    def _summary(plan: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
        """A HyperParameterTrainingJobSummary of one training job."""
        status = record["status"]
        if status == "InProgress" and record.get("stop_reason"):
            status = "Stopping"
        definition = plan["definitions"][record["definition_index"]]
        summary: dict[str, Any] = {
            "TrainingJobName": record["name"],
            "TrainingJobArn": (
                f"arn:aws:sagemaker:{plan['region']}:{plan['account']}:training-job/{record['name'].lower()}"
            ),
            "TuningJobName": plan["name"],
            "CreationTime": _timestamp(record["creation_time"]),
            "TrainingJobStatus": status,
            "TunedHyperParameters": dict(record["tuned_hyperparameters"]),
            "ObjectiveStatus": record["objective_status"],
        }
        if record.get("definition_name"):
            summary["TrainingJobDefinitionName"] = record["definition_name"]
        if record.get("start_time"):
            summary["TrainingStartTime"] = _timestamp(record["start_time"])
        if record.get("end_time"):
            summary["TrainingEndTime"] = _timestamp(record["end_time"])
        if record.get("failure_reason"):
            summary["FailureReason"] = record["failure_reason"][:1024]
        if record["objective_status"] == "Succeeded":
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": definition["objective"]["Type"],
                "MetricName": definition["objective"]["MetricName"],
                "Value": record["final_value"],
            }
        return summary

    # --- the request, checked and resolved ------------------------------------------------------
    def _plan(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request resolved for the supervisor; PermanentBackendError with a clear message if it cannot run here."""
        import botocore.validate

        if not isinstance(request, dict):
            raise PermanentBackendError("The request must be a CreateHyperParameterTuningJob structure")
        report = botocore.validate.ParamValidator().validate(request, _input_shape())
        if report.has_errors():
            raise PermanentBackendError(f"The request is not valid: {report.generate_report()}"[:1024])
        name = request["HyperParameterTuningJobName"]
        if not NAME_RE.fullmatch(name):
            raise PermanentBackendError(
                "HyperParameterTuningJobName takes 1 to 32 letters, digits and hyphens, "
                "starting and ending with a letter or digit"
            )
        if request.get("Autotune"):
            raise PermanentBackendError("Autotune is not supported by the local engine")
        config = request["HyperParameterTuningJobConfig"]
        strategy = config["Strategy"]
        if strategy not in STRATEGIES:
            raise PermanentBackendError(f"Strategy must be one of {', '.join(STRATEGIES)}")
        early_stopping = config.get("TrainingJobEarlyStoppingType") or "Off"
        if early_stopping not in ("Off", "Auto"):
            raise PermanentBackendError("TrainingJobEarlyStoppingType must be Off or Auto")
        if strategy == "Hyperband" and early_stopping != "Off":
            raise PermanentBackendError(
                "Hyperband has its own early stopping: TrainingJobEarlyStoppingType must be Off"
            )
        strategy_config = config.get("StrategyConfig")
        if strategy_config and strategy != "Hyperband":
            raise PermanentBackendError("StrategyConfig is only for the Hyperband strategy")
        single, many = request.get("TrainingJobDefinition"), request.get("TrainingJobDefinitions")
        if bool(single) == bool(many):
            raise PermanentBackendError("Give exactly one of TrainingJobDefinition and TrainingJobDefinitions")
        definitions = [self._plan_definition(d, many is not None, strategy) for d in facts.definitions(request)]
        labels = [d["label"] for d in definitions if d["label"]]
        if len(set(labels)) != len(labels):
            raise PermanentBackendError("The DefinitionName of each training job definition must be unique")

        warm_start = None
        if request.get("WarmStartConfig"):
            warm_start = self._warm_start(request["WarmStartConfig"], definitions)

        limits = config["ResourceLimits"]
        budget = limits.get("MaxNumberOfTrainingJobs")
        if strategy == "Grid":
            combinations = sum(d["grid_size"] for d in definitions)
            if budget is not None and budget != combinations:
                raise PermanentBackendError(
                    f"With Grid search, MaxNumberOfTrainingJobs must be the number of combinations of the "
                    f"categorical values, {combinations}, or be left out (got {budget})"
                )
            budget = combinations
        elif budget is None:
            budget = DEFAULT_MAX_TRAINING_JOBS
        hyperband = None
        if strategy == "Hyperband":
            hb = (strategy_config or {}).get("HyperbandStrategyConfig") or {}
            max_resource = hb.get("MaxResource") or next(
                (r for r in (infer_max_resource(d["static"]) for d in definitions) if r), None
            )
            if not max_resource:
                raise PermanentBackendError(
                    "Hyperband needs MaxResource, or a static epochs hyperparameter to infer it from"
                )
            min_resource = hb.get("MinResource") or 1
            if min_resource > max_resource:
                raise PermanentBackendError("Hyperband's MinResource must not be above its MaxResource")
            hyperband = {"min_resource": min_resource, "max_resource": max_resource}

        cores = os.cpu_count() or 1
        # MaxParallelTrainingJobs, bounded by the machine: the setting (the cores by default) and the cores.
        parallel = max(1, min(limits["MaxParallelTrainingJobs"], settings.HPO_LOCAL_MAX_PARALLEL, cores))
        criteria = config.get("TuningJobCompletionCriteria") or {}
        objective = definitions[0]["objective"]
        region = settings.AWS_REGION
        return {
            "version": 1,
            "name": name,
            "arn": f"arn:aws:sagemaker:{region}:{ACCOUNT}:hyper-parameter-tuning-job/{name.lower()}",
            "region": region,
            "account": ACCOUNT,
            "strategy": strategy,
            "seed": config.get("RandomSeed"),
            "budget": budget,
            "parallel": parallel,
            "threads_per_job": max(1, cores // parallel),
            "max_runtime_s": limits.get("MaxRuntimeInSeconds"),
            "early_stopping": early_stopping,
            "hyperband": hyperband,
            "direction": objective["Type"],
            "completion": {
                "target": criteria.get("TargetObjectiveMetricValue"),
                "not_improving": (criteria.get("BestObjectiveNotImproving") or {}).get(
                    "MaxNumberOfTrainingJobsNotImproving"
                ),
                "convergence": (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled",
            },
            "warm_start": warm_start,
            "allowed_data_dirs": [str(p) for p in self._allowed_dirs()],
            "pythonpath": str(settings.BASE_DIR),
            "limits": machine_limits(),
            "definitions": definitions,
        }

    def _warm_start(self, config: dict[str, Any], definitions: list[dict[str, Any]]) -> dict[str, Any]:
        """The parents a job warm starts from: ended tuning jobs of this engine with the same objective metric.
        As on SageMaker, only a job tuning a single definition warm starts."""
        if len(definitions) > 1:
            raise PermanentBackendError("Warm start is only available when tuning a single training job definition")
        metric = definitions[0]["objective"]["MetricName"]
        parents = []
        for parent in config["ParentHyperParameterTuningJobs"]:
            name = parent["HyperParameterTuningJobName"]
            try:
                folder = self._existing_folder(name)
            except NotFoundError:
                raise PermanentBackendError(f"Warm start parent {name} is not a tuning job of the local engine") from None
            status = self._state(folder)["status"]
            if status not in facts.TUNING_JOB_ENDED_STATUSES:
                raise PermanentBackendError(
                    f"Warm start parent {name} is {status}; a parent must have ended (Completed, Stopped or Failed)"
                )
            parent_plan = store.read_json(folder / store.PLAN)
            if any(d["objective"]["MetricName"] != metric for d in parent_plan["definitions"]):
                raise PermanentBackendError(f"Warm start parent {name} tuned another objective metric than {metric}")
            parents.append({"name": parent_plan["name"], "folder": str(folder)})
        return {"type": config["WarmStartType"], "parents": parents}

    def _plan_definition(self, read: facts.Definition, multiple: bool, strategy: str) -> dict[str, Any]:
        definition, index = read.data, read.index
        label = definition.get("DefinitionName")
        if multiple and not label:
            raise PermanentBackendError("Each of TrainingJobDefinitions needs a DefinitionName")
        if label is not None and not DEFINITION_NAME_RE.fullmatch(label):
            raise PermanentBackendError(
                f"DefinitionName {label!r} takes 1 to 64 letters, digits and hyphens, starting and ending "
                "with a letter or digit"
            )
        where = f"Training job definition {label or index + 1}"

        objective = read.objective
        if not objective:
            raise PermanentBackendError(f"{where}: no objective (TuningObjective or HyperParameterTuningJobObjective)")
        if objective.get("Type") not in DIRECTIONS:
            raise PermanentBackendError(f"{where}: the objective's Type must be Maximize or Minimize")
        metric_name = objective["MetricName"]

        try:
            ranges = parse_ranges(read.ranges)
            size = None
            if strategy == "Grid":
                grid(ranges)  # refuses numeric ranges
                size = facts.grid_size(read.ranges)
        except ValueError as exc:
            raise PermanentBackendError(f"{where}: {exc}") from None
        static = definition.get("StaticHyperParameters") or {}
        overlap = sorted(set(static) & {r.name for r in ranges})
        if overlap:
            raise PermanentBackendError(f"{where}: {overlap[0]} is both static and tuned")

        spec = definition["AlgorithmSpecification"]
        image = spec.get("TrainingImage")
        if spec.get("AlgorithmName") or not image:
            raise PermanentBackendError(
                f"{where}: algorithms from AWS Marketplace (AlgorithmName) cannot run on the local engine; "
                "give a TrainingImage"
            )
        input_mode = spec.get("TrainingInputMode") or "File"
        algorithm = catalogue.algorithm_for_image(image)
        if algorithm is not None:
            module = BUILTIN_MODULES.get(algorithm.key)
            if not algorithm.runnable_locally or module is None:
                raise PermanentBackendError(
                    f"{where}: {algorithm.display_name} is not runnable on the local engine. Run it on "
                    "SageMaker, or choose XGBoost, Linear Learner or k-NN to run here."
                )
            command = [sys.executable, "-m", f"hpo_jobs.local_engine.algorithms.{module}"]
            # As on SageMaker, a built-in's metrics are the catalogue's, whatever the request says.
            metric_definitions = [dict(m) for m in algorithm.metric_definitions]
        else:
            command = settings.HPO_LOCAL_CUSTOM_IMAGES.get(image)
            if not command:
                raise PermanentBackendError(
                    f"{where}: the image {image} has no command on the local engine. An administrator maps "
                    "custom images to local commands in the HPO_LOCAL_CUSTOM_IMAGES setting."
                )
            if not isinstance(command, list) or not all(isinstance(part, str) and part for part in command):
                raise PermanentBackendError(f"{where}: the local command for {image} is misconfigured in settings")
            if input_mode == "Pipe":
                raise PermanentBackendError(f"{where}: Pipe input mode is not supported by the local engine; use File")
            metric_definitions = [{"Name": m["Name"], "Regex": m["Regex"]} for m in spec.get("MetricDefinitions") or []]
            if not metric_definitions:
                raise PermanentBackendError(f"{where}: a custom algorithm needs MetricDefinitions")
        try:
            compile_definitions(metric_definitions)
        except ValueError as exc:
            raise PermanentBackendError(f"{where}: {exc}") from None
        names = [m["Name"] for m in metric_definitions]
        if metric_name not in names:
            raise PermanentBackendError(
                f"{where}: the objective metric {metric_name} is not one of the algorithm's metrics "
                f"({', '.join(names)})"[:1024]
            )

        channels = [self._channel(c, where, input_mode) for c in definition.get("InputDataConfig") or []]
        channel_names = [c["name"] for c in channels]
        if len(set(channel_names)) != len(channel_names):
            raise PermanentBackendError(f"{where}: channel names must be unique")
        environment = definition.get("Environment") or {}
        try:
            container.check_environment(environment)
        except ValueError as exc:
            raise PermanentBackendError(f"{where}: {exc}") from None
        return {
            "label": label,
            "command": list(command),
            "objective": {"Type": objective["Type"], "MetricName": metric_name},
            "metric_definitions": metric_definitions,
            "static": dict(static),
            "ranges": [r.to_json() for r in ranges],
            "channels": channels,
            "max_runtime_s": definition["StoppingCondition"]["MaxRuntimeInSeconds"],
            "environment": dict(environment),
            "grid_size": size,
        }

    @staticmethod
    def _allowed_dirs() -> list[Path]:
        return [Path(p).resolve() for p in settings.HPO_LOCAL_DATA_DIRS]

    def _channel(self, channel: dict[str, Any], where: str, input_mode: str) -> dict[str, Any]:
        name = channel["ChannelName"]
        if not CHANNEL_NAME_RE.fullmatch(name) or name in (".", ".."):
            raise PermanentBackendError(f"{where}: channel name {name!r} may hold only letters, digits, '.', '-' and '_'")
        source = channel["DataSource"]
        if "S3DataSource" not in source:
            raise PermanentBackendError(
                f"{where}: channel {name}: the local engine reads only local folders "
                "(FileSystemDataSource and DatasetSource need SageMaker)"
            )
        s3 = source["S3DataSource"]
        if s3.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise PermanentBackendError(f"{where}: channel {name}: only S3Prefix channels (a folder) run locally")
        if channel.get("CompressionType") == "Gzip":
            raise PermanentBackendError(f"{where}: channel {name}: Gzip channels are not supported locally")
        if channel.get("RecordWrapperType") == "RecordIO":
            raise PermanentBackendError(f"{where}: channel {name}: RecordIO channels are not supported locally")
        path = self._local_path(s3["S3Uri"], f"{where}: channel {name}")
        return {
            "name": name,
            "path": str(path),
            "content_type": channel.get("ContentType"),
            "input_mode": channel.get("InputMode") or input_mode,
        }

    def _local_path(self, uri: str, where: str) -> Path:
        """The resolved local folder a channel URI names; refused unless under an allowed data folder."""
        allowed = self._allowed_dirs()
        folders = ", ".join(str(p) for p in allowed) or "(none configured)"
        parsed = urlparse(uri)
        if parsed.scheme in ("s3", "https", "http"):
            raise PermanentBackendError(
                f"{where}: {uri} is an {parsed.scheme}:// location, which only SageMaker can read. The local "
                f"engine reads local folders under {folders}; run the job on SageMaker or put the data there."
            )
        if parsed.scheme == "file":
            if parsed.netloc not in ("", "localhost"):
                raise PermanentBackendError(f"{where}: a file:// URI must name a local path (file:///...)")
            raw = unquote(parsed.path)
        elif parsed.scheme == "" and uri.startswith("/"):
            raw = uri
        else:
            raise PermanentBackendError(f"{where}: give an absolute local path or a file:// URI (got {uri!r})")
        try:
            # Resolved before the check: "..", and symlinks out of a data folder, are caught here.
            path = Path(raw).resolve()
        except (OSError, RuntimeError, ValueError):
            raise PermanentBackendError(f"{where}: {uri!r} is not a usable path") from None
        if not container.is_within(path, allowed):
            # Checked before existence: the answer must not tell whether a server file exists.
            raise PermanentBackendError(
                f"{where}: {uri} is outside the data folders the local engine may read ({folders})"
            )
        if not path.exists():
            raise PermanentBackendError(f"{where}: {uri} does not exist")
        return path
