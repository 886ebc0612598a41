"""The local engine's parts on their own: scaling, metrics from logs, the median stopping rule and
Hyperband's decisions on recorded epochs, demo data."""

from __future__ import annotations

import math
import sys

import numpy as np
import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from hpo_jobs.sagemaker import catalogue
from hpo_jobs.local_engine import container
from hpo_jobs.local_engine import limits as resource_limits
from hpo_jobs.local_engine.demo_data import write_demo_datasets
from hpo_jobs.local_engine.metrics import LogFollower
from hpo_jobs.sagemaker.metrics import cloudwatch_text, parse_text
from hpo_jobs.local_engine.space import Range, parse_ranges, suggest
from hpo_jobs.local_engine.strategies import MedianStoppingRule, make_pruner
from hpo_jobs.local_engine.supervisor import training_job_name

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(ranges: list[Range], n: int, seed: int = 0) -> list[dict[str, str]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    values = []
    for _ in range(n):
        trial = study.ask()
        values.append(suggest(trial, ranges))
        study.tell(trial, 0.0)
    return values


# --- scaling -------------------------------------------------------------------------------------
def test_logarithmic_scaling_is_log_uniform():
    ranges = parse_ranges({"ContinuousParameterRanges": [
        {"Name": "lr", "MinValue": "1e-5", "MaxValue": "1", "ScalingType": "Logarithmic"}]})
    values = np.array([float(v["lr"]) for v in sample(ranges, 2000, seed=1)])
    assert ((values >= 1e-5) & (values <= 1)).all()
    assert stats.kstest(np.log10(values), stats.uniform(loc=-5, scale=5).cdf).pvalue > 0.01
    # Against the alternative: a linear scale is far from log-uniform.
    linear = np.random.RandomState(1).uniform(1e-5, 1, 2000)
    assert stats.kstest(np.log10(linear), stats.uniform(loc=-5, scale=5).cdf).pvalue < 1e-6


def test_reverse_logarithmic_scaling_crowds_values_near_one_as_sagemaker_defines_it():
    ranges = parse_ranges({"ContinuousParameterRanges": [
        {"Name": "momentum", "MinValue": "0.5", "MaxValue": "0.9999", "ScalingType": "ReverseLogarithmic"}]})
    values = np.array([float(v["momentum"]) for v in sample(ranges, 2000, seed=2)])
    assert ((values >= 0.5) & (values <= 0.9999)).all()
    # 1 - x is log-uniform between 1 - max and 1 - min.
    low, high = math.log10(1 - 0.9999), math.log10(1 - 0.5)
    assert stats.kstest(np.log10(1 - values), stats.uniform(loc=low, scale=high - low).cdf).pvalue > 0.01
    assert np.mean(values > 0.99) > 0.4  # a linear scale would put about 2% there


def test_integer_logarithmic_ranges_stay_whole_and_in_bounds():
    ranges = parse_ranges({"IntegerParameterRanges": [
        {"Name": "trees", "MinValue": "1", "MaxValue": "1000", "ScalingType": "Logarithmic"}]})
    values = [v["trees"] for v in sample(ranges, 300)]
    assert all(v.isdigit() and 1 <= int(v) <= 1000 for v in values)
    assert np.median([int(v) for v in values]) < 100  # log-uniform: the median is near sqrt(1000)


@given(low=st.floats(0, 0.98), width=st.floats(0, 1))
def test_reverse_logarithmic_values_never_leave_their_range(low, width):
    high = min(0.99, low + width)
    ranges = [Range("m", "continuous", low=low, high=high, scaling="ReverseLogarithmic")]
    for value in sample(ranges, 5):
        assert low <= float(value["m"]) <= high


@pytest.mark.parametrize(
    "ranges, message",
    [
        ({"IntegerParameterRanges": [{"Name": "a", "MinValue": "5", "MaxValue": "1"}]}, "MinValue is above MaxValue"),
        ({"IntegerParameterRanges": [{"Name": "a", "MinValue": "1.5", "MaxValue": "3"}]}, "whole number"),
        ({"ContinuousParameterRanges": [{"Name": "a", "MinValue": "0", "MaxValue": "1", "ScalingType": "ReverseLogarithmic"}]}, "< 1"),
        ({"ContinuousParameterRanges": [{"Name": "a", "MinValue": "nan", "MaxValue": "1"}]}, "finite"),
        ({"CategoricalParameterRanges": [{"Name": "a", "Values": ["x", "x"]}]}, "repeat"),
        ({"CategoricalParameterRanges": [{"Name": "a", "Values": ["x"]}],
          "IntegerParameterRanges": [{"Name": "a", "MinValue": "1", "MaxValue": "2"}]}, "more than one range"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(ranges, message):
    with pytest.raises(ValueError, match=message):
        parse_ranges(ranges)


# --- metrics -------------------------------------------------------------------------------------
def test_the_xgboost_catalogue_regexes_match_a_tab_separated_round_as_cloudwatch_shows_it():
    definitions = list(catalogue.get("xgboost").metric_definitions)
    log = "[0]\ttrain-auc:0.91\tvalidation-auc:0.9\n[1]\ttrain-auc:0.95\tvalidation-auc:0.93\n"
    assert cloudwatch_text(log).startswith("[0]#011train-auc:0.91#011validation-auc:0.9")
    values = parse_text(log, definitions)
    assert values == {"train:auc": [0.91, 0.95], "validation:auc": [0.9, 0.93]}


def test_the_linear_learner_regexes_tell_epoch_values_from_final_ones():
    definitions = list(catalogue.get("linear-learner").metric_definitions)
    log = (
        "#quality_metric: host=algo-1, epoch=0, validation binary_classification_cross_entropy_objective <loss>=0.5\n"
        "#quality_metric: host=algo-1, epoch=1, validation binary_classification_cross_entropy_objective <loss>=0.4\n"
        "#quality_metric: host=algo-1, validation binary_classification_cross_entropy_objective <loss>=0.41\n"
        "#quality_metric: host=algo-1, validation binary_f_1.000 <score>=0.9\n"
    )
    values = parse_text(log, definitions)
    assert values["validation:objective_loss"] == [0.5, 0.4]
    assert values["validation:objective_loss:final"] == [0.41]
    assert values["validation:binary_f_beta"] == [0.9]


def test_the_log_follower_reads_complete_lines_and_skips_values_that_are_not_numbers(tmp_path):
    log = tmp_path / "job.log"
    follower = LogFollower(log, [{"Name": "loss", "Regex": r"loss=(\S+)"}])
    assert follower.poll() == []  # no file yet
    log.write_bytes(b"loss=1.5\nloss=nan\nloss=0.")
    assert follower.poll() == [("loss", 1.5)]  # "loss=0." is not a whole line yet
    with open(log, "ab") as handle:
        handle.write(b"25\nloss=oops\n")
    assert follower.poll() == [("loss", 0.25)]
    assert follower.last("loss") == 0.25


# --- the median stopping rule --------------------------------------------------------------------
def _finished_trial(study: optuna.Study, curve: list[float]) -> None:
    trial = study.ask()
    for step, value in enumerate(curve, start=1):
        trial.report(value, step)
    study.tell(trial, curve[-1])


def test_the_median_stopping_rule_compares_with_running_averages_of_earlier_jobs():
    study = optuna.create_study(direction="minimize", pruner=MedianStoppingRule())
    for curve in ([4.0, 2.0, 1.0], [6.0, 3.0, 2.0], [8.0, 4.0, 3.0]):
        _finished_trial(study, curve)
    first_epoch = study.ask()
    first_epoch.report(7.0, 1)  # epoch 1: the median of 4, 6 and 8 is 6
    assert first_epoch.should_prune()
    # Running averages at epoch 2: 3.0, 4.5, 6.0 -> median 4.5 (the raw values' median would be 3.0).
    worse = study.ask()
    worse.report(4.6, 2)
    assert worse.should_prune()
    better = study.ask()
    better.report(4.0, 2)  # worse than the raw median (3.0) but better than the running-average median
    assert not better.should_prune()


def test_the_median_stopping_rule_waits_for_three_finished_jobs():
    study = optuna.create_study(direction="maximize", pruner=MedianStoppingRule())
    for curve in ([0.9, 0.95], [0.8, 0.85]):
        _finished_trial(study, curve)
    trial = study.ask()
    trial.report(0.1, 1)
    assert not trial.should_prune()


def _run_epochs(study: optuna.Study, curve: list[float]) -> int:
    """Report a job's epochs one by one as the engine does, stopping it when the pruner says so; the
    number of epochs it ran."""
    trial = study.ask()
    for step, value in enumerate(curve, start=1):
        trial.report(value, step)
        if step < len(curve) and trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return step
    study.tell(trial, curve[-1])
    return len(curve)


def test_hyperband_stops_jobs_at_its_rungs_and_lets_the_best_run_their_whole_budget():
    pruner = make_pruner("Hyperband", "Off", {"min_resource": 1, "max_resource": 9})
    study = optuna.create_study(study_name="definition-0", direction="minimize", pruner=pruner)
    qualities = [(i * 7) % 16 for i in range(24)]  # a fixed, shuffled order of qualities 0..15
    budgets = [_run_epochs(study, [q + 1 / epoch for epoch in range(1, 10)]) for q in qualities]
    assert 9 in budgets and min(budgets) < 9
    assert set(budgets) - {9} <= {1, 3}  # rungs at 1, 3 and 9 epochs (reduction factor 3)
    assert budgets[qualities.index(0)] == 9  # the best job is never stopped
    for index, (quality, budget) in enumerate(zip(qualities, budgets)):
        if budget < 9:  # a stopped job was not the best at its rung
            earlier = [q for q, b in zip(qualities[:index], budgets) if b >= budget]
            assert earlier and min(earlier) < quality


def test_hyperband_decides_the_same_for_the_same_recorded_epochs():
    def budgets() -> list[int]:
        study = optuna.create_study(study_name="definition-0", direction="maximize",
                                    pruner=make_pruner("Hyperband", "Off", {"min_resource": 1, "max_resource": 9}))
        return [_run_epochs(study, [q - 1 / epoch for epoch in range(1, 10)]) for q in (5, 3, 8, 1, 9, 2, 7, 4, 6, 0)]

    assert budgets() == budgets()


# --- odds and ends -------------------------------------------------------------------------------
def test_training_job_names_fit_sagemakers_limit():
    name = training_job_name("a" * 32, 750)
    assert len(name) <= 63 and name.startswith("a" * 32 + "-750-")


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONSTARTUP", "ld_library_path", "PATH", "SM_MODEL_DIR", "BASH_ENV"])
def test_environment_variables_that_load_code_are_refused(name):
    with pytest.raises(ValueError):
        container.check_environment({name: "x"})
    container.check_environment({"MY_SETTING": "x", "BATCH_SIZE": "32"})


def test_demo_datasets_are_deterministic_sagemaker_csv(tmp_path):
    first = write_demo_datasets(tmp_path / "a")
    write_demo_datasets(tmp_path / "b")
    for dataset in ("breast-cancer", "diabetes"):
        for channel in ("train", "validation"):
            a = (first[dataset][channel] / "data.csv").read_bytes()
            assert a == (tmp_path / "b" / dataset / channel / "data.csv").read_bytes()
    data = np.loadtxt(first["breast-cancer"]["train"] / "data.csv", delimiter=",")
    assert data.shape == (455, 31) and set(np.unique(data[:, 0])) == {0.0, 1.0}
    assert first["diabetes"]["rows"] == {"train": 354, "validation": 88}


# --- process limits ------------------------------------------------------------------------------
RLIMITS = """
import resource
print(*(resource.getrlimit(getattr(resource, name)) for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE")))
"""


@pytest.mark.parametrize("prlimit", [True, False], ids=["prlimit", "set-between-fork-and-exec"])
def test_a_training_process_starts_under_the_limits_of_the_plan(tmp_path, monkeypatch, prlimit):
    if not prlimit:
        monkeypatch.setattr(resource_limits, "prlimit_path", lambda: None)
    elif resource_limits.prlimit_path() is None:
        pytest.skip("util-linux's prlimit is not installed")
    script = tmp_path / "rlimits.py"
    script.write_text(RLIMITS)
    limits = {"memory_mb": 2048, "cpu_s": 600, "file_mb": 64}
    log = tmp_path / "job.log"
    process, relay = container.launch([sys.executable, str(script)], tmp_path, log, {"PATH": "/usr/bin:/bin"}, limits)
    assert relay is None  # no log limit, no relay
    assert process.wait() == 0, log.read_text()
    mb = 1024 * 1024
    assert log.read_text().split("\n")[0] == f"({2048 * mb}, {2048 * mb}) (600, 605) ({64 * mb}, {64 * mb})"
