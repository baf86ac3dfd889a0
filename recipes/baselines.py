"""Baselines beside every evaluation report: is the network better than something simple?

Classifiers are compared with the majority class and a scikit-learn logistic
regression, regressors with the mean and a ridge regression, all fitted on the
same training split (features standardized; text as TF-IDF words) and scored
on the same test split as the network. The curriculum's advice is to compare
with a baseline before trusting a network; the report does it every time.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

#: Enough training rows for a stable linear baseline without slowing the run down.
MAX_ROWS = 5000


def arrays(dataset: Any, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` arrays from an unbatched dataset of single examples."""
    xs, ys = [], []
    for x, y in dataset.take(limit) if limit else dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return np.stack(xs), np.stack(ys)


def _features(x: np.ndarray) -> np.ndarray | list[str]:
    if x.dtype.kind in "OSU":  # text
        return [v.decode() if isinstance(v, bytes) else str(v) for v in x.reshape(-1)]
    return x.reshape(len(x), -1).astype("float64")


def _linear(kind: str, text: bool) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    prep = TfidfVectorizer(max_features=20000) if text else StandardScaler()
    head = LogisticRegression(max_iter=300) if kind == "classification" else Ridge()
    return make_pipeline(prep, head)


def baselines(raw: Any, report: str) -> dict[str, Any]:
    """Baseline scores on ``raw``'s test split for a ``classification`` or ``regression``
    report; ``{}`` for other reports."""
    from sklearn import metrics as M
    from sklearn.exceptions import ConvergenceWarning

    if report not in ("classification", "regression"):
        return {}
    x_train, y_train = arrays(raw.train, MAX_ROWS)
    x_test, y_test = arrays(raw.test)
    text = x_train.dtype.kind in "OSU"
    f_train, f_test = _features(x_train), _features(x_test)
    y_train, y_test = y_train.reshape(len(y_train), -1), y_test.reshape(len(y_test), -1)
    start = time.perf_counter()
    linear = _linear(report, text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit_y = y_train.ravel() if report == "classification" else y_train
        linear.fit(f_train, fit_y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    predicted = linear.predict(f_test)
    if report == "classification":
        values, counts = np.unique(y_train, return_counts=True)
        majority = values[np.argmax(counts)]
        out = {
            "majority_class": {"accuracy": float(np.mean(y_test.ravel() == majority))},
            "logistic_regression": {"accuracy": float(M.accuracy_score(y_test.ravel(), predicted))},
        }
    else:
        mean = np.broadcast_to(y_train.mean(0), y_test.shape)
        out = {
            "mean": _regression_scores(y_test, mean),
            "ridge": _regression_scores(y_test, predicted.reshape(y_test.shape)),
        }
    linear_name = "logistic_regression" if report == "classification" else "ridge"
    out[linear_name].update(converged=converged, train_rows=len(f_train),
                            seconds=round(time.perf_counter() - start, 3))  # fmt: skip
    return out


def _regression_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as M

    return {
        "rmse": float(np.sqrt(M.mean_squared_error(y, p))),
        "r2": float(M.r2_score(y, p)),
    }


def lift(evaluation: dict[str, Any], found: dict[str, Any]) -> dict[str, float]:
    """The network's margin over each baseline: accuracy points, or RMSE reduction."""
    out = {}
    for name, scores in found.items():
        if "accuracy" in scores and evaluation.get("accuracy") is not None:
            out[name] = float(evaluation["accuracy"] - scores["accuracy"])
        elif "rmse" in scores and evaluation.get("rmse") is not None:
            out[name] = float(scores["rmse"] - evaluation["rmse"])
    return out
