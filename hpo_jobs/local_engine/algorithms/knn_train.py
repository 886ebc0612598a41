"""SageMaker's k-NN on the local engine, with scikit-learn's nearest neighbours.

Takes SageMaker's k-NN hyperparameters: k, sample_size (rows sampled from ``train``),
predictor_type (classifier: majority vote; regressor: mean), feature_dim, index_metric (L2, COSINE,
INNER_PRODUCT), dimension_reduction_type (sign or fjlt: a random projection) with
dimension_reduction_target. Exact search stands in for SageMaker's FAISS indexes, so index_type,
faiss_index_* and mini_batch_size have no effect. As on SageMaker, the ``test`` channel is scored
(``test:accuracy`` or ``test:mse``) in ``#quality_metric`` lines.
"""

from __future__ import annotations

import json
import time

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection

from .common import HOST, ClientError, Hyperparameters, ml_root, read_csv_channel, read_hyperparameters, run

USED = {
    "k", "sample_size", "predictor_type", "feature_dim", "index_metric", "dimension_reduction_type",
    "dimension_reduction_target",
}
IGNORED = {"index_type", "faiss_index_ivf_nlists", "faiss_index_pq_m", "mini_batch_size", "_kvstore"}
SEED = 17


def main() -> None:
    values = read_hyperparameters()
    hp = Hyperparameters(values, known=USED, ignored=IGNORED)
    predictor = hp.text("predictor_type", choices=("classifier", "regressor"))
    k = hp.integer("k", low=1)
    sample_size = hp.integer("sample_size", low=1)
    feature_dim = hp.integer("feature_dim", low=1)
    for name, value in (("predictor_type", predictor), ("k", k), ("sample_size", sample_size), ("feature_dim", feature_dim)):
        if value is None:
            raise ClientError(f"Hyperparameter {name} is required")
    metric = hp.text("index_metric", "L2", ("L2", "COSINE", "INNER_PRODUCT"))
    y, x = read_csv_channel("train", required=True)
    if x.shape[1] != feature_dim:
        raise ClientError(f"feature_dim is {feature_dim} but the train channel has {x.shape[1]} features")
    test = read_csv_channel("test")
    if test is None and values.get("_tuning_objective_metric", "").startswith("test:"):
        raise ClientError("Tuning k-NN needs a test channel: its objective metrics are test:accuracy and test:mse")

    started = time.monotonic()
    rng = np.random.RandomState(SEED)
    if sample_size < len(y):
        rows = np.sort(rng.choice(len(y), size=sample_size, replace=False))
        x, y = x[rows], y[rows]
    projection = None
    reduction = hp.text("dimension_reduction_type", "", ("", "sign", "fjlt"))
    if reduction:
        target = hp.integer("dimension_reduction_target", low=1)
        if target is None:
            raise ClientError("dimension_reduction_target is required with dimension_reduction_type")
        projection = (
            SparseRandomProjection(target, density=1.0, random_state=SEED)
            if reduction == "sign"
            else GaussianRandomProjection(target, random_state=SEED)
        )
        x = projection.fit_transform(x)
    if k > len(y):
        raise ClientError(f"k ({k}) is larger than the number of sampled training rows ({len(y)})")
    model_class = KNeighborsClassifier if predictor == "classifier" else KNeighborsRegressor
    if metric == "INNER_PRODUCT":
        # Largest inner product first: as a precomputed distance, shifted to stay non-negative.
        model = model_class(n_neighbors=k, metric="precomputed", algorithm="brute")
        model.fit(np.zeros((len(y), len(y))), y)
    else:
        model = model_class(n_neighbors=k, metric="euclidean" if metric == "L2" else "cosine", algorithm="brute")
        model.fit(x, y)
    print(f"#progress_metric: host={HOST}, completed 100 % of epochs", flush=True)
    elapsed = max(time.monotonic() - started, 1e-9)
    print(f"#throughput_metric: host={HOST}, train throughput={len(y) / elapsed:.1f} records/second", flush=True)

    if test is not None:
        test_y, test_x = test
        if test_x.shape[1] != feature_dim:
            raise ClientError(f"The test channel has {test_x.shape[1]} features; feature_dim is {feature_dim}")
        if projection is not None:
            test_x = projection.transform(test_x)
        if metric == "INNER_PRODUCT":
            products = test_x @ x.T
            predictions = model.predict(products.max() - products)
        else:
            predictions = model.predict(test_x)
        if predictor == "classifier":
            value = float(np.mean(predictions == test_y))
            print(f"#quality_metric: host={HOST}, test accuracy <score>={value!r}", flush=True)
        else:
            value = float(np.mean((predictions - test_y) ** 2))
            print(f"#quality_metric: host={HOST}, test mse <loss>={value!r}", flush=True)
    saved = {"predictor_type": predictor, "k": k, "index_metric": metric, "rows": len(y)}
    (ml_root() / "model" / "knn-model.json").write_text(json.dumps(saved), encoding="utf-8")
    np.savez(ml_root() / "model" / "knn-index.npz", features=x, labels=y)


if __name__ == "__main__":
    run(main)
