"""SageMaker's XGBoost algorithm on the local engine (the xgboost-cpu package).

Takes SageMaker's XGBoost hyperparameters (num_round is required), trains on the ``train`` channel
and evaluates on ``train`` and ``validation`` each round, printing what SageMaker's image prints::

    [3]<TAB>train-auc:0.9812...<TAB>validation-auc:0.9701...

which CloudWatch, and so the engine, shows with the tabs as ``#011``: the catalogue's regexes match
it. Values are printed at full precision (SageMaker's image prints 5 decimals) so that the reported
objective can be checked against a retrained model. As SageMaker's image does, the metric of
``_tuning_objective_metric`` is added to eval_metric and evaluated last (so early_stopping_rounds
watches it); accuracy, f1 and mse, which XGBoost lacks, are computed here.
"""

from __future__ import annotations

import os
import sys
import types

import numpy as np



class _SciPyNotLoaded:
    """A SciPy sparse matrix class in a training job's process, where SciPy is not imported."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise ImportError("SciPy is not loaded in a local XGBoost training job (its data are dense CSV)")


def _without_scipy_and_sklearn() -> None:
    """Start xgboost without what a training job does not use: scikit-learn, and SciPy.

    xgboost imports scikit-learn (over a second) only for its scikit-learn wrappers: with the import
    refused, it falls back to its own stand-ins. It imports SciPy (half a second more) for sparse
    input, which a CSV channel never is, and for the wrappers' softmax: ``scipy.sparse`` becomes a
    module whose matrix classes nothing is an instance of (so xgboost's checks say "not sparse", as
    they would), and ``scipy.special.softmax`` one that refuses to run. A real use of either raises
    ImportError rather than misbehave.
    """
    scipy, sparse, special = (types.ModuleType(name) for name in ("scipy", "scipy.sparse", "scipy.special"))
    for name in ("csr_matrix", "csr_array", "csc_matrix", "csc_array", "coo_matrix", "coo_array"):
        setattr(sparse, name, type(name, (_SciPyNotLoaded,), {}))
    special.softmax = _SciPyNotLoaded  # type: ignore[attr-defined]
    scipy.sparse, scipy.special = sparse, special  # type: ignore[attr-defined]
    for module in (scipy, sparse, special):
        sys.modules.setdefault(module.__name__, module)
    sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]


if __name__ == "__main__":
    # Only as a training job's own process: an importer of this module keeps SciPy and scikit-learn.
    _without_scipy_and_sklearn()
import xgboost as xgb  # noqa: E402

from .common import HOST, ClientError, Hyperparameters, ml_root, read_csv_channel, read_hyperparameters, run

# name -> (kind, low, high): passed to XGBoost under the same name.
NUMERIC = {
    "eta": ("float", 0, 1),
    "gamma": ("float", 0, None),
    "max_depth": ("int", 0, None),
    "min_child_weight": ("float", 0, None),
    "max_delta_step": ("float", 0, None),
    "subsample": ("float", 0, 1),
    "colsample_bytree": ("float", 0, 1),
    "colsample_bylevel": ("float", 0, 1),
    "colsample_bynode": ("float", 0, 1),
    "lambda": ("float", 0, None),
    "alpha": ("float", 0, None),
    "scale_pos_weight": ("float", 0, None),
    "max_leaves": ("int", 0, None),
    "max_bin": ("int", 2, None),
    "num_parallel_tree": ("int", 1, None),
    "rate_drop": ("float", 0, 1),
    "skip_drop": ("float", 0, 1),
    "tweedie_variance_power": ("float", 1, 2),
    "num_class": ("int", 1, None),
    "base_score": ("float", None, None),
    "seed": ("int", 0, None),
    "nthread": ("int", 1, None),
}
CHOICES = {
    "booster": ("gbtree", "gblinear", "dart"),
    "verbosity": ("0", "1", "2", "3"),
    "sampling_method": ("uniform", "gradient_based"),
    "tree_method": ("auto", "exact", "approx", "hist"),
    "refresh_leaf": ("0", "1"),
    "process_type": ("default", "update"),
    "grow_policy": ("depthwise", "lossguide"),
    "sample_type": ("uniform", "weighted"),
    "normalize_type": ("tree", "forest"),
    "one_drop": ("0", "1"),
}
TEXT = {"updater", "interaction_constraints", "monotone_constraints"}
OWN = {"num_round", "objective", "eval_metric", "early_stopping_rounds", "csv_weights"}
# Accepted for compatibility with SageMaker's image; XGBoost 3 no longer has them (the two histogram flags are
# for GPU histograms, which XGBoost 3 builds deterministically and in the precision it chooses).
IGNORED = {"dsplit", "lambda_bias", "sketch_eps", "prob_buffer_row", "save_model_on_termination", "seed_per_iteration",
           "deterministic_histogram", "single_precision_histogram"}
OBJECTIVES = (
    "reg:squarederror", "reg:squaredlogerror", "reg:logistic", "reg:pseudohubererror", "reg:absoluteerror",
    "reg:linear", "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson", "multi:softmax",
    "multi:softprob", "rank:pairwise", "rank:ndcg", "rank:map", "reg:gamma", "reg:tweedie", "survival:cox",
)
# Metrics SageMaker's image offers that XGBoost does not: computed here (larger is better for the first two).
CUSTOM_METRICS = ("accuracy", "f1", "mse")


def _custom_metric(names: list[str], objective: str):
    """An XGBoost custom_metric computing the SageMaker-only metrics in ``names``."""

    def labels_of(predictions: np.ndarray) -> np.ndarray:
        if predictions.ndim == 2:
            return predictions.argmax(axis=1)
        if objective in ("multi:softmax", "binary:hinge"):
            return predictions
        return (predictions > 0.5).astype(float)

    def metric(predictions: np.ndarray, data: xgb.DMatrix) -> list[tuple[str, float]]:
        y = data.get_label()
        results = []
        for name in names:
            if name == "mse":
                results.append((name, float(np.mean((predictions - y) ** 2))))
                continue
            predicted = labels_of(predictions)
            if name == "accuracy":
                results.append((name, float(np.mean(predicted == y))))
            else:
                tp = float(np.sum((predicted == 1) & (y == 1)))
                fp = float(np.sum((predicted == 1) & (y != 1)))
                fn = float(np.sum((predicted != 1) & (y == 1)))
                results.append((name, 2 * tp / (2 * tp + fp + fn) if tp else 0.0))
        return results

    return metric


class PrintMetrics(xgb.callback.TrainingCallback):
    """Prints each round's metrics as SageMaker's XGBoost image does (tab-separated)."""

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        parts = [f"[{epoch}]"]
        for data_name, metrics in evals_log.items():
            for metric_name, values in metrics.items():
                parts.append(f"{data_name}-{metric_name}:{float(values[-1])!r}")
        print("\t".join(parts), flush=True)
        return False


def _matrix(channel: tuple[np.ndarray, np.ndarray], weighted: bool) -> xgb.DMatrix:
    labels, features = channel
    if weighted:
        if features.shape[1] < 2:
            raise ClientError("csv_weights=1 needs a weight column after the label and at least one feature")
        return xgb.DMatrix(features[:, 1:], label=labels, weight=features[:, 0])
    return xgb.DMatrix(features, label=labels)


def main() -> None:
    values = read_hyperparameters()
    hp = Hyperparameters(values, known=set(NUMERIC) | set(CHOICES) | TEXT | OWN, ignored=IGNORED)
    num_round = hp.integer("num_round", low=1)
    if num_round is None:
        raise ClientError("Hyperparameter num_round is required")
    objective = hp.text("objective", "reg:squarederror", OBJECTIVES)
    params: dict[str, object] = {"objective": objective}
    for name, (kind, low, high) in NUMERIC.items():
        value = hp.integer(name, low=low, high=high) if kind == "int" else hp.number(name, low=low, high=high)
        if value is not None:
            params[name] = value
    for name, choices in CHOICES.items():
        if hp.has(name):
            params[name] = hp.text(name, choices=choices)
    for name in TEXT:
        if hp.has(name):
            params[name] = hp.text(name)
    params.setdefault("nthread", int(os.environ.get("SM_NUM_CPUS") or os.cpu_count() or 1))
    if objective.startswith("multi:") and "num_class" not in params:
        raise ClientError(f"Hyperparameter num_class is required with objective {objective}")

    metrics = [m.strip() for m in (hp.text("eval_metric") or "").split(",") if m.strip()]
    tuning = values.get("_tuning_objective_metric", "")
    if ":" in tuning:
        tuned_metric = tuning.split(":", 1)[1]
        # As SageMaker's image does: the objective's metric is evaluated, and evaluated last.
        metrics = [m for m in metrics if m != tuned_metric] + [tuned_metric]
    builtin = [m for m in metrics if m not in CUSTOM_METRICS]
    custom = [m for m in metrics if m in CUSTOM_METRICS]
    if builtin:
        params["eval_metric"] = builtin

    weighted = hp.text("csv_weights", "0", ("0", "1")) == "1"
    train = read_csv_channel("train", required=True)
    validation = read_csv_channel("validation")
    dtrain = _matrix(train, weighted)
    evals = [(dtrain, "train")]
    if validation is not None:
        evals.append((_matrix(validation, weighted), "validation"))
    print(f"[{HOST}] Train matrix has {dtrain.num_row()} rows and {dtrain.num_col()} columns", flush=True)

    early_stopping = hp.integer("early_stopping_rounds", low=1)
    if early_stopping is not None and validation is None:
        raise ClientError("early_stopping_rounds needs a validation channel")
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=num_round,
        evals=evals,
        custom_metric=_custom_metric(custom, objective) if custom else None,
        early_stopping_rounds=early_stopping,
        maximize=True if metrics and metrics[-1] in ("accuracy", "f1") else None,
        callbacks=[PrintMetrics()],
        verbose_eval=False,
    )
    booster.save_model(str(ml_root() / "model" / "xgboost-model.json"))


if __name__ == "__main__":
    run(main)
