"""Demo datasets from scikit-learn's bundled data, written as SageMaker CSV channels."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

VALIDATION_FRACTION = 0.2
SPLIT_SEED = 20240601  # fixed: the same files on every machine and every run


def _write_csv(path: Path, labels: np.ndarray, features: np.ndarray) -> None:
    """Label first, no header, full precision; swapped in whole so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.column_stack([labels, features])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".data.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(",".join(format(float(v), ".17g") for v in row) + "\n")
    os.replace(tmp, path)


def _split(labels: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.RandomState(SPLIT_SEED).permutation(len(labels))
    cut = int(round(len(labels) * (1 - VALIDATION_FRACTION)))
    return order[:cut], order[cut:]


def write_demo_datasets(root: Path) -> dict[str, Any]:
    """Write breast-cancer (binary) and diabetes (regression) under ``root``; what was written, by dataset.

    Each dataset gets ``root/<name>/train/data.csv`` and ``root/<name>/validation/data.csv``; the
    split is deterministic, so calling this again rewrites the same files.
    """
    from sklearn.datasets import load_breast_cancer, load_diabetes

    root = Path(root)
    written: dict[str, Any] = {}
    for name, loader, task in (
        ("breast-cancer", load_breast_cancer, "binary_classification"),
        ("diabetes", load_diabetes, "regression"),
    ):
        features, labels = loader(return_X_y=True)
        train_rows, validation_rows = _split(labels, features)
        channels = {}
        for channel, rows in (("train", train_rows), ("validation", validation_rows)):
            folder = root / name / channel
            _write_csv(folder / "data.csv", labels[rows], features[rows])
            channels[channel] = folder
        written[name] = {
            "task": task,
            "features": int(features.shape[1]),
            "rows": {"train": int(len(train_rows)), "validation": int(len(validation_rows))},
            **channels,
        }
    return written
