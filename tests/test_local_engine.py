"""The local engine through the Backend interface: real training jobs as child processes.

Every test runs real processes under a temporary HPO_LOCAL_ENGINE_DIR and data folder; the custom
algorithms used here are small scripts written by the fixtures and mapped to images through
settings.HPO_LOCAL_CUSTOM_IMAGES, exactly as an administrator maps them.

No test races the engine's clock: the ``epochs`` algorithm prints each epoch only when the test's
:class:`Gate` lets it, so early stopping and Hyperband decide on every epoch before the next one
exists, and a job that must still be running when the test acts is held, not slowed down.
"""

from __future__ import annotations

import math
import os
import re
import signal
import tempfile
import threading
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any, Callable

import boto3
import numpy as np
import optuna
import pytest
import xgboost as xgb
from botocore.stub import Stubber
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from scipy import stats

from hpo_jobs.backends.base import AlreadyExistsError, NotFoundError, PermanentBackendError
from hpo_jobs.backends.local import LocalBackend
from hpo_jobs.local_engine import store

from .factories import REGION, XGB_IMAGE, channel, training_definition, tuning_request
from .local_engine_harness import (
    EPOCH_METRICS,
    KNN_IMAGE,
    LL_IMAGE,
    Engine,
    _job_processes,
    _supervisor_processes,
    breast_cancer_channels,
    custom,
)
from .waiting import wait_until


class Gate:
    """A handshake the test controls: before each epoch the ``epochs`` algorithm asks the gate, and
    it prints the epoch only once ``rule(training_job, epoch, attempt)`` allows it (asked again until
    it does). ``attempt`` counts the processes of one training job (a re-run is attempt 2)."""

    def __init__(self, rule: Callable[[str, int, int], bool]) -> None:
        self.folder = tempfile.mkdtemp(prefix="hpo-gate-")  # short: a socket's path has at most 107 bytes
        self.address = os.path.join(self.folder, "gate")
        self.rule = rule
        self.asked: dict[str, int] = {}  # the epoch each training job last asked for
        self.attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._listener = Listener(self.address, family="AF_UNIX", backlog=16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                connection = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection) -> None:
        attempt = 0
        try:
            while True:
                name, epoch = connection.recv()
                with self._lock:
                    if not attempt:
                        attempt = self.attempts[name] = self.attempts.get(name, 0) + 1
                    self.asked[name] = epoch
                while not self.rule(name, epoch, attempt):
                    if self._closed or connection.poll(0.02):  # readable while waiting: the job has exited
                        return
                connection.send(True)
        except (EOFError, OSError):
            pass  # the training job ended (or was killed) while it waited
        finally:
            connection.close()

    def asking(self, training_job: str, epoch: int) -> bool:
        """Whether ``training_job`` has printed ``epoch - 1`` epochs and waits to print the next."""
        return self.asked.get(training_job) == epoch

    def close(self) -> None:
        self._closed = True
        self._listener.close()


@pytest.fixture
def gates(settings):
    """Gates for a test (Gate(rule)), closed after it."""
    # A gate's socket lies outside every training job's sandbox, which sees only its own folder, its
    # data and the runtime: a test that holds jobs at a gate runs them unsandboxed (the sandbox has
    # its own tests, test_local_engine_sandbox.py).
    settings.HPO_LOCAL_SANDBOX = "none"
    made: list[Gate] = []

    def make(rule: Callable[[str, int, int], bool]) -> Gate:
        made.append(Gate(rule))
        return made[-1]

    yield make
    for gate in made:
        gate.close()


def hold_after(epochs: int) -> Callable[[str, int, int], bool]:
    """A rule: every training job prints ``epochs`` epochs, then waits until it is stopped."""
    return lambda name, epoch, attempt: epoch <= epochs


def after_the_engine_read(engine: Engine) -> Callable[[str, int, int], bool]:
    """A rule: each epoch waits until the engine has given Optuna the one before, so a pruner's
    decision at epoch n always comes before epoch n + 2 exists (the supervisor decides on an epoch
    in the same step that hands it to Optuna)."""
    return lambda name, epoch, attempt: epoch == 1 or engine.reported_epochs(name) >= epoch - 1


# --- botocore's view of the responses ------------------------------------------------------------
_CLIENT = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")
# The request echoed in a describe response holds local paths where SageMaker's shapes expect s3://
# patterns: those members are the user's own input, checked by the stubber's validation only.
_ECHOED = {"HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions"}


def _strict(shape, value, where: str) -> None:
    """What the stubber leaves out: enums, patterns and maximums of the service model."""
    meta = shape.metadata
    if shape.type_name == "structure":
        for key, item in value.items():
            assert key in shape.members, f"{where}.{key} is not a member of {shape.name}"
            if key not in _ECHOED:
                _strict(shape.members[key], item, f"{where}.{key}")
    elif shape.type_name == "list":
        assert len(value) <= meta.get("max", math.inf), f"{where} is too long"
        for i, item in enumerate(value):
            _strict(shape.member, item, f"{where}[{i}]")
    elif shape.type_name == "map":
        assert len(value) <= meta.get("max", math.inf), f"{where} has too many entries"
        for key, item in value.items():
            _strict(shape.key, key, f"{where} key")
            _strict(shape.value, item, f"{where}[{key}]")
    elif shape.type_name == "string":
        assert len(value) <= meta.get("max", math.inf), f"{where} is longer than {meta.get('max')}"
        if shape.enum:
            assert value in shape.enum, f"{where}={value!r} is not one of {shape.enum}"
        if "pattern" in meta:
            assert re.fullmatch(meta["pattern"], value), f"{where}={value!r} does not match {meta['pattern']}"
    elif shape.type_name in ("integer", "long", "float", "double"):
        assert meta.get("min", -math.inf) <= value <= meta.get("max", math.inf), f"{where}={value} out of range"


def assert_valid(operation: str, response: dict[str, Any], params: dict[str, Any]) -> None:
    """Validate a response as botocore would (Stubber) and by the model's enums, patterns and maximums."""
    method = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
    with Stubber(_CLIENT) as stubber:
        stubber.add_response(method, response, params)  # raises on a response the model rejects
        returned = getattr(_CLIENT, method)(**params)
    assert {k: v for k, v in returned.items() if k != "ResponseMetadata"} == response
    _strict(_CLIENT.meta.service_model.operation_model(operation).output_shape, response, operation)


def assert_valid_describe(response: dict[str, Any]) -> None:
    assert_valid("DescribeHyperParameterTuningJob", response,
                 {"HyperParameterTuningJobName": response["HyperParameterTuningJobName"]})


def epochs_in_log(log: str) -> list[float]:
    return [float(v) for v in re.findall(r"epoch=[0-9]+ loss=([0-9.]+)", log)]


# --- XGBoost on breast cancer ----------------------------------------------------------------------
def test_xgboost_bayesian_finds_a_best_job_whose_auc_a_retrained_model_reproduces(engine):
    static = {"num_round": "15", "objective": "binary:logistic", "eval_metric": "auc", "verbosity": "0"}
    ranges = {
        "ContinuousParameterRanges": [
            {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
            {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1", "ScalingType": "Linear"},
        ],
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "6", "ScalingType": "Auto"}],
    }
    training = training_definition(XGB_IMAGE, static=static, channels=breast_cancer_channels(engine))
    req = tuning_request("xgb-bayes", training, strategy="Bayesian", objective=("Maximize", "validation:auc"),
                  jobs=12, parallel=2, ranges=ranges, RandomSeed=3)
    arn = engine.backend.create_tuning_job(req)["HyperParameterTuningJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/xgb-bayes"
    running = engine.wait("xgb-bayes", until=lambda d: d["TrainingJobStatusCounters"]["InProgress"] > 0)
    assert_valid_describe(running)
    assert running["HyperParameterTuningJobStatus"] == "InProgress"
    assert running["ObjectiveStatusCounters"]["Pending"] > 0

    described = engine.wait("xgb-bayes")
    assert_valid_describe(described)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 12, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 12, "Pending": 0, "Failed": 0}
    jobs = engine.all_training_jobs("xgb-bayes")
    assert len(jobs) == 12
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == max(
        j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in jobs)
    # The jobs never ran more than two at a time.
    spans = sorted((j["TrainingStartTime"], j["TrainingEndTime"]) for j in jobs)
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2

    # Retrain with XGBoost itself: the best job's hyperparameters, the same channel files.
    hp = {**static, **best["TunedHyperParameters"]}
    train = np.loadtxt(engine.data["breast-cancer"]["train"] / "data.csv", delimiter=",")
    valid = np.loadtxt(engine.data["breast-cancer"]["validation"] / "data.csv", delimiter=",")
    dtrain = xgb.DMatrix(train[:, 1:], label=train[:, 0])
    dvalid = xgb.DMatrix(valid[:, 1:], label=valid[:, 0])
    params = {"objective": hp["objective"], "eval_metric": "auc", "eta": float(hp["eta"]),
              "subsample": float(hp["subsample"]), "max_depth": int(hp["max_depth"]), "verbosity": 0}
    history: dict = {}
    xgb.train(params, dtrain, int(hp["num_round"]), evals=[(dvalid, "validation")], evals_result=history,
              verbose_eval=False)
    assert history["validation"]["auc"][-1] == pytest.approx(
        best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], abs=1e-6)

    log = engine.backend.get_training_job_log(best["TrainingJobName"])
    assert "#011validation-auc:" in log and "\t" not in log  # as CloudWatch shows it
    assert len(re.findall(r"^\[[0-9]+\]#011train-auc", log, re.M)) == 15
    hyperparameters = engine.folder("xgb-bayes") / store.TRAINING_JOBS / best["TrainingJobName"] / "input/config/hyperparameters.json"
    written = store.read_json(hyperparameters)
    assert all(isinstance(v, str) for v in written.values())
    assert written["_tuning_objective_metric"] == "validation:auc"
    assert (hyperparameters.parents[2] / "model" / "xgboost-model.json").exists()


def test_linear_learner_and_knn_run_locally_and_print_sagemakers_metrics(engine):
    bc = engine.data["breast-cancer"]
    ll = training_definition(
        LL_IMAGE,
        static={"predictor_type": "binary_classifier", "feature_dim": "30", "epochs": "5", "mini_batch_size": "64"},
        channels=breast_cancer_channels(engine),
    )
    engine.backend.create_tuning_job(tuning_request(
        "ll", ll, objective=("Maximize", "validation:binary_classification_accuracy"), jobs=2, ranges={
            "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.1",
                                           "ScalingType": "Logarithmic"}]}))
    knn = training_definition(
        KNN_IMAGE,
        static={"predictor_type": "classifier", "feature_dim": "30", "sample_size": "400"},
        channels=[channel("train", str(bc["train"])), channel("test", str(bc["validation"]))],
    )
    engine.backend.create_tuning_job(tuning_request(
        "knn", knn, objective=("Maximize", "test:accuracy"), jobs=2,
        ranges={"IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "15"}]}))
    for name in ("ll", "knn"):
        described = engine.wait(name)
        assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
        assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > 0.85
    log = engine.backend.get_training_job_log(engine.all_training_jobs("ll")[0]["TrainingJobName"])
    assert "#quality_metric: host=algo-1, epoch=4, validation binary_classification_cross_entropy_objective <loss>=" in log
    assert "#quality_metric: host=algo-1, validation roc_auc_score <score>=" in log


# --- strategies --------------------------------------------------------------------------------
def test_grid_runs_exactly_the_product_of_the_categorical_values(engine):
    ranges = {"CategoricalParameterRanges": [{"Name": "colour", "Values": ["red", "green", "blue"]},
                                             {"Name": "score", "Values": ["1", "2"]}]}
    engine.backend.create_tuning_job(tuning_request("grid", custom(engine, "noop"), strategy="Grid", jobs=None,
                                             objective=("Maximize", "score"), ranges=ranges))
    described = engine.wait("grid")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    combos = [tuple(sorted(j["TunedHyperParameters"].items())) for j in engine.all_training_jobs("grid")]
    assert sorted(combos) == sorted(
        (("colour", c), ("score", s)) for c in ("red", "green", "blue") for s in ("1", "2"))
    assert described["BestTrainingJob"]["TunedHyperParameters"]["score"] == "2"


def _tuned_in_order(engine: Engine, name: str) -> list[dict[str, str]]:
    return [j["TunedHyperParameters"] for j in sorted(engine.all_training_jobs(name), key=lambda j: j["TrainingJobName"])]


def test_the_same_random_seed_gives_the_same_hyperparameters(engine):
    ranges = {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "layers", "MinValue": "1", "MaxValue": "8"}],
        "CategoricalParameterRanges": [{"Name": "act", "Values": ["relu", "tanh", "gelu"]}],
    }
    grid = {"CategoricalParameterRanges": [{"Name": "a", "Values": ["1", "2", "3"]}, {"Name": "b", "Values": ["x", "y"]}]}
    for name, seed in (("rand-a", 11), ("rand-b", 11), ("rand-c", 12)):
        engine.backend.create_tuning_job(tuning_request(name, custom(engine, "noop"), objective=("Maximize", "score"),
                                                 jobs=6, ranges=ranges, RandomSeed=seed))
    for name in ("grid-a", "grid-b"):
        engine.backend.create_tuning_job(tuning_request(name, custom(engine, "noop"), strategy="Grid", jobs=None,
                                                 objective=("Maximize", "score"), ranges=grid, RandomSeed=5))
    for name in ("rand-a", "rand-b", "rand-c", "grid-a", "grid-b"):
        assert engine.wait(name)["HyperParameterTuningJobStatus"] == "Completed"
    assert _tuned_in_order(engine, "rand-a") == _tuned_in_order(engine, "rand-b")
    assert _tuned_in_order(engine, "rand-a") != _tuned_in_order(engine, "rand-c")
    assert _tuned_in_order(engine, "grid-a") == _tuned_in_order(engine, "grid-b")


def test_logarithmic_ranges_are_sampled_log_uniformly(engine):
    ranges = {"ContinuousParameterRanges": [
        {"Name": "score", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Logarithmic"}]}
    engine.backend.create_tuning_job(tuning_request("logscale", custom(engine, "noop"), objective=("Maximize", "score"),
                                             jobs=40, ranges=ranges, RandomSeed=2024))
    assert engine.wait("logscale")["HyperParameterTuningJobStatus"] == "Completed"
    values = np.array([float(t["score"]) for t in _tuned_in_order(engine, "logscale")])
    assert ((values >= 0.0001) & (values <= 1)).all()
    exponents = np.log10(values)
    # log10(x) is uniform on [-4, 0]; a linear scale would put ~99% of the values above 0.01.
    assert stats.kstest(exponents, stats.uniform(loc=-4, scale=4).cdf).pvalue > 0.05
    assert 0.3 < np.mean(values < 0.01) < 0.7


def test_early_stopping_auto_stops_a_clearly_worse_job_with_its_last_epochs_objective(engine, gates):
    ranges = {"ContinuousParameterRanges": [{"Name": "quality", "MinValue": "0", "MaxValue": "10"}]}
    gate = gates(after_the_engine_read(engine))
    training = custom(engine, "epochs", static={"epochs": "8", "gate": gate.address})
    engine.backend.create_tuning_job(tuning_request("early", training, jobs=9, parallel=1, ranges=ranges,
                                             RandomSeed=1, TrainingJobEarlyStoppingType="Auto"))
    described = engine.wait("early")
    assert_valid_describe(described)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    jobs = engine.all_training_jobs("early")
    stopped = [j for j in jobs if j["TrainingJobStatus"] == "Stopped"]
    assert stopped, "early stopping stopped no job"
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    for job in stopped:
        losses = epochs_in_log(engine.backend.get_training_job_log(job["TrainingJobName"]))
        assert len(losses) < 8  # stopped before its last epoch
        assert job["ObjectiveStatus"] == "Succeeded"
        assert job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == losses[-1]
        assert losses[-1] > best + 1  # clearly worse than the best job
    assert described["TrainingJobStatusCounters"]["Stopped"] == len(stopped)


def test_hyperband_runs_jobs_at_several_budgets(engine, gates):
    ranges = {"ContinuousParameterRanges": [{"Name": "quality", "MinValue": "0", "MaxValue": "10"}]}
    gate = gates(after_the_engine_read(engine))
    training = custom(engine, "epochs", static={"epochs": "9", "gate": gate.address})
    engine.backend.create_tuning_job(tuning_request(
        "hyperband", training, strategy="Hyperband", jobs=16, parallel=2, ranges=ranges, RandomSeed=4,
        StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}))
    described = engine.wait("hyperband")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    budgets = {}
    for job in engine.all_training_jobs("hyperband"):
        epochs = len(epochs_in_log(engine.backend.get_training_job_log(job["TrainingJobName"])))
        budgets[job["TrainingJobName"]] = epochs
        assert job["TrainingJobStatus"] == ("Completed" if epochs == 9 else "Stopped")
    assert 9 in budgets.values()
    assert len(set(budgets.values())) >= 2, budgets
    assert min(budgets.values()) < 9


# --- custom algorithms that go wrong ---------------------------------------------------------
def test_a_custom_algorithm_whose_regex_never_matches_fails_its_objective_with_a_reason(engine):
    engine.backend.create_tuning_job(tuning_request("silent", custom(engine, "silent"), jobs=2))
    described = engine.wait("silent")
    assert_valid_describe(described)
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 2}
    for job in engine.all_training_jobs("silent"):
        assert job["TrainingJobStatus"] == "Completed"
        assert job["ObjectiveStatus"] == "Failed"
        assert "loss was never reported" in job["FailureReason"]
        assert EPOCH_METRICS[0]["Regex"] in job["FailureReason"]
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert "No training job reported the objective metric" in described["FailureReason"]
    assert "BestTrainingJob" not in described


def test_a_custom_algorithm_that_exits_non_zero_fails_with_its_failure_file(engine):
    engine.backend.create_tuning_job(tuning_request("crash", custom(engine, "crash"), jobs=2))
    described = engine.wait("crash")
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    for job in engine.all_training_jobs("crash"):
        assert job["TrainingJobStatus"] == "Failed"
        assert job["ObjectiveStatus"] == "Failed"
        assert job["FailureReason"] == "ValueError: column 3 holds text where a number was expected"
        assert "about to fail" in engine.backend.get_training_job_log(job["TrainingJobName"])
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert "column 3 holds text" in described["FailureReason"]


# --- limits and completion criteria ----------------------------------------------------------
def test_a_training_job_over_its_max_runtime_is_stopped_with_its_last_objective(engine, gates):
    # The job prints three epochs and then waits for a go-ahead that never comes: only its max
    # runtime can end it (measured on the wall clock, as SageMaker measures it).
    gate = gates(hold_after(3))
    training = custom(engine, "epochs", static={"epochs": "100", "quality": "2", "gate": gate.address}, runtime=2)
    engine.backend.create_tuning_job(tuning_request("runtime", training, jobs=1, parallel=1))
    described = engine.wait("runtime", timeout=60)
    job = engine.all_training_jobs("runtime")[0]
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["TrainingEndTime"] > job["TrainingStartTime"]
    losses = epochs_in_log(engine.backend.get_training_job_log(job["TrainingJobName"]))
    assert len(losses) == 3 and gate.asking(job["TrainingJobName"], 4)
    assert job["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == losses[-1]
    assert described["HyperParameterTuningJobStatus"] == "Completed"


def test_completion_criteria_end_the_job_before_its_budget(engine):
    # Every job reports the same score: after the first, none improves the best by 1%.
    engine.backend.create_tuning_job(tuning_request(
        "not-improving", custom(engine, "noop"), objective=("Maximize", "score"), jobs=20, parallel=1,
        TuningJobCompletionCriteria={"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}))
    ranges = {"CategoricalParameterRanges": [{"Name": "score", "Values": ["5", "6"]}]}
    engine.backend.create_tuning_job(tuning_request(
        "target", custom(engine, "noop"), objective=("Maximize", "score"), jobs=20, parallel=1, ranges=ranges,
        TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 4.5}))
    described = engine.wait("not-improving")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert len(engine.all_training_jobs("not-improving")) == 4
    assert described["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 3
    described = engine.wait("target")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert len(engine.all_training_jobs("target")) == 1


def test_training_job_definitions_share_one_budget(engine):
    first = custom(engine, "noop", static={"score": "1"}, DefinitionName="small",
                   TuningObjective={"Type": "Maximize", "MetricName": "score"}, HyperParameterRanges={})
    second = custom(engine, "noop", static={"score": "2"}, DefinitionName="large",
                    TuningObjective={"Type": "Maximize", "MetricName": "score"}, HyperParameterRanges={})
    req = tuning_request("two-defs", first, jobs=5, objective=("Maximize", "score"))
    del req["TrainingJobDefinition"], req["HyperParameterTuningJobConfig"]["ParameterRanges"]
    del req["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    req["TrainingJobDefinitions"] = [first, second]
    engine.backend.create_tuning_job(req)
    described = engine.wait("two-defs")
    assert_valid_describe(described)
    jobs = engine.all_training_jobs("two-defs")
    assert len(jobs) == 5
    assert sorted(j["TrainingJobDefinitionName"] for j in jobs) == ["large", "large", "small", "small", "small"]
    assert described["BestTrainingJob"]["TrainingJobDefinitionName"] == "large"


def test_parallel_jobs_are_bounded_by_the_cores(engine, settings):
    # Were the cap ignored, the three jobs would all start in the supervisor's first launch.
    settings.HPO_LOCAL_MAX_PARALLEL = 1
    training = custom(engine, "epochs", static={"epochs": "3"})
    engine.backend.create_tuning_job(tuning_request("bounded", training, jobs=3, parallel=10))
    engine.wait("bounded")
    spans = sorted((j["TrainingStartTime"], j["TrainingEndTime"]) for j in engine.all_training_jobs("bounded"))
    assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:]))


# --- the responses -----------------------------------------------------------------------------
def test_list_pages_with_next_token_and_every_page_is_a_valid_response(engine):
    ranges = {"IntegerParameterRanges": [{"Name": "score", "MinValue": "1", "MaxValue": "100"}]}
    engine.backend.create_tuning_job(tuning_request("paging", custom(engine, "noop"), objective=("Maximize", "score"),
                                             jobs=7, ranges=ranges))
    engine.wait("paging")
    names, token, pages = [], None, 0
    while True:
        page = engine.backend.list_training_jobs("paging", next_token=token, max_results=3)
        params = {"HyperParameterTuningJobName": "paging", "MaxResults": 3, **({"NextToken": token} if token else {})}
        assert_valid("ListTrainingJobsForHyperParameterTuningJob", page, params)
        names.extend(j["TrainingJobName"] for j in page["TrainingJobSummaries"])
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and len(names) == 7 and names == sorted(set(names))
    assert all(re.fullmatch(r"paging-00[1-7]-[0-9a-f]{8}", n) for n in names)
    with pytest.raises(PermanentBackendError):
        engine.backend.list_training_jobs("paging", max_results=101)
    with pytest.raises(PermanentBackendError):
        engine.backend.list_training_jobs("paging", next_token="not base64 at all!")


def test_names_are_case_insensitive_and_unknown_names_are_not_found(engine):
    engine.backend.create_tuning_job(tuning_request("Taken-Name", custom(engine, "noop"), objective=("Maximize", "score"), jobs=1))
    assert not engine.backend.is_name_free("taken-name")
    assert engine.backend.is_name_free("free-name")
    with pytest.raises(AlreadyExistsError):
        engine.backend.create_tuning_job(tuning_request("TAKEN-name", custom(engine, "noop"), objective=("Maximize", "score"), jobs=1))
    described = engine.wait("taken-name")
    assert described["HyperParameterTuningJobName"] == "Taken-Name"
    for call in (engine.backend.describe_tuning_job, engine.backend.list_training_jobs, engine.backend.stop_tuning_job):
        with pytest.raises(NotFoundError):
            call("no-such-job")
    with pytest.raises(NotFoundError):
        engine.backend.describe_tuning_job("../../etc")
    with pytest.raises(NotFoundError):
        engine.backend.get_training_job_log("no-such-job-001-abcdef12")
    with pytest.raises(PermanentBackendError):
        engine.backend.stop_tuning_job("taken-name")  # already Completed


# --- stop and restart --------------------------------------------------------------------------
def test_stop_terminates_the_children_and_ends_stopped(engine, gates):
    gate = gates(hold_after(1))  # each job runs until it is stopped
    training = custom(engine, "epochs", static={"epochs": "300", "gate": gate.address})
    engine.backend.create_tuning_job(tuning_request("stoppable", training, jobs=6, parallel=2))
    engine.wait("stoppable", until=lambda d: d["TrainingJobStatusCounters"]["InProgress"] == 2)
    wait_until(lambda: len(_job_processes(engine.dir)) >= 2, timeout=30, describe="two training job processes")
    assert len(_job_processes(engine.dir)) == 2
    engine.backend.stop_tuning_job("stoppable")
    stopping = engine.backend.describe_tuning_job("stoppable")
    assert stopping["HyperParameterTuningJobStatus"] in ("Stopping", "Stopped")
    assert_valid_describe(stopping)
    engine.backend.stop_tuning_job("stoppable")  # asking twice is fine
    described = engine.wait("stoppable", timeout=30)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    jobs = engine.all_training_jobs("stoppable")
    assert len(jobs) == 2 and all(j["TrainingJobStatus"] == "Stopped" for j in jobs)
    assert _job_processes(engine.dir) == []
    # The supervisor exits just after it records Stopped.
    wait_until(lambda: _supervisor_processes(engine.dir) == [], timeout=30, describe="the supervisor to exit")


def _kill_supervisor(engine: Engine, name: str) -> None:
    pid = engine.state(name)["supervisor_pid"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not store.supervisor_alive(engine.folder(name)), timeout=30, interval=0.02,
               describe="the supervisor to die")


def test_a_restart_mid_job_keeps_finished_jobs_and_reruns_the_interrupted_one(engine, gates, settings):
    # The third training job's first process stops after two epochs, waiting; its re-run runs through.
    third = "restart-003-"
    gate = gates(lambda name, epoch, attempt: not name.startswith(third) or attempt > 1 or epoch <= 2)
    training = custom(engine, "epochs", static={"epochs": "6", "gate": gate.address})
    ranges = {"ContinuousParameterRanges": [{"Name": "quality", "MinValue": "0", "MaxValue": "10"}]}
    engine.backend.create_tuning_job(tuning_request("restart", training, jobs=5, parallel=1, ranges=ranges, RandomSeed=9))
    # The running job is a couple of epochs in (and waits for the third).
    wait_until(lambda: any(name.startswith(third) and epoch == 3 for name, epoch in list(gate.asked.items())),
               timeout=90, describe="the third training job to finish two epochs")
    _kill_supervisor(engine, "restart")  # a worker or machine restart: the supervisor is gone...
    before = {j["TrainingJobName"]: j for j in engine.all_training_jobs("restart")}
    interrupted = [n for n, j in before.items() if j["TrainingJobStatus"] == "InProgress"]
    assert len(interrupted) == 1
    if settings.HPO_LOCAL_SANDBOX == "bwrap":
        # ...and its sandboxed training job ends with it (bwrap --die-with-parent): no training
        # process outlives the machine slot its supervisor held.
        wait_until(lambda: _job_processes(engine.dir) == [], timeout=60,
                   describe="the sandboxed training job to end with its supervisor")
    else:
        assert len(_job_processes(engine.dir)) == 1  # ...and its training job runs on, orphaned
    finished = {n: j for n, j in before.items() if j["TrainingJobStatus"] == "Completed"}

    described = engine.wait("restart")  # describe notices and starts a new supervisor
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    after = {j["TrainingJobName"]: j for j in engine.all_training_jobs("restart")}
    assert len(after) == 5
    for name, job in finished.items():
        assert after[name] == job  # kept as they were, not run again
    rerun = after[interrupted[0]]
    assert rerun["TrainingJobStatus"] == "Completed"
    assert rerun["TunedHyperParameters"] == before[interrupted[0]]["TunedHyperParameters"]
    log = engine.backend.get_training_job_log(interrupted[0])
    assert "running it again (attempt 2)" in log
    assert len(epochs_in_log(log)) == 6
    assert engine.state("restart")["launches"] == 2
    assert _job_processes(engine.dir) == []


def test_a_supervisor_that_keeps_dying_ends_the_job_failed_with_a_reason(engine, settings, gates):
    settings.HPO_LOCAL_MAX_RESTARTS = 1
    gate = gates(hold_after(1))  # the training job runs until it is ended
    training = custom(engine, "epochs", static={"epochs": "300", "gate": gate.address})
    engine.backend.create_tuning_job(tuning_request("doomed", training, jobs=3, parallel=1))
    engine.wait("doomed", until=lambda d: d["TrainingJobStatusCounters"]["InProgress"] == 1)
    job = engine.state("doomed")["training_jobs"][0]["name"]
    wait_until(lambda: gate.asking(job, 2), timeout=30, describe="the training job to run")
    first = engine.state("doomed")["supervisor_pid"]
    _kill_supervisor(engine, "doomed")
    engine.wait("doomed", until=lambda d: engine.state("doomed")["supervisor_pid"] not in (None, first)
                and gate.attempts.get(job) == 2 and gate.asking(job, 2))  # restarted once, and re-run
    _kill_supervisor(engine, "doomed")
    described = engine.backend.describe_tuning_job("doomed")
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert "restarted 1 times" in described["FailureReason"]
    assert described["TrainingJobStatusCounters"]["RetryableError"] == 1
    assert_valid_describe(described)
    # The engine has SIGKILLed the orphaned training job; the kernel ends it.
    wait_until(lambda: _job_processes(engine.dir) == [], timeout=30, describe="the orphaned training job to end")
    # Describing a Failed job again starts no supervisor: it stays Failed.
    assert engine.backend.describe_tuning_job("doomed")["HyperParameterTuningJobStatus"] == "Failed"
    assert _supervisor_processes(engine.dir) == []
    assert engine.state("doomed")["status"] == "Failed"


# --- more of the request ---------------------------------------------------------------------
def test_the_tuning_jobs_max_runtime_stops_its_running_jobs_and_ends_it(engine, monkeypatch, gates):
    # The API's minimum is 120 s: the job is created as requested, then its plan is shortened
    # before its supervisor first starts. Its training jobs print an epoch and wait: only the
    # tuning job's runtime (the wall clock, as on SageMaker) can end them.
    monkeypatch.setattr(LocalBackend, "_start_supervisor", lambda self, folder: False)
    gate = gates(hold_after(1))
    training = custom(engine, "epochs", static={"epochs": "100", "gate": gate.address})
    engine.backend.create_tuning_job(tuning_request("tuning-runtime", training, jobs=10, parallel=2,
                                             ResourceLimits={"MaxNumberOfTrainingJobs": 10,
                                                             "MaxParallelTrainingJobs": 2,
                                                             "MaxRuntimeInSeconds": 120}))
    plan_path = engine.folder("tuning-runtime") / store.PLAN
    store.write_json(plan_path, {**store.read_json(plan_path), "max_runtime_s": 4})
    monkeypatch.undo()
    described = engine.wait("tuning-runtime", timeout=60)  # describe starts the missing supervisor
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    jobs = engine.all_training_jobs("tuning-runtime")
    assert len(jobs) == 2 and all(j["TrainingJobStatus"] == "Stopped" for j in jobs)
    assert all(j["ObjectiveStatus"] == "Succeeded" for j in jobs)
    assert all(gate.asking(j["TrainingJobName"], 2) for j in jobs)  # still waiting when they were stopped
    assert described["ConsumedResources"]["RuntimeInSeconds"] >= 4


def test_convergence_detection_ends_a_job_whose_best_stopped_improving(engine):
    engine.backend.create_tuning_job(tuning_request(
        "converged", custom(engine, "noop"), objective=("Maximize", "score"), jobs=40, parallel=2,
        TuningJobCompletionCriteria={"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}))
    described = engine.wait("converged")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert "ConvergenceDetectedTime" in described["TuningJobCompletionDetails"]
    assert 11 <= len(engine.all_training_jobs("converged")) <= 13


def test_warm_start_learns_from_the_parent_and_reports_the_overall_best(engine):
    ranges = {"ContinuousParameterRanges": [{"Name": "score", "MinValue": "0", "MaxValue": "10"}]}
    engine.backend.create_tuning_job(tuning_request("parent", custom(engine, "noop"), objective=("Maximize", "score"),
                                             jobs=6, ranges=ranges, RandomSeed=1))
    parent = engine.wait("parent")
    child_ranges = {"ContinuousParameterRanges": [{"Name": "score", "MinValue": "0", "MaxValue": "1"}]}
    req = tuning_request("child", custom(engine, "noop"), strategy="Bayesian", objective=("Maximize", "score"), jobs=2,
                  ranges=child_ranges)
    req["WarmStartConfig"] = {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
                              "WarmStartType": "IdenticalDataAndAlgorithm"}
    engine.backend.create_tuning_job(req)
    described = engine.wait("child")
    assert_valid_describe(described)
    assert described["WarmStartConfig"] == req["WarmStartConfig"]
    assert len(engine.all_training_jobs("child")) == 2  # the parent's jobs do not use up the budget
    overall = described["OverallBestTrainingJob"]
    assert overall["TuningJobName"] == "parent"  # scores up to 10 beat the child's, up to 1
    assert overall["TrainingJobName"] == parent["BestTrainingJob"]["TrainingJobName"]
    # Only the parent's jobs within the child's ranges became trials of the child's study.
    within = [j for j in engine.all_training_jobs("parent") if float(j["TunedHyperParameters"]["score"]) <= 1]
    journal = str(engine.folder("child") / store.JOURNAL)
    study = optuna.load_study(study_name="definition-0", storage=JournalStorage(JournalFileBackend(journal)))
    assert study.user_attrs["warm_started"] == len(within)
    assert len(study.trials) == len(within) + 2


def test_the_example_custom_algorithm_runs_with_the_metrics_its_readme_names(engine, settings):
    readme = (Path(settings.BASE_DIR) / "examples" / "custom_algorithm" / "README.md").read_text()
    metrics = [{"Name": name, "Regex": regex}
               for name, regex in re.findall(r"^\| `([a-z:_]+)` \| `([^`]+)` \|", readme, re.M)]
    assert {m["Name"] for m in metrics} == {"validation:accuracy", "validation:loss", "train:loss"}
    training = training_definition(settings.HPO_LOCAL_EXAMPLE_IMAGE, static={"epochs": "5"}, metrics=metrics,
                          channels=breast_cancer_channels(engine))
    ranges = {"ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}]}
    engine.backend.create_tuning_job(tuning_request("example", training, objective=("Maximize", "validation:accuracy"),
                                             jobs=2, ranges=ranges))
    described = engine.wait("example")
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] > 0.9
    job = engine.all_training_jobs("example")[0]["TrainingJobName"]
    assert (engine.folder("example") / store.TRAINING_JOBS / job / "model" / "model.json").exists()


def test_a_trial_asked_before_a_crash_but_never_recorded_is_run_not_lost(engine, monkeypatch):
    # A supervisor that died between asking Optuna and recording the training job left a RUNNING trial.
    monkeypatch.setattr(LocalBackend, "_start_supervisor", lambda self, folder: False)
    ranges = {"CategoricalParameterRanges": [{"Name": "score", "Values": ["1", "2", "3"]}]}
    engine.backend.create_tuning_job(tuning_request("orphan", custom(engine, "noop"), strategy="Grid", jobs=None,
                                             objective=("Maximize", "score"), ranges=ranges))
    storage = JournalStorage(JournalFileBackend(str(engine.folder("orphan") / store.JOURNAL)))
    study = optuna.create_study(study_name="definition-0", storage=storage, direction="maximize",
                                sampler=optuna.samplers.GridSampler({"score": ["1", "2", "3"]}, seed=None))
    orphan = study.ask()
    orphan.suggest_categorical("score", ["1", "2", "3"])
    monkeypatch.undo()
    described = engine.wait("orphan")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    jobs = sorted(engine.all_training_jobs("orphan"), key=lambda j: j["TrainingJobName"])
    assert [j["TunedHyperParameters"]["score"] for j in jobs][0] == orphan.params["score"]
    assert sorted(j["TunedHyperParameters"]["score"] for j in jobs) == ["1", "2", "3"]
    reloaded = optuna.load_study(study_name="definition-0", storage=JournalStorage(
        JournalFileBackend(str(engine.folder("orphan") / store.JOURNAL))))
    assert reloaded.trials[orphan.number].state == optuna.trial.TrialState.FAIL


def test_a_journal_whose_last_line_a_crash_cut_short_is_resumed(engine, monkeypatch):
    # A machine that went down while the supervisor wrote to Optuna's journal left half a line.
    monkeypatch.setattr(LocalBackend, "_start_supervisor", lambda self, folder: False)
    ranges = {"CategoricalParameterRanges": [{"Name": "score", "Values": ["1", "2", "3"]}]}
    engine.backend.create_tuning_job(tuning_request("torn", custom(engine, "noop"), strategy="Grid", jobs=None,
                                             objective=("Maximize", "score"), ranges=ranges))
    journal = engine.folder("torn") / store.JOURNAL
    optuna.create_study(study_name="definition-0", direction="maximize",
                        storage=JournalStorage(JournalFileBackend(str(journal))))
    with open(journal, "ab") as handle:
        handle.write(b'{"op_code":4,"worker_id":"0-')
    monkeypatch.undo()
    described = engine.wait("torn")  # describe starts the missing supervisor
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert sorted(j["TunedHyperParameters"]["score"] for j in engine.all_training_jobs("torn")) == ["1", "2", "3"]
    assert not engine.supervisor_errors()


def test_a_custom_image_whose_program_is_missing_fails_saying_it_could_not_start(engine, settings):
    image = "test.local/missing:1"
    settings.HPO_LOCAL_CUSTOM_IMAGES = {**settings.HPO_LOCAL_CUSTOM_IMAGES,
                                        image: [str(engine.root / "algorithms" / "no-such-program")]}
    training = custom(engine, "noop")
    training["AlgorithmSpecification"]["TrainingImage"] = image
    engine.backend.create_tuning_job(tuning_request("missing", training, jobs=1, objective=("Maximize", "score")))
    assert engine.wait("missing")["HyperParameterTuningJobStatus"] == "Failed"
    (job,) = engine.all_training_jobs("missing")
    assert job["FailureReason"].startswith("ClientError: the training job could not start on the local engine")
    assert "no-such-program" in job["FailureReason"]


def test_a_workers_first_create_loads_no_service_model_of_its_own(engine, monkeypatch):
    # botocore's SageMaker model (0.7 s to load) is loaded by the worker before its pool forks; the
    # engine's validation of a request uses that one copy instead of loading another on the first create.
    import botocore.loaders

    from hpo_jobs.backends import local
    from hpo_jobs.sagemaker import spec
    from hpo_portal import celery

    for cached in (spec.service_model, spec.input_shape):
        cached.cache_clear()
    celery.load_service_model()  # worker_init
    loads: list[str] = []
    real = botocore.loaders.Loader.load_service_model

    def counting(self, service_name, *args, **kwargs):
        loads.append(service_name)
        return real(self, service_name, *args, **kwargs)

    monkeypatch.setattr(botocore.loaders.Loader, "load_service_model", counting)
    engine.backend.create_tuning_job(tuning_request("first-create", custom(engine, "noop"), objective=("Maximize", "score"),
                                                    jobs=1))
    assert loads == []
    engine.wait("first-create")


def test_an_xgboost_training_job_imports_neither_scipy_nor_scikit_learn(tmp_path):
    # xgboost pulls both in (about two seconds of a demo training job); the runner needs neither for
    # its dense CSV channels, and trains all the same.
    import json
    import shutil
    import subprocess
    import sys

    from hpo_jobs.local_engine.demo_data import write_demo_datasets

    data = write_demo_datasets(tmp_path / "data")["breast-cancer"]
    root = tmp_path / "ml"
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(
        {"num_round": "3", "objective": "binary:logistic", "eval_metric": "auc", "nthread": "1"}))
    for name in ("train", "validation"):
        shutil.copytree(data[name], root / "input" / "data" / name)
    for folder in ("model", "output"):  # the engine makes them, as SageMaker does
        (root / folder).mkdir()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hpo_jobs.local_engine.algorithms.xgboost_train", "train"],
        env={**os.environ, "SAGEMAKER_BASE_DIR": str(root)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "validation-auc:" in result.stdout
    imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "xgboost" in imported and "numpy" in imported
    # (A refused import is listed under its bare name, importing nothing: "sklearn" may be there.)
    assert not {name for name in imported if name.startswith(("scipy", "sklearn."))}
