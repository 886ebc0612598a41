"""SageMaker's Linear Learner on the local engine, with scikit-learn's SGD linear models.

Takes SageMaker's Linear Learner hyperparameters. The ones that shape the model are honoured:
predictor_type, feature_dim, epochs, mini_batch_size, learning_rate, wd (L2), l1, use_bias, loss,
use_lr_scheduler, normalize_data, normalize_label, early_stopping_patience,
early_stopping_tolerance, positive_example_weight_mult, num_classes, f_beta, accuracy_top_k,
huber_delta, loss_insensitivity. The optimiser is scikit-learn's SGD, so SageMaker's optimiser
settings (optimizer, momentum, beta_1, beta_2, init_*, lr_scheduler_*, num_models, ...) are
accepted and have no effect; "auto" values take fixed defaults rather than SageMaker's internal
search. Each epoch trains on mini-batches of ``train`` and prints the objective loss of ``train``
and ``validation``; at the end the best epoch's model (by validation loss, when there is a
validation channel) is scored on every channel, in SageMaker's ``#quality_metric`` lines.
"""

from __future__ import annotations

import copy
import json
import time

import numpy as np
from sklearn import metrics as skm
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.preprocessing import StandardScaler

from .common import HOST, ClientError, Hyperparameters, ml_root, read_csv_channel, read_hyperparameters, run

USED = {
    "predictor_type", "feature_dim", "epochs", "mini_batch_size", "learning_rate", "wd", "l1", "use_bias",
    "loss", "use_lr_scheduler", "normalize_data", "normalize_label", "early_stopping_patience",
    "early_stopping_tolerance", "positive_example_weight_mult", "num_classes", "f_beta", "accuracy_top_k",
    "huber_delta", "loss_insensitivity",
}
IGNORED = {
    "binary_classifier_model_selection_criteria", "target_recall", "target_precision", "num_models",
    "num_calibration_samples", "init_method", "init_scale", "init_sigma", "init_bias", "optimizer", "margin",
    "quantile", "momentum", "beta_1", "beta_2", "bias_lr_mult", "bias_wd_mult", "lr_scheduler_step",
    "lr_scheduler_factor", "lr_scheduler_minimum_lr", "unbias_data", "unbias_label", "num_point_for_scaler",
    "balance_multiclass_weights",
}
SEED = 17  # SageMaker's Linear Learner is deterministic for a given input too
LOSSES = {
    # predictor_type -> loss hyperparameter -> (scikit-learn loss, SageMaker's objective name)
    "binary_classifier": {
        "auto": ("log_loss", "binary_classification_cross_entropy_objective"),
        "logistic": ("log_loss", "binary_classification_cross_entropy_objective"),
        "hinge_loss": ("hinge", "binary_classification_hinge_loss_objective"),
    },
    "multiclass_classifier": {
        "auto": ("log_loss", "multiclass_cross_entropy_objective"),
        "softmax_loss": ("log_loss", "multiclass_cross_entropy_objective"),
        "hinge_loss": ("hinge", "multiclass_hinge_loss_objective"),
    },
    "regressor": {
        "auto": ("squared_error", "square_loss_objective"),
        "squared_loss": ("squared_error", "square_loss_objective"),
        "absolute_loss": ("epsilon_insensitive", "absolute_loss_objective"),
        "eps_insensitive_squared_loss": ("squared_epsilon_insensitive", "eps_insensitive_squared_loss_objective"),
        "eps_insensitive_absolute_loss": ("epsilon_insensitive", "eps_insensitive_absolute_loss_objective"),
        "huber_loss": ("huber", "huber_loss_objective"),
    },
}


def quality(channel: str, name: str, value: float, kind: str = "score", epoch: int | None = None) -> None:
    """Print one of SageMaker's #quality_metric lines."""
    where = f"epoch={epoch}, " if epoch is not None else ""
    print(f"#quality_metric: host={HOST}, {where}{channel} {name} <{kind}>={float(value)!r}", flush=True)


class Model:
    """The scikit-learn model with the scaling of features and (for a regressor) of the label."""

    def __init__(self, hp: Hyperparameters, predictor: str, classes: np.ndarray | None) -> None:
        self.predictor = predictor
        self.classes = classes
        loss_name = hp.text("loss", "auto")
        table = LOSSES[predictor]
        if loss_name not in table:
            raise ClientError(f"loss {loss_name} is not available for predictor_type {predictor} on the local engine")
        self.sk_loss, self.objective = table[loss_name]
        self.epsilon = 0.0
        if loss_name == "huber_loss":
            self.epsilon = hp.number("huber_delta", 1.0, low=0)
        elif loss_name.startswith("eps_insensitive"):
            self.epsilon = hp.number("loss_insensitivity", 0.01, low=0)
        wd = hp.number("wd", 0.0001, low=0) if hp.text("wd") != "auto" else 0.0001
        l1 = hp.number("l1", 0.0, low=0) if hp.text("l1") != "auto" else 0.0
        rate = hp.number("learning_rate", 0.01, low=1e-12) if hp.text("learning_rate") != "auto" else 0.01
        common = {
            "penalty": "elasticnet" if wd + l1 > 0 else None,
            "alpha": wd + l1,
            "l1_ratio": l1 / (wd + l1) if wd + l1 > 0 else 0.15,
            "fit_intercept": hp.boolean("use_bias", True),
            "learning_rate": "invscaling" if hp.boolean("use_lr_scheduler", True) else "constant",
            "eta0": rate,
            "random_state": SEED,
        }
        if predictor == "regressor":
            self.estimator = SGDRegressor(loss=self.sk_loss, epsilon=self.epsilon or 0.1, **common)
        else:
            weight = hp.text("positive_example_weight_mult", "1.0")
            self.class_weight = None
            if predictor == "binary_classifier" and weight not in ("1.0", "1", "auto"):
                if weight == "balanced":
                    self.class_weight = "balanced"
                else:
                    self.class_weight = {0.0: 1.0, 1.0: hp.number("positive_example_weight_mult", low=1e-12)}
            self.estimator = SGDClassifier(loss=self.sk_loss, **common)
        self.feature_scaler = StandardScaler() if hp.text("normalize_data", "true") in ("true", "auto") else None
        normalize_label = hp.text("normalize_label", "auto")
        self.label_scaler = (
            StandardScaler() if predictor == "regressor" and normalize_label in ("true", "auto") else None
        )

    def fit_scalers(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.feature_scaler is not None:
            self.feature_scaler.fit(x)
        if self.label_scaler is not None:
            self.label_scaler.fit(y.reshape(-1, 1))
        if getattr(self, "class_weight", None) == "balanced":
            # partial_fit takes no "balanced": compute the weights once from the training labels.
            counts = np.bincount(y.astype(int), minlength=2)
            self.class_weight = {float(c): len(y) / (2.0 * max(n, 1)) for c, n in enumerate(counts)}

    def features(self, x: np.ndarray) -> np.ndarray:
        return self.feature_scaler.transform(x) if self.feature_scaler is not None else x

    def partial_fit(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.predictor == "regressor":
            target = self.label_scaler.transform(y.reshape(-1, 1)).ravel() if self.label_scaler else y
            self.estimator.partial_fit(self.features(x), target)
            return
        weights = None
        if self.class_weight:
            weights = np.array([self.class_weight.get(float(label), 1.0) for label in y])
        self.estimator.partial_fit(self.features(x), y, classes=self.classes, sample_weight=weights)

    def predict_value(self, x: np.ndarray) -> np.ndarray:
        """A regressor's predictions on the label's own scale."""
        predictions = self.estimator.predict(self.features(x))
        if self.label_scaler is not None:
            predictions = self.label_scaler.inverse_transform(predictions.reshape(-1, 1)).ravel()
        return predictions

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (log loss) or decision values (hinge loss), one column per class."""
        features = self.features(x)
        if self.sk_loss == "log_loss":
            return self.estimator.predict_proba(features)
        decision = self.estimator.decision_function(features)
        return np.column_stack([-decision, decision]) if decision.ndim == 1 else decision

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """The objective loss SageMaker reports for a channel."""
        if self.predictor == "regressor":
            error = self.predict_value(x) - y
            if self.sk_loss == "squared_error":
                return float(np.mean(error**2))
            if self.sk_loss == "huber":
                a = np.abs(error)
                return float(np.mean(np.where(a <= self.epsilon, 0.5 * error**2, self.epsilon * (a - 0.5 * self.epsilon))))
            excess = np.maximum(np.abs(error) - self.epsilon, 0)
            return float(np.mean(excess**2 if self.sk_loss == "squared_epsilon_insensitive" else excess))
        scores = self.scores(x)
        if self.sk_loss == "log_loss":
            return float(skm.log_loss(y, scores, labels=self.classes))
        indices = np.searchsorted(self.classes, y)
        own = scores[np.arange(len(y)), indices]
        others = np.where(np.eye(len(self.classes), dtype=bool)[indices], -np.inf, scores).max(axis=1)
        return float(np.mean(np.maximum(0, 1 - (own - others))))


def report_final(model: Model, channel: str, y: np.ndarray, x: np.ndarray, hp: Hyperparameters) -> None:
    """Print a channel's final metrics, as SageMaker's Linear Learner does after training."""
    beta = hp.number("f_beta", 1.0, low=1e-12)
    if model.predictor == "regressor":
        predictions = model.predict_value(x)
        mse = float(np.mean((predictions - y) ** 2))
        quality(channel, "mse", mse, "loss")
        quality(channel, "rmse", mse**0.5, "loss")
        quality(channel, "absolute_loss", float(np.mean(np.abs(predictions - y))), "loss")
        quality(channel, model.objective, model.loss(x, y), "loss")
        return
    scores = model.scores(x)
    predicted = model.classes[scores.argmax(axis=1)]
    if model.predictor == "binary_classifier":
        quality(channel, "binary_classification_accuracy", skm.accuracy_score(y, predicted))
        quality(channel, f"binary_f_{beta:.3f}", skm.fbeta_score(y, predicted, beta=beta, zero_division=0))
        quality(channel, "precision", skm.precision_score(y, predicted, zero_division=0))
        quality(channel, "recall", skm.recall_score(y, predicted, zero_division=0))
        if len(np.unique(y)) == 2:
            quality(channel, "roc_auc_score", skm.roc_auc_score(y, scores[:, 1]))
    else:
        quality(channel, "multiclass_accuracy", skm.accuracy_score(y, predicted))
        top_k = hp.integer("accuracy_top_k", 3, low=1)
        if top_k < len(model.classes):
            hits = np.argsort(-scores, axis=1)[:, :top_k] == np.searchsorted(model.classes, y)[:, None]
            quality(channel, f"multiclass_top_k_accuracy_{top_k}", float(hits.any(axis=1).mean()))
        quality(channel, "macro_recall", skm.recall_score(y, predicted, average="macro", zero_division=0))
        quality(channel, "macro_precision", skm.precision_score(y, predicted, average="macro", zero_division=0))
        quality(
            channel, f"macro_f_{beta:.3f}", skm.fbeta_score(y, predicted, beta=beta, average="macro", zero_division=0)
        )
    quality(channel, model.objective, model.loss(x, y), "loss")


def main() -> None:
    hp = Hyperparameters(read_hyperparameters(), known=USED, ignored=IGNORED)
    predictor = hp.text("predictor_type", choices=tuple(LOSSES))
    if predictor is None:
        raise ClientError("Hyperparameter predictor_type is required")
    train = read_csv_channel("train", required=True)
    channels = {"train": train, "validation": read_csv_channel("validation"), "test": read_csv_channel("test")}
    y, x = train
    feature_dim = hp.text("feature_dim", "auto")
    if feature_dim != "auto" and hp.integer("feature_dim", low=1) != x.shape[1]:
        raise ClientError(f"feature_dim is {feature_dim} but the train channel has {x.shape[1]} features")
    classes = None
    if predictor == "binary_classifier":
        if not np.isin(y, (0, 1)).all():
            raise ClientError("A binary_classifier needs labels 0 and 1")
        classes = np.array([0.0, 1.0])
    elif predictor == "multiclass_classifier":
        num_classes = hp.integer("num_classes", low=3)
        if num_classes is None:
            raise ClientError("Hyperparameter num_classes is required for a multiclass_classifier")
        if not np.isin(y, np.arange(num_classes)).all():
            raise ClientError(f"A multiclass_classifier with num_classes={num_classes} needs labels 0 to {num_classes - 1}")
        classes = np.arange(num_classes, dtype=float)
    epochs = hp.integer("epochs", 15, low=1)
    batch = hp.integer("mini_batch_size", 1000, low=1)
    patience = hp.integer("early_stopping_patience", 3, low=1)
    tolerance = hp.number("early_stopping_tolerance", 0.001, low=0)

    model = Model(hp, predictor, classes)
    model.fit_scalers(x, y)
    rng = np.random.RandomState(SEED)
    watched = "validation" if channels["validation"] is not None else "train"
    best_loss, best_model, waited = None, model, 0
    started = time.monotonic()
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            model.partial_fit(x[rows], y[rows])
        losses = {}
        for name in ("train", "validation"):
            if channels[name] is not None:
                losses[name] = model.loss(channels[name][1], channels[name][0])
                quality(name, model.objective, losses[name], "loss", epoch=epoch)
        print(f"#progress_metric: host={HOST}, completed {100.0 * (epoch + 1) / epochs:.1f} % of epochs", flush=True)
        loss = losses[watched]
        if best_loss is None or loss < best_loss * (1 - tolerance):
            best_loss, best_model, waited = loss, copy.deepcopy(model), 0
        else:
            waited += 1
            if waited >= patience:
                print(f"[{HOST}] Early stop: {watched} loss did not improve for {patience} epochs", flush=True)
                break
    elapsed = max(time.monotonic() - started, 1e-9)
    print(f"#throughput_metric: host={HOST}, train throughput={len(y) * (epoch + 1) / elapsed:.1f} records/second", flush=True)
    for name in ("train", "validation", "test"):
        if channels[name] is not None:
            report_final(best_model, name, channels[name][0], channels[name][1], hp)
    estimator = best_model.estimator
    saved = {
        "predictor_type": predictor,
        "coef": np.atleast_2d(estimator.coef_).tolist(),
        "intercept": np.atleast_1d(estimator.intercept_).tolist(),
        "classes": None if classes is None else classes.tolist(),
        "feature_mean": None if best_model.feature_scaler is None else best_model.feature_scaler.mean_.tolist(),
        "feature_scale": None if best_model.feature_scaler is None else best_model.feature_scaler.scale_.tolist(),
    }
    (ml_root() / "model" / "linear-learner-model.json").write_text(json.dumps(saved), encoding="utf-8")


if __name__ == "__main__":
    run(main)
