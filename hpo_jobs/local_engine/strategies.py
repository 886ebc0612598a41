"""SageMaker's search strategies and early stopping, built from Optuna's samplers and pruners.

- Bayesian: TPESampler (Optuna's Bayesian optimiser; its GP sampler would need PyTorch).
- Random: RandomSampler.
- Grid: GridSampler over the categorical values: exactly their product, in an order fixed by the seed.
- Hyperband: TPESampler with HyperbandPruner(MinResource, MaxResource); the resource is the epoch,
  counted as the number of times the job has emitted its objective metric.
- Early stopping Auto: :class:`MedianStoppingRule`, SageMaker's documented rule as an Optuna pruner.
"""

from __future__ import annotations

import statistics

import optuna
from optuna.pruners import BasePruner, HyperbandPruner, NopPruner
from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from .space import Range, grid

# Jobs that must have finished before the median stopping rule may stop anyone: a median of one
# or two jobs says little. SageMaker does not document its number.
MEDIAN_RULE_MIN_JOBS = 3
HYPERBAND_REDUCTION_FACTOR = 3  # Hyperband's usual eta, and Optuna's default


class ExhaustiveGridSampler(GridSampler):
    """Optuna's GridSampler, minus the ``study.stop()`` its after_trial calls once the grid is covered.

    ``Study.stop`` only works inside ``Study.optimize``; the supervisor asks and tells trials itself
    and ends the grid by counting its combinations.
    """

    def after_trial(self, study, trial, state, values) -> None:  # type: ignore[no-untyped-def]
        pass


class MedianStoppingRule(BasePruner):
    """SageMaker's early stopping: stop a job whose objective at epoch n is worse than the median of
    the running averages, up to epoch n, of the objective of every earlier job that reached epoch n.

    Optuna's MedianPruner compares a trial's best value with other trials' raw values at the step,
    which is a different rule; this one follows SageMaker's documentation.
    """

    def __init__(self, min_jobs: int = MEDIAN_RULE_MIN_JOBS) -> None:
        self.min_jobs = min_jobs

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        current = trial.intermediate_values[step]
        averages = []
        for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if step not in other.intermediate_values:
                continue
            upto = [value for s, value in other.intermediate_values.items() if s <= step]
            averages.append(sum(upto) / len(upto))
        if len(averages) < self.min_jobs:
            return False
        median = statistics.median(averages)
        if study.direction == StudyDirection.MAXIMIZE:
            return current < median
        return current > median


def startup_trials(budget: int) -> int:
    """How many random trials TPE takes before modelling: Optuna's 10, fewer for a small budget."""
    return max(2, min(10, budget // 3))


def make_sampler(strategy: str, ranges: list[Range], seed: int | None, budget: int) -> BaseSampler:
    """The Optuna sampler for a SageMaker strategy."""
    if strategy == "Grid":
        # GridSampler shuffles the grid with the seed (0 when none): the same seed, the same order.
        return ExhaustiveGridSampler(grid(ranges), seed=seed)
    if strategy == "Random":
        return RandomSampler(seed=seed)
    return TPESampler(seed=seed, n_startup_trials=startup_trials(budget))


def make_pruner(strategy: str, early_stopping: str, hyperband: dict[str, int] | None) -> BasePruner:
    """The Optuna pruner for a strategy and TrainingJobEarlyStoppingType."""
    if strategy == "Hyperband" and hyperband:
        return HyperbandPruner(
            min_resource=hyperband["min_resource"],
            max_resource=hyperband["max_resource"],
            reduction_factor=HYPERBAND_REDUCTION_FACTOR,
        )
    if early_stopping == "Auto":
        return MedianStoppingRule()
    return NopPruner()


def uses_intermediate_values(strategy: str, early_stopping: str) -> bool:
    """Whether per-epoch objective values must be reported to Optuna while jobs run."""
    return strategy == "Hyperband" or early_stopping == "Auto"
