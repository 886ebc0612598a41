"""What the built-in training programs share: paths, hyperparameters, CSV channels, failures."""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

HOST = os.environ.get("SM_CURRENT_HOST", "algo-1")


class ClientError(Exception):
    """A problem with the job's input (hyperparameters, data): SageMaker reports these as ClientError."""


def ml_root() -> Path:
    """The /opt/ml of this training job (SAGEMAKER_BASE_DIR, as SageMaker's training toolkit reads it)."""
    return Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))


def read_hyperparameters() -> dict[str, str]:
    """input/config/hyperparameters.json: every value a string."""
    path = ml_root() / "input" / "config" / "hyperparameters.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {str(k): str(v) for k, v in data.items()}


class Hyperparameters:
    """The job's hyperparameters with typed, checked accessors; unknown names are refused at the end."""

    def __init__(self, values: dict[str, str], known: set[str], ignored: set[str] = frozenset()) -> None:
        self.values = values
        unknown = sorted(
            name for name in values if name not in known and name not in ignored and not name.startswith("_")
        )
        if unknown:
            raise ClientError(f"Hyperparameter {unknown[0]} is not recognised by this algorithm")
        for name in sorted(set(values) & set(ignored)):
            print(f"[{HOST}] Hyperparameter {name} has no effect on the local engine; ignored.", flush=True)

    def has(self, name: str) -> bool:
        return name in self.values and self.values[name] != ""

    def text(self, name: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is not None and choices is not None and value not in choices:
            raise ClientError(f"Hyperparameter {name} must be one of {', '.join(choices)} (got {value!r})")
        return value

    def integer(self, name: str, default: int | None = None, low: int | None = None, high: int | None = None) -> int | None:
        if not self.has(name):
            return default
        raw = self.values[name]
        try:
            number = float(raw)
            if not number.is_integer():
                raise ValueError
            value = int(number)
        except ValueError:
            raise ClientError(f"Hyperparameter {name} must be a whole number (got {raw!r})") from None
        self._bounds(name, value, low, high)
        return value

    def number(self, name: str, default: float | None = None, low: float | None = None, high: float | None = None) -> float | None:
        if not self.has(name):
            return default
        raw = self.values[name]
        try:
            value = float(raw)
        except ValueError:
            raise ClientError(f"Hyperparameter {name} must be a number (got {raw!r})") from None
        if not math.isfinite(value):
            raise ClientError(f"Hyperparameter {name} must be a finite number (got {raw!r})")
        self._bounds(name, value, low, high)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        if not self.has(name):
            return default
        raw = self.values[name].strip().lower()
        if raw in ("true", "1", "yes"):
            return True
        if raw in ("false", "0", "no"):
            return False
        raise ClientError(f"Hyperparameter {name} must be true or false (got {self.values[name]!r})")

    @staticmethod
    def _bounds(name: str, value: float, low: float | None, high: float | None) -> None:
        if low is not None and value < low:
            raise ClientError(f"Hyperparameter {name} must be at least {low} (got {value})")
        if high is not None and value > high:
            raise ClientError(f"Hyperparameter {name} must be at most {high} (got {value})")


def channel_content_type(name: str) -> str | None:
    path = ml_root() / "input" / "config" / "inputdataconfig.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return (config.get(name) or {}).get("ContentType")


def read_csv_channel(name: str, required: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(labels, features) of every file in channel ``name`` (CSV, label first, no header); None when absent."""
    folder = ml_root() / "input" / "data" / name
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    if not files:
        if required:
            raise ClientError(f"The {name} channel is required and has no data")
        return None
    content_type = (channel_content_type(name) or "text/csv").split(";")[0].strip().lower()
    if content_type not in ("text/csv", "csv", "text/x-csv"):
        raise ClientError(
            f"Content type {content_type} of the {name} channel is not supported on the local engine; use text/csv"
        )
    blocks = []
    for path in files:
        try:
            block = np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            raise ClientError(f"{path.name} in the {name} channel is not numeric CSV without a header: {exc}") from None
        if block.size:
            blocks.append(block)
    if not blocks:
        raise ClientError(f"The {name} channel's files hold no rows")
    widths = {b.shape[1] for b in blocks}
    if len(widths) != 1:
        raise ClientError(f"The files of the {name} channel have different numbers of columns")
    data = np.vstack(blocks)
    if data.shape[1] < 2:
        raise ClientError(f"The {name} channel needs a label column and at least one feature column")
    return data[:, 0], data[:, 1:]


def write_failure(message: str) -> None:
    """Write output/failure, whose text SageMaker reports as the FailureReason."""
    output = ml_root() / "output"
    output.mkdir(parents=True, exist_ok=True)
    (output / "failure").write_text(message, encoding="utf-8")


def run(main: Callable[[], None]) -> None:
    """Run a training program: a failure is written to output/failure and the exit code is non-zero."""
    try:
        main()
    except ClientError as exc:
        message = f"ClientError: {exc}"
        print(message, file=sys.stderr, flush=True)
        write_failure(message)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - any other error is the algorithm's, reported as such
        traceback.print_exc()
        write_failure(f"AlgorithmError: {type(exc).__name__}: {exc}")
        sys.exit(2)
