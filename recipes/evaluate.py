"""Evaluation reports: the tutorial's "model evaluation" section, computed by scikit-learn.

Classification: accuracy, precision / recall / F1 per class and macro, ROC-AUC,
confusion matrix (also as a PNG). Regression: MSE, RMSE, MAE, R^2.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def classification_report(
    y_true: Sequence[int], proba: np.ndarray, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Metrics from true labels and predicted probabilities (n, classes) or (n,) / (n, 1)."""
    from sklearn import metrics as M

    y = np.asarray(y_true).reshape(-1).astype(int)
    p = np.asarray(proba, dtype="float64")
    binary = p.ndim == 1 or p.shape[-1] == 1
    if binary:
        score = p.reshape(-1)
        pred = (score > 0.5).astype(int)
        n_classes = 2
    else:
        pred = p.argmax(-1)
        n_classes = p.shape[-1]
    labels = list(range(n_classes))
    names = list(class_names) if class_names is not None else [str(i) for i in labels]
    prec, rec, f1, support = M.precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0
    )
    report: dict[str, Any] = {
        "accuracy": float(M.accuracy_score(y, pred)),
        "precision_macro": float(np.mean(prec)),
        "recall_macro": float(np.mean(rec)),
        "f1_macro": float(np.mean(f1)),
        "per_class": {
            names[i]: {
                "precision": float(prec[i]),
                "recall": float(rec[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in labels
        },
        "confusion_matrix": M.confusion_matrix(y, pred, labels=labels).tolist(),
        "class_names": names,
    }
    report["most_confused"] = most_confused(report["confusion_matrix"], names)
    present = np.unique(y)
    try:
        if binary:
            report["roc_auc"] = float(M.roc_auc_score(y, score))
        elif len(present) == n_classes:
            report["roc_auc"] = float(
                M.roc_auc_score(y, p / p.sum(-1, keepdims=True), multi_class="ovr")
            )
        else:
            report["roc_auc"] = None  # undefined when a class is absent from the labels
    except ValueError:
        report["roc_auc"] = None
    return report


def most_confused(confusion: Sequence[Sequence[int]], names: Sequence[str], top: int = 5) -> list:
    """The class pairs mistaken most often (fastai's ``most_confused``): true, predicted, count."""
    cm = np.asarray(confusion)
    pairs = [
        {"true": names[i], "predicted": names[j], "count": int(cm[i, j])}
        for i in range(cm.shape[0])
        for j in range(cm.shape[1])
        if i != j and cm[i, j] > 0
    ]
    return sorted(pairs, key=lambda p: -p["count"])[:top]


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as M

    y = np.asarray(y_true, dtype="float64").reshape(len(y_true), -1)
    p = np.asarray(y_pred, dtype="float64").reshape(len(y_pred), -1)
    mse = float(M.mean_squared_error(y, p))
    return {
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "mae": float(M.mean_absolute_error(y, p)),
        "r2": float(M.r2_score(y, p)),
    }


def predict_dataset(model: Any, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions over a batched ``(x, y)`` dataset, in one pass."""
    ys, ps = [], []
    for x, y in dataset:
        ps.append(_numpy(model(x, training=False)))
        ys.append(np.asarray(y))
    return np.concatenate(ys), np.concatenate(ps)


def evaluate(
    model: Any, dataset: Any, *, task: str, class_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """The report for ``task`` (classification, binary, regression) on a batched dataset."""
    from zoo.tasks import get_task

    y, p = predict_dataset(model, dataset)
    report = get_task(task).report
    if report == "classification":
        return classification_report(y, p, class_names)
    if report in ("language_model", "seq2seq"):  # teacher-forced, token by token
        return language_model_report(y, p)
    return regression_report(y, p)


def language_model_report(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Perplexity (exp of the mean per-token cross-entropy) and per-token accuracy."""
    y = np.asarray(y_true).reshape(-1).astype(int)
    p = np.asarray(proba, dtype="float64").reshape(len(y), -1)
    ce = -np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))
    return {
        "perplexity": float(np.exp(ce.mean())),
        "cross_entropy": float(ce.mean()),
        "token_accuracy": float(np.mean(p.argmax(-1) == y)),
    }


def plot_confusion_matrix(report: dict[str, Any], path: Path, title: str = "") -> None:
    """The report's confusion matrix as a PNG (scikit-learn's ConfusionMatrixDisplay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(report["confusion_matrix"])
    names = report["class_names"]
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(cm, display_labels=names).plot(
        ax=ax,
        cmap="Blues",
        colorbar=False,
        include_values=len(names) <= 20,
        xticks_rotation="vertical" if len(names) > 10 else "horizontal",
    )
    ax.set_title(title or f"accuracy {report['accuracy']:.3f}")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)


def evaluate_model(
    model_or_name: str | os.PathLike,
    dataset: str | None = None,
    *,
    batch_size: int = 256,
    trusted: bool = False,
) -> dict[str, Any]:
    """Evaluate a trained model (a registered name or a ``.keras`` file) on a dataset's test split.

    Merges the report into ``metrics.json`` beside the model (under
    ``evaluations[dataset]``) and writes ``confusion_matrix_<dataset>.png``.
    """
    import json

    import zoo
    from zoo.checks import int_in_range
    from zoo.errors import InvalidArgumentError
    from zoo.loading import load_trained
    from zoo.staging import write_atomic

    int_in_range("batch_size", batch_size, 1)
    model, report, path = load_trained(model_or_name, trusted=trusted)
    metrics_path = path.with_name("metrics.json")
    dataset = dataset or (report.get("dataset") or {}).get("name")
    if dataset is None:
        raise InvalidArgumentError(f"Which data? Pass --dataset: {path} has no training report.")
    name = report.get("model") or model.name
    entry = zoo.get_entry(name) if name in zoo.list_models() else None
    if entry is not None:
        task, raw_pixels = entry.task, entry.raw_pixels
    else:  # a model the zoo did not build: read the task off its output
        last = model.output_shape[-1]
        task, raw_pixels = ("classification" if last and last > 1 else "regression"), False
    vectorizer = None
    from recipes.text import FILENAME, load_vectorizer

    if hasattr(model, "tokenize"):
        vectorizer = model.tokenize
    elif path.with_name(FILENAME).is_file():
        vectorizer = load_vectorizer(path.with_name(FILENAME))
    raw = zoo.data.load_raw(dataset)
    splits = zoo.data.pipeline(
        raw,
        batch_size=batch_size,
        input_shape=model.input_shape[1:],
        rescale=not raw_pixels,
        vectorize=vectorizer,
    )
    evaluation = evaluate(model, splits.test, task=task, class_names=splits.info.class_names)
    report.setdefault("evaluations", {})[dataset] = evaluation
    files = {"metrics": metrics_path}
    if "confusion_matrix" in evaluation:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(dataset).name)
        files["confusion"] = path.with_name(f"confusion_matrix_{safe}.png")
        write_atomic(
            files["confusion"],
            lambda p: plot_confusion_matrix(evaluation, p, f"{name} on {dataset}"),
        )
    write_atomic(metrics_path, lambda p: p.write_text(json.dumps(report, indent=2)))
    return {"evaluation": evaluation, "files": files}


def predict(
    model_or_name: str | os.PathLike, inputs: Any, *, trusted: bool = False
) -> dict[str, Any]:
    """Predictions of a trained model; raw strings work for text models (vocabulary beside).

    Returns ``{"probabilities": array, "labels": [...] or None, "predicted": [...]}``;
    sequence-to-sequence models add ``"translations"`` (greedy decoding) instead.
    """
    from recipes.text import FILENAME, load_vectorizer
    from zoo.errors import InvalidArgumentError
    from zoo.loading import load_trained

    model, report, path = load_trained(model_or_name, trusted=trusted)
    if hasattr(model, "translate"):  # sequence to sequence: decoded text out
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        return {"translations": model.translate(texts), "probabilities": None, "labels": None,
                "predicted": None}  # fmt: skip
    x = inputs
    is_text = isinstance(inputs, str) or (
        isinstance(inputs, (list, tuple)) and inputs and isinstance(inputs[0], str)
    )
    if is_text and hasattr(model, "tokenize"):  # BERT: its tokenizer is inside
        x = np.asarray(model.tokenize(np.asarray([inputs] if isinstance(inputs, str) else inputs)))
    elif is_text:
        vocab = path.with_name(FILENAME)
        if not vocab.is_file():
            raise InvalidArgumentError(
                f"{path} has no {FILENAME} beside it, so it cannot read raw text; "
                "give token ids, or train a text model with zoo train."
            )
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        x = np.asarray(load_vectorizer(vocab)(np.asarray(texts, dtype=object)))
    proba = np.asarray(model.predict(np.asarray(x), verbose=0))
    labels = (report.get("dataset") or {}).get("class_names")
    predicted = None
    if proba.ndim == 2 and proba.shape[-1] > 1:
        idx = proba.argmax(-1)
        predicted = [labels[i] if labels else int(i) for i in idx]
    return {"probabilities": proba, "labels": labels, "predicted": predicted}


def translation_report(model: Any, test: Any, limit: int = 500, beams: int = 100,
                       width: int = 3) -> dict[str, Any]:  # fmt: skip
    """Exact match and character BLEU of decoded test targets: greedy on up to ``limit``
    pairs, beam search (``width`` beams) on the first ``beams``."""
    from zoo.text import decode

    sources, references = [], []
    for x, y in test.take(limit):
        sources.append(decode(np.asarray(x["encoder_ids"])))
        references.append(decode(np.asarray(y)).split("\n")[0])
    if not sources:
        return {}
    greedy = model.translate(sources)
    beam = model.translate(sources[:beams], beam_width=width)
    return {
        "exact_match": float(np.mean([g == r for g, r in zip(greedy, references)])),
        "exact_match_beam": float(np.mean([b == r for b, r in zip(beam, references)])),
        "bleu_char": float(np.mean([bleu(r, g) for r, g in zip(references, greedy)])),
        "decoded": len(sources), "beam_decoded": len(beam), "beam_width": width,
        "examples": [{"source": s, "reference": r, "greedy": g}
                     for s, r, g in list(zip(sources, references, greedy))[:5]],
    }  # fmt: skip


def bleu(reference: Sequence[str], candidate: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU of token sequences (Papineni et al.), add-one smoothing for n > 1.

    For generated text against a held-out reference continuation; characters or
    words may be the tokens. Kept instead of ``keras_hub.metrics.Bleu``, which
    smooths unigrams too and tokenizes with TensorFlow string ops: this one scores
    characters of plain Python strings.
    """
    import math
    from collections import Counter

    ref, cand = list(reference), list(candidate)
    if not cand:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        c_ngrams = Counter(tuple(cand[i : i + n]) for i in range(len(cand) - n + 1))
        r_ngrams = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
        overlap = sum(min(c, r_ngrams[g]) for g, c in c_ngrams.items())
        total = max(len(cand) - n + 1, 0)
        if n == 1 and overlap == 0:
            return 0.0
        smooth = 0 if n == 1 else 1
        log_p += math.log((overlap + smooth) / (total + smooth)) / max_n if total else 0.0
    brevity = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return float(brevity * math.exp(log_p))


def _numpy(tensor: Any) -> np.ndarray:
    """A model's output as numpy on any backend (torch's carry gradients, which
    ``np.asarray`` refuses)."""
    import keras

    return keras.ops.convert_to_numpy(tensor)
