"""The example custom algorithm that ships with HPO Portal: logistic regression trained by SGD.

It follows SageMaker's container contract, so the same file runs in a SageMaker training image
(where /opt/ml is the root) and on the portal's local engine (which sets SAGEMAKER_BASE_DIR):

- hyperparameters from input/config/hyperparameters.json (all strings): epochs, learning_rate, alpha;
- CSV channels input/data/train and input/data/validation: label (0 or 1) first, no header;
- one line per epoch on stdout, which the tuning job's metric regexes read:
      epoch=3 loss=0.1234 validation_loss=0.1502 validation_accuracy=0.9561
- the model in model/model.json; on error, the reason in output/failure and a non-zero exit.

See README.md beside this file for the metric definitions to give the tuning job.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

ROOT = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))


def read_channel(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, features) of every CSV file in a channel."""
    folder = ROOT / "input" / "data" / name
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ValueError(f"the {name} channel has no files")
    data = np.vstack([np.loadtxt(p, delimiter=",", ndmin=2) for p in files])
    return data[:, 0], data[:, 1:]


def hyperparameter(values: dict[str, str], name: str, default: float) -> float:
    """A numeric hyperparameter (SageMaker passes every value as a string)."""
    try:
        value = float(values.get(name, default))
    except ValueError:
        raise ValueError(f"hyperparameter {name} must be a number, not {values[name]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"hyperparameter {name} must be a number >= 0, not {values[name]!r}")
    return value


def train() -> None:
    values = json.loads((ROOT / "input" / "config" / "hyperparameters.json").read_text())
    epochs = int(hyperparameter(values, "epochs", 10))
    learning_rate = hyperparameter(values, "learning_rate", 0.01)
    alpha = hyperparameter(values, "alpha", 0.0001)
    if epochs < 1 or learning_rate <= 0:
        raise ValueError("epochs must be at least 1 and learning_rate above 0")

    y, x = read_channel("train")
    valid_y, valid_x = read_channel("validation")
    scaler = StandardScaler().fit(x)
    x, valid_x = scaler.transform(x), scaler.transform(valid_x)
    model = SGDClassifier(loss="log_loss", alpha=alpha, learning_rate="constant", eta0=learning_rate, random_state=0)
    classes = np.array([0.0, 1.0])
    for epoch in range(1, epochs + 1):
        model.partial_fit(x, y, classes=classes)
        loss = log_loss(y, model.predict_proba(x), labels=classes)
        valid_loss = log_loss(valid_y, model.predict_proba(valid_x), labels=classes)
        accuracy = float(np.mean(model.predict(valid_x) == valid_y))
        print(f"epoch={epoch} loss={loss:.6f} validation_loss={valid_loss:.6f} validation_accuracy={accuracy:.6f}", flush=True)

    saved = {"coef": model.coef_.tolist(), "intercept": model.intercept_.tolist(), "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}
    (ROOT / "model" / "model.json").write_text(json.dumps(saved))


if __name__ == "__main__":
    try:
        train()
    except Exception as exc:  # noqa: BLE001 - SageMaker's contract: explain in output/failure, exit non-zero
        (ROOT / "output").mkdir(parents=True, exist_ok=True)
        (ROOT / "output" / "failure").write_text(f"{type(exc).__name__}: {exc}")
        print(f"Training failed: {exc}", file=sys.stderr)
        sys.exit(1)
