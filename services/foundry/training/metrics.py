"""Evaluation metrics: classification and multi-label scores, the arithmetic they share with the
entity-level NER scores (`entitymetrics`), and the metric keys of every task.

Classification scores follow scikit-learn's defaults (`zero_division=0`): single-label macro
averages over the classes present in the true or predicted labels, multi-label macro over every
class. Per-class precision, recall and F1 are computed as seqeval and scikit-learn compute them
(0 for an empty denominator, F1 as `2 * p * r / (p + r)`). Every result has `to_dict()` with
stable keys (`eval_f1`, `eval_macro_f1`, `eval_accuracy`, ...; scores are fractions in [0, 1]),
and `METRIC_KEYS` lists, per task, the keys an evaluation can report (what a job's objective may
name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Task

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_ENTITY_SCORES = (
    "eval_f1",
    "eval_precision",
    "eval_recall",
    "eval_macro_f1",
    "eval_macro_precision",
    "eval_macro_recall",
)
#: the keys an evaluation reports, per task (token classification: `eval_f1` and the other
#: unsuffixed entity scores are seqeval's default mode on the served decoding, the headline;
#: `_default` / `_strict` name each mode) ("eval_loss" comes from the training loop)
METRIC_KEYS: Mapping[Task, frozenset[str]] = {
    Task.TOKEN_CLASSIFICATION: frozenset(
        {
            "eval_loss",
            *_ENTITY_SCORES,
            "eval_token_accuracy",
            *(f"{key}_{mode}" for key in _ENTITY_SCORES for mode in ("default", "strict")),
        }
    ),
    Task.TEXT_CLASSIFICATION: frozenset(
        {
            "eval_loss",
            "eval_accuracy",
            "eval_micro_f1",
            "eval_macro_f1",
            "eval_macro_precision",
            "eval_macro_recall",
        }
    ),
    Task.MULTILABEL_CLASSIFICATION: frozenset(
        {
            "eval_loss",
            "eval_subset_accuracy",
            "eval_micro_f1",
            "eval_micro_precision",
            "eval_micro_recall",
            "eval_macro_f1",
            "eval_macro_precision",
            "eval_macro_recall",
        }
    ),
    Task.CHAT: frozenset({"eval_loss", "eval_perplexity", "eval_exact_match"}),
}


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision, recall and F1 (fractions) of one entity type or class, and its true count."""

    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "support": self.support}


# --- shared arithmetic, written as seqeval and scikit-learn write it ----------------------------------


def _divide(numerator: IntArray, denominator: IntArray) -> FloatArray:
    """`numerator / denominator`, 0 where the denominator is 0 (seqeval's `_prf_divide`)."""
    mask = denominator == 0
    safe = denominator.copy()
    safe[mask] = 1
    result: FloatArray = numerator / safe
    result[mask] = 0.0
    return result


def prf_scores(tp: IntArray, pred: IntArray, true: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class precision, recall and F1 from the counts (F1 as seqeval computes F-beta, beta 1)."""
    precision = _divide(tp, pred)
    recall = _divide(tp, true)
    denom = 1.0 * precision + recall
    denom[denom == 0.0] = 1
    f1: FloatArray = (1 + 1.0) * precision * recall / denom
    return precision, recall, f1


def micro_scores(tp: IntArray, pred: IntArray, true: IntArray) -> tuple[float, float, float]:
    """Micro precision, recall and F1: from the counts summed over the classes."""
    p, r, f = prf_scores(np.array([tp.sum()]), np.array([pred.sum()]), np.array([true.sum()]))
    return float(p[0]), float(r[0]), float(f[0])


def mean_or_zero(values: FloatArray) -> float:
    """The macro average; 0 over no classes."""
    return float(np.average(values)) if values.size else 0.0


def per_class_scores(
    names: Sequence[str], p: FloatArray, r: FloatArray, f: FloatArray, support: IntArray
) -> dict[str, Scores]:
    """`Scores` per name, from the per-class arrays in the same order."""
    return {
        name: Scores(float(p[i]), float(r[i]), float(f[i]), int(support[i])) for i, name in enumerate(names)
    }


# --- single-label classification ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassificationMetrics:
    """Single-label scores; `confusion[i][j]` counts true class `labels[i]` predicted `labels[j]`."""

    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: dict[str, Scores]
    labels: tuple[str, ...]
    confusion: list[list[int]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "eval_accuracy": self.accuracy,
            "eval_micro_f1": self.accuracy,
            "eval_macro_precision": self.macro_precision,
            "eval_macro_recall": self.macro_recall,
            "eval_macro_f1": self.macro_f1,
            "per_class": {name: scores.to_dict() for name, scores in self.per_class.items()},
            "confusion_matrix": {"labels": list(self.labels), "matrix": self.confusion},
        }


def _class_ids(values: npt.ArrayLike, num_classes: int, name: str) -> IntArray:
    ids = np.asarray(values, np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
        raise InvalidArgumentError(
            f"{name} holds class ids outside [0, {num_classes})", reason="INVALID_CLASS_ID"
        )
    return ids


def classification_metrics(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: Sequence[str]
) -> ClassificationMetrics:
    """Scores of class ids (indices into `labels`); macro over the classes that occur."""
    k = len(labels)
    true, pred = _class_ids(y_true, k, "y_true"), _class_ids(y_pred, k, "y_pred")
    if true.size != pred.size:
        raise InvalidArgumentError("y_true and y_pred differ in length", reason="INCONSISTENT_LENGTHS")
    confusion = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    tp, true_sum, pred_sum = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    p, r, f = prf_scores(tp, pred_sum, true_sum)
    present = (true_sum + pred_sum) > 0
    return ClassificationMetrics(
        accuracy=int(tp.sum()) / true.size if true.size else 0.0,
        macro_precision=mean_or_zero(p[present]),
        macro_recall=mean_or_zero(r[present]),
        macro_f1=mean_or_zero(f[present]),
        per_class=per_class_scores(labels, p, r, f, true_sum),
        labels=tuple(labels),
        confusion=confusion.tolist(),
    )


# --- multi-label classification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MultiLabelMetrics:
    """Multi-label scores at a decision threshold; macro over every class."""

    threshold: float
    subset_accuracy: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: dict[str, Scores]

    def to_dict(self) -> dict[str, Any]:
        return {
            "eval_subset_accuracy": self.subset_accuracy,
            "eval_micro_precision": self.micro_precision,
            "eval_micro_recall": self.micro_recall,
            "eval_micro_f1": self.micro_f1,
            "eval_macro_precision": self.macro_precision,
            "eval_macro_recall": self.macro_recall,
            "eval_macro_f1": self.macro_f1,
            "threshold": self.threshold,
            "per_class": {name: scores.to_dict() for name, scores in self.per_class.items()},
        }


def multilabel_metrics(
    y_true: npt.ArrayLike, scores: npt.ArrayLike, labels: Sequence[str], *, threshold: float = 0.5
) -> MultiLabelMetrics:
    """Scores of a multi-hot truth `(n, classes)` against probabilities `(n, classes)`; a class
    is predicted where its probability is at least `threshold`."""
    truth = np.asarray(y_true) > 0.5
    predicted = np.asarray(scores, np.float64) >= threshold
    if truth.shape != predicted.shape or truth.ndim != 2 or truth.shape[1] != len(labels):
        raise InvalidArgumentError(
            f"y_true {truth.shape} and scores {predicted.shape} must both be (n, {len(labels)})",
            reason="INCONSISTENT_LENGTHS",
        )
    tp = np.count_nonzero(truth & predicted, axis=0).astype(np.int64)
    true_sum = np.count_nonzero(truth, axis=0).astype(np.int64)
    pred_sum = np.count_nonzero(predicted, axis=0).astype(np.int64)
    p, r, f = prf_scores(tp, pred_sum, true_sum)
    micro = micro_scores(tp, pred_sum, true_sum)
    exact = int(np.count_nonzero(np.all(truth == predicted, axis=1)))
    return MultiLabelMetrics(
        threshold=threshold,
        subset_accuracy=exact / truth.shape[0] if truth.shape[0] else 0.0,
        micro_precision=micro[0],
        micro_recall=micro[1],
        micro_f1=micro[2],
        macro_precision=mean_or_zero(p),
        macro_recall=mean_or_zero(r),
        macro_f1=mean_or_zero(f),
        per_class=per_class_scores(labels, p, r, f, true_sum),
    )
