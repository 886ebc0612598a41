"""The local engine's own cost, and what running training jobs in parallel buys.

1. Overhead: 20 training jobs of a custom algorithm that does almost nothing (reads its
   hyperparameters, prints one metric) run through the engine (from the create_tuning_job call to
   the end time the engine records, MaxParallelTrainingJobs=1), against the same 20 processes (the
   command line the engine starts, sandbox and limits included when the settings ask for them, same
   directories and environment: ``container.command_line``) started one after the other by a bare
   loop. Goal: within 1.3x. The engine's time is also split into its fixed start-up (supervisor
   process, Optuna import) and the time from the first training job's start to the last one's end.
   The same 20 processes are also run by a plain Optuna loop (what a user writes by hand: a study
   whose objective starts the process and reads its metric), the engine's real alternative; and the
   bare loop once more without the sandbox and limits, which shows what they cost per process.
2. Parallelism: a CPU-bound XGBoost tuning job (6 training jobs) with MaxParallelTrainingJobs=1
   and 2, on the same machine in the same run; once with nthread=1 per job (only the engine's
   parallelism counts) and once with the engine's default (the cores split between running jobs).
3. 12 XGBoost training jobs through the engine against the same 12 hyperparameter sets trained
   one after the other in this one process with xgboost (data loaded once, nothing imported again):
   the limit no engine of separate training processes can beat.

Run: .venv/bin/python bench/bench_local_engine.py (BENCH_PARTS=1,3 runs only those parts).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
WORK = Path(tempfile.mkdtemp(prefix="bench-local-engine-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hpo_portal.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
os.environ["HPO_VAR_DIR"] = str(WORK / "var")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402

from hpo_jobs.sagemaker import catalogue  # noqa: E402
from hpo_jobs.backends.local import LocalBackend  # noqa: E402
from hpo_jobs.local_engine import container, sandbox, store  # noqa: E402

NOOP = """
    import json, os
    root = os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")
    hp = json.load(open(os.path.join(root, "input/config/hyperparameters.json")))
    print("score=" + hp.get("x", "0"))
"""
NOOP_IMAGE = "bench.local/noop:1"
ROLE = "arn:aws:iam::123456789012:role/bench"


def request(name: str, image: str, jobs: int, parallel: int, *, objective, ranges, static=None, channels=None, metrics=None):
    definition = {
        "StaticHyperParameters": static or {},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bench/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    if channels:
        definition["InputDataConfig"] = [
            {"ChannelName": c, "ContentType": "text/csv",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(p)}}}
            for c, p in channels.items()
        ]
    if metrics:
        definition["AlgorithmSpecification"]["MetricDefinitions"] = metrics
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": objective[0], "MetricName": objective[1]},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": ranges,
            "RandomSeed": 1,
        },
        "TrainingJobDefinition": definition,
    }


def run_to_end(backend: LocalBackend, req: dict) -> float:
    """Seconds from the create_tuning_job call to the moment the engine recorded the job Completed.

    The end is the engine's own timestamp, so that how often this script polls (every 50 ms, as
    lightly as it can: the portal polls every few seconds) neither adds waiting time nor takes CPU
    from the training jobs.
    """
    started = time.time()
    backend.create_tuning_job(req)
    while True:
        described = backend.describe_tuning_job(req["HyperParameterTuningJobName"])
        if described["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"):
            break
        time.sleep(0.05)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    return described["HyperParameterTuningEndTime"].timestamp() - started


def overhead(backend: LocalBackend, round_: int) -> tuple[float, float, float, float, float, float]:
    """Seconds: engine (create to Completed), bare loop, the engine's first job start to last job end,
    create to first job start (the supervisor's start-up), a plain Optuna loop, and the bare loop
    without sandbox and limits."""
    name = f"overhead-{round_}"
    ranges = {"IntegerParameterRanges": [{"Name": "x", "MinValue": "1", "MaxValue": "1000"}]}
    engine_s = run_to_end(backend, request(name, NOOP_IMAGE, 20, 1, objective=("Maximize", "score"), ranges=ranges,
                                           metrics=[{"Name": "score", "Regex": "score=([0-9.]+)"}]))
    folder = Path(settings.HPO_LOCAL_ENGINE_DIR) / name
    state = store.read_json(folder / store.STATE)
    plan = store.read_json(folder / store.PLAN)
    first_start = min(r["start_time"] for r in state["training_jobs"])
    span = max(r["end_time"] for r in state["training_jobs"]) - first_start
    startup = first_start - state["creation_time"]
    command = plan["definitions"][0]["command"]
    limits = plan["limits"]
    # The same 20 processes: the command line the engine started, same directories and environment.
    runs, plain = [], []
    for record in state["training_jobs"]:
        root = store.training_job_dir(folder, record["name"])
        hyperparameters = store.read_json(root / "input" / "config" / "hyperparameters.json")
        env = container.child_env(root, training_job_name=record["name"], training_job_arn="arn", channels=[],
                                  hyperparameters=hyperparameters, threads=plan["threads_per_job"],
                                  pythonpath=plan["pythonpath"], extra={})
        wrap = sandbox.wrapper(root, limits["bwrap"] or "bwrap") if limits["sandbox"] == "bwrap" else None
        runs.append((root, *container.command_line(command, env, limits, wrap), folder / "bare.log"))
        plain.append((root, [*command, "train"], env, None, folder / "bare.log"))
    bare_s = bare_loop(runs)
    return engine_s, bare_s, span, startup, optuna_loop(runs), bare_loop(plain)


def bare_loop(runs: list) -> float:
    """Seconds to run the processes one after the other, as the engine starts each (own process group)."""
    started = time.perf_counter()
    for root, argv, env, preexec, log in runs:
        with open(log, "ab") as out:
            subprocess.run(argv, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                           start_new_session=True, close_fds=True, preexec_fn=preexec, check=True)
    return time.perf_counter() - started


def optuna_loop(runs: list) -> float:
    """Seconds for a plain Optuna study that runs the same processes and reads their metric."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pending = iter(runs)

    def objective(trial) -> float:
        trial.suggest_int("x", 1, 1000)
        root, argv, env, preexec, log = next(pending)
        result = subprocess.run(argv, cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                start_new_session=True, close_fds=True, preexec_fn=preexec, check=True)
        return float(result.stdout.rsplit("score=", 1)[1].split()[0])

    started = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=len(runs))
    return time.perf_counter() - started


def one_process_limit(backend: LocalBackend, channels: dict[str, Path]) -> tuple[float, float]:
    """Seconds: 12 XGBoost training jobs through the engine, and the same 12 trained in this process."""
    import xgboost as xgb

    image = catalogue.get("xgboost").image_uri("us-east-1")
    static = {"num_round": "50", "objective": "binary:logistic", "eval_metric": "auc", "max_depth": "6",
              "tree_method": "hist", "nthread": "1"}
    ranges = {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.05", "MaxValue": "0.3"}]}
    name = "xgb-limit"
    engine_s = run_to_end(backend, request(name, image, 12, 1, objective=("Maximize", "validation:auc"),
                                           ranges=ranges, static=static, channels=channels))
    state = store.read_json(Path(settings.HPO_LOCAL_ENGINE_DIR) / name / store.STATE)
    etas = [float(r["tuned_hyperparameters"]["eta"]) for r in state["training_jobs"]]
    started = time.perf_counter()
    data = {c: np.loadtxt(next(p.glob("*.csv")), delimiter=",") for c, p in channels.items()}
    train = xgb.DMatrix(data["train"][:, 1:], label=data["train"][:, 0])
    validation = xgb.DMatrix(data["validation"][:, 1:], label=data["validation"][:, 0])
    for eta in etas:
        params = {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": 6, "tree_method": "hist",
                  "nthread": 1, "eta": eta}
        xgb.train(params, train, num_boost_round=50, evals=[(validation, "validation")], verbose_eval=False)
    return engine_s, time.perf_counter() - started


def cpu_bound_data(root: Path) -> dict[str, Path]:
    """A synthetic classification set big enough for XGBoost to take seconds per training job."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=20000, n_features=30, n_informative=12, random_state=0)
    channels = {}
    for channel, rows in (("train", slice(0, 16000)), ("validation", slice(16000, None))):
        folder = root / channel
        folder.mkdir(parents=True)
        np.savetxt(folder / "data.csv", np.column_stack([y[rows], x[rows]]), delimiter=",", fmt="%.8g")
        channels[channel] = folder
    return channels


def parallel_speedup(
    backend: LocalBackend, channels: dict[str, Path], nthread: str | None, repeat: int
) -> tuple[float, float]:
    image = catalogue.get("xgboost").image_uri("us-east-1")
    static = {"num_round": "150", "objective": "binary:logistic", "eval_metric": "auc", "max_depth": "6",
              "tree_method": "hist"}
    if nthread:
        static["nthread"] = nthread
    ranges = {"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.05", "MaxValue": "0.3"}]}
    times: dict[int, list[float]] = {1: [], 2: []}
    for attempt in range(repeat):
        for parallel in (1, 2):  # interleaved, so that a change in the machine's load hits both
            name = f"xgb-p{parallel}-{nthread or 'auto'}-{attempt}"
            times[parallel].append(run_to_end(backend, request(
                name, image, 6, parallel, objective=("Maximize", "validation:auc"), ranges=ranges, static=static,
                channels=channels)))
    return statistics.median(times[1]), statistics.median(times[2])


def main() -> None:
    (WORK / "algorithms").mkdir(parents=True)
    noop = WORK / "algorithms" / "noop.py"
    noop.write_text(textwrap.dedent(NOOP))
    settings.HPO_LOCAL_ENGINE_DIR = WORK / "engine"
    settings.HPO_LOCAL_DATA_DIRS = [WORK / "data"]
    settings.HPO_LOCAL_CUSTOM_IMAGES = {NOOP_IMAGE: [sys.executable, str(noop)]}
    backend = LocalBackend()
    cores = os.cpu_count()
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f}")

    parts = os.environ.get("BENCH_PARTS", "1,2,3").split(",")
    if "1" in parts:
        report_overhead(backend)
    channels = cpu_bound_data(WORK / "data" / "synthetic")
    if "2" in parts:
        report_parallelism(backend, channels)
    if "3" in parts:
        report_one_process_limit(backend, channels)


def report_overhead(backend: LocalBackend) -> None:
    rounds = [overhead(backend, i) for i in range(5)]
    print("\n1. Engine overhead: 20 near-no-op custom training jobs, one at a time "
          f"(sandbox: {settings.HPO_LOCAL_SANDBOX})")
    print("   round  engine  bare loop  ratio | Optuna loop  ratio | first start->last end  ratio | supervisor start-up"
          " | bare loop, no sandbox or limits")
    for i, (engine_s, bare_s, span_s, startup_s, optuna_s, plain_s) in enumerate(rounds, 1):
        print(f"   {i:5d}  {engine_s:5.3f}s   {bare_s:5.3f}s  {engine_s / bare_s:4.2f}x | "
              f"{optuna_s:10.3f}s  {engine_s / optuna_s:4.2f}x | "
              f"{span_s:20.3f}s  {span_s / bare_s:4.2f}x | {startup_s:18.3f}s | {plain_s:.3f}s "
              f"(engine {engine_s / plain_s:4.2f}x)")
    ratio = statistics.median(r[0] / r[1] for r in rounds)
    steady = statistics.median(r[2] / r[1] for r in rounds)
    startup = statistics.median(r[3] for r in rounds)
    per_job_ms = statistics.median((r[2] - r[1]) / 20 * 1000 for r in rounds)
    print(f"   median ratio engine / bare loop: {ratio:.2f}x (goal: within 1.3x); engine / plain Optuna loop: "
          f"{statistics.median(r[0] / r[4] for r in rounds):.2f}x")
    print(f"   median ratio with the supervisor's start-up left out: {steady:.2f}x "
          f"({per_job_ms:.1f} ms per training job); median start-up {startup:.3f} s")
    sandbox_ms = statistics.median((r[1] - r[5]) / 20 * 1000 for r in rounds)
    print(f"   the sandbox and limits themselves (bare loop with them against without): {sandbox_ms:.1f} ms per "
          f"process; engine / bare loop without them: {statistics.median(r[0] / r[5] for r in rounds):.2f}x")


def report_parallelism(backend: LocalBackend, channels: dict[str, Path]) -> None:
    print("\n2. CPU-bound XGBoost (20,000 x 30, 150 rounds), 6 training jobs: MaxParallelTrainingJobs 1 vs 2"
          " (median of 2 interleaved runs)")
    for nthread, label in (("1", "nthread=1 per job"), (None, "engine default threads (cores / parallel jobs)")):
        one, two = parallel_speedup(backend, channels, nthread, repeat=2)
        print(f"   {label:45s} parallel=1 {one:6.2f} s, parallel=2 {two:6.2f} s, speed-up {one / two:.2f}x")


def report_one_process_limit(backend: LocalBackend, channels: dict[str, Path]) -> None:
    engine_s, limit_s = one_process_limit(backend, channels)
    print("\n3. 12 XGBoost training jobs (50 rounds, nthread=1), one at a time: the engine against the same 12 "
          "trained in one process")
    print(f"   engine {engine_s:6.2f} s, one process {limit_s:6.2f} s: {engine_s / limit_s:.2f}x the limit "
          f"({(engine_s - limit_s) / 12:.2f} s per training job for its own process, import and data load)")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
