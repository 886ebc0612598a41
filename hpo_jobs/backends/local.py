"""The local engine behind the Backend interface: SageMaker's requests in, SageMaker's responses out.

What the engine accepts is declared once: ``capabilities`` (what the wizard offers) and
``check_request`` (every rule of this engine, each problem at its path in the request: built-ins it
runs, the custom images its settings map to a command, Pipe input, compression and record wrappers,
Environment variables, the optional settings it does not honour (checkpoints, retries, a pending time
limit, KMS keys, shuffled channels), warm start parents, and the project's data folders). ``create_tuning_job``
runs the portal's validation with that check (so it refuses nothing validation accepted), resolves
the request with the settings into a plan (the command of each algorithm, the real path of each
channel, the limits), writes the job's folder under settings.HPO_LOCAL_ENGINE_DIR and starts a
detached supervisor process (``hpo_jobs.local_engine.supervisor``) that runs the training jobs.
Every other method reads the folder's ``state.json``, which only the supervisor writes, and answers
at once.

Safety: a training job's command comes from the catalogue (built-ins) or from
settings.HPO_LOCAL_CUSTOM_IMAGES, never from the request; channels must lie under the project's
data folders (settings.HPO_LOCAL_DATA_DIRS, ``{project}`` replaced by the slug of the project the
request's PROJECT_TAG names) once symlinks are resolved, and a path outside them is refused with
the same words whether it exists or not; Environment variables that could load code (LD_PRELOAD,
PYTHONPATH...) are refused; and the training job's environment is built from scratch, so it never
sees the server's secrets.

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
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from django.conf import settings

from hpo_jobs.local_engine import container, sandbox, store
from hpo_jobs.local_engine.metrics import tail
from hpo_jobs.local_engine.space import EPOCH_HYPERPARAMETERS, grid, infer_max_resource, parse_ranges
from hpo_jobs.sagemaker import catalogue
from hpo_jobs.sagemaker import request as facts
from hpo_jobs.sagemaker.catalogue import show

from .base import (
    AlreadyExistsError,
    Capabilities,
    NotFoundError,
    PermanentBackendError,
    TransientBackendError,
    project_of,
    project_slug,
)

if TYPE_CHECKING:
    from hpo_jobs.sagemaker.spec import Issue

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"  # the ARNs are shape-valid; no AWS account is involved
NAME_RE = facts.JOB_NAME_RE
TRAINING_JOB_NAME_RE = facts.TRAINING_JOB_NAME_RE
DEFINITION_NAME_RE = facts.DEFINITION_NAME_RE
# A channel's name becomes a folder name under input/data: "." and ".." must never pass.
CHANNEL_NAME_RE = facts.CHANNEL_NAME_RE
STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")
# HPO_LOCAL_DATA_DIRS entries may hold this placeholder: each project reads only its own folder.
PROJECT_PLACEHOLDER = "{project}"
SLUG_RE = re.compile(r"[-a-zA-Z0-9_]+")
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
        """Check the request as the portal's validation does (SageMaker's rules, then ``check_request`` for
        the project of its PROJECT_TAG), write the job's folder and start its supervisor; returns the ARN."""
        plan = self._checked_plan(request)
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

    # --- what the engine accepts -----------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        """What this engine runs, read from the settings each time (they name the images and limits)."""
        return Capabilities(
            display_name="the local engine",
            warm_start=True,
            strategies=STRATEGIES,
            autotune=False,
            # A built-in reads its channel's files whatever the mode; a custom image would expect Pipe's FIFOs.
            input_modes=("File", "Pipe", "FastFile"),
            custom_image_input_modes=("File", "FastFile"),
            compression_types=("None", "Gzip"),  # Gzip: *.gz files are decompressed when the channel is staged
            record_wrappers=("None",),
            data_sources=("S3DataSource",),
            s3_data_types=("S3Prefix",),
            max_parallel_training_jobs=max(1, min(settings.HPO_LOCAL_MAX_PARALLEL, os.cpu_count() or 1)),
            builtin_algorithms=frozenset(
                key for key in BUILTIN_MODULES if key in catalogue.ALGORITHMS and catalogue.get(key).runnable_locally
            ),
            custom_images="configured",
            configured_images=tuple(sorted(settings.HPO_LOCAL_CUSTOM_IMAGES)),
            algorithm_resources=False,
            checkpoints=False,
            retry_strategy=False,
            max_pending_time=False,
            kms_keys=False,
            channel_shuffle=False,
            instance_pools=False,
            denied_environment_names=container.DENIED_ENVIRONMENT_NAMES,
            denied_environment_prefixes=container.DENIED_ENVIRONMENT_PREFIXES,
            channels_are_local_paths=True,
            writes_output_path=False,
            needs_role=False,
            needs_credentials=False,
            sandboxed=settings.HPO_LOCAL_SANDBOX != "none",
            image_list_label="List images",
            image_list_summary="the local engine can run",
            log_source="from the local engine",
        )

    def data_folders(self, project: Any) -> list[Path]:
        """The folders a project's channels may lie under: the HPO_LOCAL_DATA_DIRS entries, ``{project}``
        replaced by the project's slug (an entry with the placeholder is skipped when there is no project)."""
        slug = project_slug(project)
        folders = []
        for entry in settings.HPO_LOCAL_DATA_DIRS:
            text = str(entry)
            if PROJECT_PLACEHOLDER in text:
                if not slug or not SLUG_RE.fullmatch(slug):
                    continue
                text = text.replace(PROJECT_PLACEHOLDER, slug)
            folders.append(Path(text).resolve())
        return folders

    def check_request(self, request: dict[str, Any], *, project: Any = None) -> list[Issue]:
        """Every problem this engine has with a request SageMaker's rules accept, each at its path:
        what it cannot run, the project's data folders, and its warm start parents."""
        return _LocalCheck(self, request, self.data_folders(project)).run()

    # --- the request, resolved ----------------------------------------------------------------
    def _checked_plan(self, request: dict[str, Any]) -> dict[str, Any]:
        """The plan of a request the portal's validation accepts; PermanentBackendError with its first problems."""
        from hpo_jobs.sagemaker import spec

        project = project_of(request)
        context = spec.ValidationContext(engine=self, project=project, region=settings.AWS_REGION, ecr_enabled=True)
        issues = spec.validate_request(request, context)
        if issues:
            shown = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues[:3])
            more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
            raise PermanentBackendError(f"The local engine cannot run this request: {shown}{more}"[:1024])
        return self._plan(request, self.data_folders(project))

    def _plan(self, request: dict[str, Any], data_folders: list[Path]) -> dict[str, Any]:
        """The request (already checked) resolved for the supervisor."""
        name = request["HyperParameterTuningJobName"]
        config = request["HyperParameterTuningJobConfig"]
        strategy = config["Strategy"]
        early_stopping = config.get("TrainingJobEarlyStoppingType") or "Off"
        strategy_config = config.get("StrategyConfig")
        definitions = [self._plan_definition(d, strategy) for d in facts.definitions(request)]
        warm_start = None
        if request.get("WarmStartConfig"):
            warm = request["WarmStartConfig"]
            parents = []
            for parent in warm["ParentHyperParameterTuningJobs"]:
                folder = self._folder(parent["HyperParameterTuningJobName"])
                parents.append({"name": store.read_json(folder / store.PLAN)["name"], "folder": str(folder)})
            warm_start = {"type": warm["WarmStartType"], "parents": parents}

        limits = config["ResourceLimits"]
        budget = limits.get("MaxNumberOfTrainingJobs")
        if strategy == "Grid":
            budget = sum(d["grid_size"] for d in definitions)
        elif budget is None:
            budget = DEFAULT_MAX_TRAINING_JOBS
        hyperband = None
        if strategy == "Hyperband":
            hb = (strategy_config or {}).get("HyperbandStrategyConfig") or {}
            max_resource = hb.get("MaxResource") or next(
                (r for r in (infer_max_resource(d["static"]) for d in definitions) if r), None
            )
            hyperband = {"min_resource": hb.get("MinResource") or 1, "max_resource": max_resource}

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
            "allowed_data_dirs": [str(p) for p in data_folders],
            "pythonpath": str(settings.BASE_DIR),
            "limits": machine_limits(),
            "definitions": definitions,
        }

    def _plan_definition(self, read: facts.Definition, strategy: str) -> dict[str, Any]:
        definition, objective = read.data, read.objective
        ranges = parse_ranges(read.ranges)
        spec = definition["AlgorithmSpecification"]
        image = spec["TrainingImage"]
        input_mode = spec.get("TrainingInputMode") or "File"
        algorithm = catalogue.algorithm_for_image(image)
        if algorithm is not None:
            command = [sys.executable, "-m", f"hpo_jobs.local_engine.algorithms.{BUILTIN_MODULES[algorithm.key]}"]
            # As on SageMaker, a built-in's metrics are the catalogue's, whatever the request says.
            metric_definitions = [dict(m) for m in algorithm.metric_definitions]
        else:
            command = settings.HPO_LOCAL_CUSTOM_IMAGES[image]
            metric_definitions = [{"Name": m["Name"], "Regex": m["Regex"]} for m in spec.get("MetricDefinitions") or []]
        channels = [
            {
                "name": c["ChannelName"],
                "path": str(_local_folder(c["DataSource"]["S3DataSource"]["S3Uri"])),
                "content_type": c.get("ContentType"),
                "input_mode": c.get("InputMode") or input_mode,
                "compression": c.get("CompressionType") or "None",
            }
            for c in definition.get("InputDataConfig") or []
        ]
        return {
            "label": definition.get("DefinitionName"),
            "command": list(command),
            "objective": {"Type": objective["Type"], "MetricName": objective["MetricName"]},
            "metric_definitions": metric_definitions,
            "static": dict(definition.get("StaticHyperParameters") or {}),
            "ranges": [r.to_json() for r in ranges],
            "channels": channels,
            "max_runtime_s": (definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
            "environment": dict(definition.get("Environment") or {}),
            "grid_size": facts.grid_size(read.ranges) if strategy == "Grid" else None,
        }


# ---- the local engine's check of a request -----------------------------------------------------------
def _local_folder(uri: str) -> Path | None:
    """The resolved folder an absolute path or file:// URI names; None when ``uri`` is neither."""
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            return None
        text = unquote(parts.path)
    elif uri.startswith("/"):
        text = uri
    else:
        return None
    if "\x00" in text or not text.startswith("/"):
        return None
    try:
        # Resolved before any check: "..", and symlinks out of a data folder, are caught.
        return Path(text).resolve()
    except (OSError, ValueError, RuntimeError):
        return None


def channel_problem(uri: str, folders: list[Path]) -> str | None:
    """Why a channel's URI is not a folder the project may read on the local engine, or None.

    A path outside the project's folders gets the same answer whether or not it exists, so no member
    learns which folders other projects (or the server) have; existence is checked only inside."""
    if uri.startswith(("s3://", "https://", "http://")):
        return (f"the local engine reads local folders, not {uri.split(':', 1)[0]}:// URIs (got {show(uri)}); "
                f"run the job on SageMaker or put the data in this project's data folders "
                f"({', '.join(str(f) for f in folders) or 'none are configured'})")
    path = _local_folder(uri)
    if path is None:
        return f"give an absolute folder path or a file:// URI (got {show(uri)})"
    if not folders:
        return "this project has no data folders on the local engine (see HPO_LOCAL_DATA_DIRS)"
    if not container.is_within(path, folders):
        return (f"{show(uri)} is not in this project's data folders "
                f"({', '.join(str(f) for f in folders)})")
    if not path.exists():
        return f"{show(uri)} does not exist"
    return None


def _malformed_ranges(ranges: dict) -> bool:
    """Whether ranges break the service model's shape (SageMaker's rules report them; the engine cannot read them)."""
    from hpo_jobs.sagemaker import spec

    shape = spec.input_shape().members["HyperParameterTuningJobConfig"].members["ParameterRanges"]
    return bool(spec.check_shape(ranges, shape, "ranges"))


def _d(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list:
    return value if isinstance(value, list) else []


class _LocalCheck:
    """The local engine's rules over a request that may be malformed (it never raises on one)."""

    def __init__(self, backend: LocalBackend, request: Any, folders: list[Path]) -> None:
        self.backend = backend
        self.capabilities = backend.capabilities
        self.request = _d(request)
        self.folders = folders
        self.config = _d(self.request.get("HyperParameterTuningJobConfig"))
        self.issues: list[Issue] = []

    def add(self, path: str, message: str) -> None:
        from hpo_jobs.sagemaker.spec import Issue

        self.issues.append(Issue(path, message))

    def definitions(self) -> list[tuple[str, dict, str, Any]]:
        """(path, definition, path of its ranges, its ranges) for each definition, in either form."""
        return [(d.path, d.data, d.ranges_path, d.ranges) for d in facts.definitions(self.request)]

    def run(self) -> list[Issue]:
        if self.request.get("Autotune") is not None and not self.capabilities.autotune:
            self.add("Autotune", "The local engine does not run Autotune; choose the strategy and ranges yourself")
        strategy = self.config.get("Strategy")
        if isinstance(strategy, str) and strategy not in self.capabilities.strategies:
            self.add("HyperParameterTuningJobConfig.Strategy", f"The local engine runs the strategies "
                     f"{', '.join(self.capabilities.strategies)} (got {show(strategy)})")
        definitions = self.definitions()
        for path, definition, ranges_path, ranges in definitions:
            self.definition(path, definition, ranges_path, ranges, strategy)
        self.hyperband(strategy, definitions)
        self.warm_start(definitions)
        return self.issues

    def definition(self, path: str, definition: dict, ranges_path: str, ranges: Any, strategy: Any) -> None:
        spec_path = f"{path}.AlgorithmSpecification"
        algorithm_spec = _d(definition.get("AlgorithmSpecification"))
        custom = False
        if algorithm_spec.get("AlgorithmName") is not None:
            self.add(f"{spec_path}.AlgorithmName", "The local engine runs built-in algorithms and its configured "
                     "custom images, not SageMaker algorithm resources (AlgorithmName)")
        image = algorithm_spec.get("TrainingImage")
        if isinstance(image, str) and image:
            algorithm = catalogue.algorithm_for_image(image)
            custom = algorithm is None
            if algorithm is not None and not self.capabilities.runs_builtin(algorithm):
                runs = [a.display_name for a in catalogue.ALGORITHMS.values() if self.capabilities.runs_builtin(a)]
                listed = ", ".join(runs[:-1]) + " and " + runs[-1] if len(runs) > 1 else "".join(runs)
                self.add(f"{spec_path}.TrainingImage", f"{algorithm.display_name} is not runnable on the local "
                         f"engine (it runs {listed}); run it on SageMaker")
            elif custom:
                command = settings.HPO_LOCAL_CUSTOM_IMAGES.get(image)
                if command is None:
                    known = ", ".join(self.capabilities.configured_images) or "none are configured"
                    self.add(f"{spec_path}.TrainingImage", f"The local engine cannot run image {show(image)}; it "
                             f"runs the custom images its settings (HPO_LOCAL_CUSTOM_IMAGES) map to a command ({known})")
                elif not isinstance(command, list) or not command or not all(
                        isinstance(part, str) and part for part in command):
                    self.add(f"{spec_path}.TrainingImage", f"The local command for {show(image)} is misconfigured "
                             "in the engine's settings (HPO_LOCAL_CUSTOM_IMAGES); ask an administrator")
        modes = self.capabilities.custom_image_input_modes if custom else self.capabilities.input_modes
        mode = algorithm_spec.get("TrainingInputMode")
        if isinstance(mode, str) and mode not in modes:
            self.add(f"{spec_path}.TrainingInputMode", f"The local engine reads {show(mode)} input only for built-in "
                     f"algorithms; use {' or '.join(modes)}")
        if isinstance(ranges, dict) and not _malformed_ranges(ranges):
            try:
                parsed = parse_ranges(ranges)
                if strategy == "Grid":
                    grid(parsed)
            except ValueError as exc:
                self.add(ranges_path, f"The local engine cannot tune these ranges: {exc}")
        for index, channel in enumerate(_l(definition.get("InputDataConfig"))):
            self.channel(f"{path}.InputDataConfig[{index}]", _d(channel), modes)
        self.optional_settings(path, definition)
        for name in _d(definition.get("Environment")):
            if isinstance(name, str) and self.capabilities.environment_denied(name):
                self.add(facts.key_path(f"{path}.Environment", name), f"Environment variable {show(name)} cannot be set on the local "
                         "engine: it controls how programs are loaded or is set by the engine itself")

    def optional_settings(self, path: str, definition: dict) -> None:
        """The optional settings of a definition this engine does not honour, refused rather than ignored."""
        caps = self.capabilities
        output = _d(definition.get("OutputDataConfig"))
        resource = _d(definition.get("ResourceConfig"))
        stopping = _d(definition.get("StoppingCondition"))
        refused = [
            (not caps.checkpoints and definition.get("CheckpointConfig") is not None, f"{path}.CheckpointConfig",
             "The local engine keeps no checkpoints (CheckpointConfig); remove it, or run the job on SageMaker"),
            (not caps.retry_strategy and definition.get("RetryStrategy") is not None, f"{path}.RetryStrategy",
             "The local engine does not retry training jobs (RetryStrategy); remove it, or run the job on SageMaker"),
            (not caps.max_pending_time and stopping.get("MaxPendingTimeInSeconds") is not None,
             f"{path}.StoppingCondition.MaxPendingTimeInSeconds",
             "The local engine has no pending time limit (MaxPendingTimeInSeconds); remove it, or run the job on "
             "SageMaker"),
            (not caps.kms_keys and output.get("KmsKeyId") is not None, f"{path}.OutputDataConfig.KmsKeyId",
             "The local engine does not encrypt with KMS keys; remove the output KMS key, or run the job on SageMaker"),
            (not caps.kms_keys and resource.get("VolumeKmsKeyId") is not None,
             f"{path}.ResourceConfig.VolumeKmsKeyId",
             "The local engine does not encrypt with KMS keys; remove the volume KMS key, or run the job on SageMaker"),
            (not caps.instance_pools and definition.get("HyperParameterTuningResourceConfig") is not None,
             f"{path}.HyperParameterTuningResourceConfig",
             "The local engine runs one instance type (ResourceConfig), not an instance pool "
             "(HyperParameterTuningResourceConfig); choose one instance type, or run the job on SageMaker"),
        ]
        for refuse, where, message in refused:
            if refuse:
                self.add(where, message)

    def channel(self, path: str, channel: dict, modes: tuple[str, ...]) -> None:
        caps = self.capabilities
        name = channel.get("ChannelName")
        label = f"Channel {show(name)}" if isinstance(name, str) else "This channel"
        if name in (".", ".."):
            self.add(f"{path}.ChannelName", f"{label}: a channel's name is a folder name on the local engine; "
                     "'.' and '..' cannot be one")
        compression = channel.get("CompressionType")
        if isinstance(compression, str) and compression not in caps.compression_types:
            self.add(f"{path}.CompressionType", f"{label}: the local engine reads compression "
                     f"{' or '.join(caps.compression_types)} (got {show(compression)})")
        wrapper = channel.get("RecordWrapperType")
        if isinstance(wrapper, str) and wrapper not in caps.record_wrappers:
            self.add(f"{path}.RecordWrapperType", f"{label}: the local engine reads plain files, not {show(wrapper)} "
                     "records; set the record wrapper to None")
        mode = channel.get("InputMode")
        if isinstance(mode, str) and mode not in modes:
            self.add(f"{path}.InputMode", f"{label}: the local engine reads {show(mode)} input only for built-in "
                     f"algorithms; use {' or '.join(modes)}")
        if not caps.channel_shuffle and channel.get("ShuffleConfig") is not None:
            self.add(f"{path}.ShuffleConfig", f"{label}: the local engine does not shuffle a channel's files "
                     "(ShuffleConfig); remove the shuffle seed, or run the job on SageMaker")
        source = _d(channel.get("DataSource"))
        for other in source:
            if other not in caps.data_sources and source[other] is not None:
                self.add(f"{path}.DataSource.{other}", f"{label}: the local engine reads channels from local folders "
                         "only (give the folder as the S3 URI)")
        s3 = _d(source.get("S3DataSource"))
        data_type = s3.get("S3DataType")
        if isinstance(data_type, str) and data_type not in caps.s3_data_types:
            self.add(f"{path}.DataSource.S3DataSource.S3DataType", f"{label}: the local engine reads a folder "
                     "(S3Prefix), not a manifest")
        uri = s3.get("S3Uri")
        if isinstance(uri, str):
            problem = channel_problem(uri, self.folders)
            if problem:
                self.add(f"{path}.DataSource.S3DataSource.S3Uri", f"{label}: {problem}")

    def hyperband(self, strategy: Any, definitions: list[tuple[str, dict, str, Any]]) -> None:
        if strategy != "Hyperband":
            return
        hb = _d(_d(self.config.get("StrategyConfig")).get("HyperbandStrategyConfig"))
        if hb.get("MaxResource") is not None:
            return
        statics = [_d(d.get("StaticHyperParameters")) for _, d, _, _ in definitions]
        if definitions and not any(infer_max_resource({k: v for k, v in s.items() if isinstance(v, str)})
                                   for s in statics):
            self.add("HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig.MaxResource",
                     "The local engine needs Hyperband's max resource, or a static epochs hyperparameter (one of "
                     f"{', '.join(EPOCH_HYPERPARAMETERS)}) to read it from")

    def warm_start(self, definitions: list[tuple[str, dict, str, Any]]) -> None:
        warm = self.request.get("WarmStartConfig")
        if warm is None:
            return
        if not self.capabilities.warm_start:
            self.add("WarmStartConfig", "This engine does not warm start")
            return
        if len(definitions) != 1:
            return  # SageMaker's rules refuse warm start with several definitions
        objective = facts.objective(self.request).get("MetricName")
        for index, parent in enumerate(_l(_d(warm).get("ParentHyperParameterTuningJobs"))):
            path = f"WarmStartConfig.ParentHyperParameterTuningJobs[{index}].HyperParameterTuningJobName"
            name = _d(parent).get("HyperParameterTuningJobName")
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                continue  # SageMaker's rules have reported it
            folder = self.backend._folder(name)
            try:
                state = store.read_json(folder / store.STATE)
                plan = store.read_json(folder / store.PLAN)
            except (OSError, ValueError):
                self.add(path, f"Warm start parent {name} is not a tuning job of the local engine")
                continue
            if state.get("status") not in facts.TUNING_JOB_ENDED_STATUSES:
                self.add(path, f"Warm start parent {name} is {state.get('status')}; a parent must have ended "
                         "(Completed, Stopped or Failed)")
            elif any(d["objective"]["MetricName"] != objective for d in plan.get("definitions", [])):
                self.add(path, f"Warm start parent {name} tuned another objective metric than {objective}")
