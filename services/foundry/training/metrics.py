"""Evaluation metrics: entity-level NER scores (strict IOB2), classification and multi-label.

Entity scores equal `seqeval`'s `classification_report` / `f1_score` with `mode="strict",
scheme=IOB2` on the same input, bit for bit: an entity is a `B-X` followed by the longest run
of `I-X` (same type), ends anywhere else, and a stray `I-X` starts nothing; a predicted entity
counts only if its type, start and end all match a true one. The scores are computed as seqeval
computes them (per-type precision and recall with 0 for an empty denominator, F1 as
`2 * p * r / (p + r)`, macro as the plain mean over the types that occur in either side, micro
from the summed counts). Tags must start with `B`, `I` or `O` (seqeval raises for others; so do
we). One deliberate difference: with no entity at all on either side the macro scores are 0
here, where seqeval's mean over no types gives NaN.

The implementation works on integer arrays over all sentences at once (a few ms for 10k
sentences): tags become (prefix, type) codes, an entity is a `B` plus the run of continuation
positions after it, found with one `searchsorted`, and true and predicted entities are matched
as packed int64 keys with `np.intersect1d`.

Classification scores follow scikit-learn's defaults (`zero_division=0`): single-label macro
averages over the classes present in the true or predicted labels, multi-label macro over every
class. Every result has `to_dict()` with stable keys (`eval_f1`, `eval_macro_f1`,
`eval_accuracy`, ...; scores are fractions in [0, 1]), and `METRIC_KEYS` lists, per task, the
keys an evaluation can report (what a job's objective may name).
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

#: the keys an evaluation reports, per task ("eval_loss" comes from the training loop)
METRIC_KEYS: Mapping[Task, frozenset[str]] = {
    Task.TOKEN_CLASSIFICATION: frozenset(
        {
            "eval_loss",
            "eval_f1",
            "eval_precision",
            "eval_recall",
            "eval_macro_f1",
            "eval_macro_precision",
            "eval_macro_recall",
            "eval_token_accuracy",
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

_O, _B, _I = 0, 1, 2
_PREFIXES = {"O": _O, "B": _B, "I": _I}


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


def _prf(tp: IntArray, pred: IntArray, true: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-class precision, recall and F1 from the counts (F1 as seqeval computes F-beta, beta 1)."""
    precision = _divide(tp, pred)
    recall = _divide(tp, true)
    denom = 1.0 * precision + recall
    denom[denom == 0.0] = 1
    f1: FloatArray = (1 + 1.0) * precision * recall / denom
    return precision, recall, f1


def _micro(tp: IntArray, pred: IntArray, true: IntArray) -> tuple[float, float, float]:
    p, r, f = _prf(np.array([tp.sum()]), np.array([pred.sum()]), np.array([true.sum()]))
    return float(p[0]), float(r[0]), float(f[0])


def _mean(values: FloatArray) -> float:
    return float(np.average(values)) if values.size else 0.0


def _per_class(
    names: Sequence[str], p: FloatArray, r: FloatArray, f: FloatArray, support: IntArray
) -> dict[str, Scores]:
    return {
        name: Scores(float(p[i]), float(r[i]), float(f[i]), int(support[i])) for i, name in enumerate(names)
    }


# --- entities ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntityMetrics:
    """Entity-level scores (strict IOB2) over a set of sentences, plus token accuracy."""

    precision: float
    recall: float
    f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    token_accuracy: float
    #: per entity type, in sorted type order
    per_type: dict[str, Scores]
    num_true_entities: int
    num_pred_entities: int
    num_correct_entities: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "eval_precision": self.precision,
            "eval_recall": self.recall,
            "eval_f1": self.f1,
            "eval_macro_precision": self.macro_precision,
            "eval_macro_recall": self.macro_recall,
            "eval_macro_f1": self.macro_f1,
            "eval_token_accuracy": self.token_accuracy,
            "num_true_entities": self.num_true_entities,
            "num_pred_entities": self.num_pred_entities,
            "num_correct_entities": self.num_correct_entities,
            "per_type": {name: scores.to_dict() for name, scores in self.per_type.items()},
        }


@dataclass(frozen=True, slots=True)
class TagCodes:
    """The (prefix, type) code of each tag of a tag vocabulary; `types` is sorted."""

    prefix: IntArray
    type: IntArray
    types: tuple[str, ...]

    @classmethod
    def of(cls, tags: Sequence[str]) -> TagCodes:
        """Parse tags the way seqeval does: first character the prefix, the rest (stripped of
        '-') the type, '_' when empty. `InvalidArgumentError` unless the prefix is B, I or O."""
        prefixes: list[int] = []
        type_names: list[str] = []
        for tag in tags:
            prefix = _PREFIXES.get(tag[:1])
            if prefix is None:
                raise InvalidArgumentError(
                    f"tag {tag!r} is not IOB2: a tag must be 'O' or start with 'B' or 'I'",
                    reason="INVALID_TAG",
                )
            prefixes.append(prefix)
            type_names.append(tag[1:].strip("-") or "_")
        types = tuple(sorted({name for name, p in zip(type_names, prefixes, strict=True) if p != _O}))
        index = {name: i for i, name in enumerate(types)}
        codes = [index[n] if p != _O else -1 for n, p in zip(type_names, prefixes, strict=True)]
        return cls(np.array(prefixes, np.int64), np.array(codes, np.int64), types)


def _entities(prefix: IntArray, type_: IntArray, starts: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(start, end, type) of every strict-IOB2 entity in flat tag codes; `starts` holds each
    sentence's first position (entities never cross sentences)."""
    n = prefix.size
    continues = np.zeros(n, bool)
    continues[1:] = (prefix[1:] == _I) & (prefix[:-1] != _O) & (type_[1:] == type_[:-1])
    continues[starts[starts < n]] = False
    breaks = np.append(np.flatnonzero(~continues), n)
    begin = np.flatnonzero(prefix == _B)
    end = breaks[np.searchsorted(breaks, begin, side="right")]
    return begin, end, type_[begin]


def _entity_keys(begin: IntArray, end: IntArray, type_: IntArray, n: int, num_types: int) -> IntArray:
    keys: IntArray = (begin * (n + 1) + end) * max(num_types, 1) + type_
    return keys


def entity_metrics_from_codes(
    true_codes: npt.ArrayLike, pred_codes: npt.ArrayLike, offsets: npt.ArrayLike, tags: Sequence[str]
) -> EntityMetrics:
    """Entity metrics for flat tag indices (into `tags`) of all sentences; sentence `i` is
    `[offsets[i], offsets[i + 1])`. Both sides must have the same layout."""
    true_ids = np.asarray(true_codes, np.int64)
    pred_ids = np.asarray(pred_codes, np.int64)
    bounds = np.asarray(offsets, np.int64)
    if true_ids.shape != pred_ids.shape or bounds.size == 0 or bounds[-1] != true_ids.size:
        raise InvalidArgumentError(
            "true and predicted tags have inconsistent lengths", reason="INCONSISTENT_LENGTHS"
        )
    for name, ids in (("true", true_ids), ("predicted", pred_ids)):
        if ids.size and (ids.min() < 0 or ids.max() >= len(tags)):
            raise InvalidArgumentError(
                f"{name} tag indices must be in [0, {len(tags)}) (unlabeled words cannot be scored)",
                reason="INVALID_TAG_INDEX",
            )
    codes = TagCodes.of(tags)
    n, num_types = true_ids.size, len(codes.types)
    starts = bounds[:-1]
    spans = {
        side: _entities(codes.prefix[c], codes.type[c], starts)
        for side, c in (("true", true_ids), ("pred", pred_ids))
    }
    true_keys = _entity_keys(*spans["true"], n, num_types)
    pred_keys = _entity_keys(*spans["pred"], n, num_types)
    correct = np.intersect1d(true_keys, pred_keys) % max(num_types, 1)
    true_sum = np.bincount(spans["true"][2], minlength=num_types)
    pred_sum = np.bincount(spans["pred"][2], minlength=num_types)
    tp_sum = np.bincount(correct, minlength=num_types)
    present = np.flatnonzero((true_sum + pred_sum) > 0)
    tp, pred, true = tp_sum[present], pred_sum[present], true_sum[present]
    p, r, f = _prf(tp, pred, true)
    micro = _micro(tp, pred, true)
    correct_tags = int(np.count_nonzero(true_ids == pred_ids))
    return EntityMetrics(
        precision=micro[0],
        recall=micro[1],
        f1=micro[2],
        macro_precision=_mean(p),
        macro_recall=_mean(r),
        macro_f1=_mean(f),
        token_accuracy=correct_tags / n if n else 0.0,
        per_type=_per_class([codes.types[i] for i in present], p, r, f, true),
        num_true_entities=int(true_sum.sum()),
        num_pred_entities=int(pred_sum.sum()),
        num_correct_entities=int(tp_sum.sum()),
    )


def entity_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> EntityMetrics:
    """Entity metrics for tag strings, one list per sentence (seqeval's input)."""
    if len(y_true) != len(y_pred) or any(len(t) != len(p) for t, p in zip(y_true, y_pred, strict=True)):
        raise InvalidArgumentError(
            "true and predicted tags have inconsistent lengths", reason="INCONSISTENT_LENGTHS"
        )
    vocabulary: dict[str, int] = {}
    lookup = vocabulary.setdefault
    true_codes = [lookup(tag, len(vocabulary)) for sentence in y_true for tag in sentence]
    pred_codes = [lookup(tag, len(vocabulary)) for sentence in y_pred for tag in sentence]
    offsets = np.zeros(len(y_true) + 1, np.int64)
    np.cumsum([len(sentence) for sentence in y_true], out=offsets[1:])
    return entity_metrics_from_codes(
        np.array(true_codes, np.int64), np.array(pred_codes, np.int64), offsets, list(vocabulary)
    )


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
    p, r, f = _prf(tp, pred_sum, true_sum)
    present = (true_sum + pred_sum) > 0
    return ClassificationMetrics(
        accuracy=int(tp.sum()) / true.size if true.size else 0.0,
        macro_precision=_mean(p[present]),
        macro_recall=_mean(r[present]),
        macro_f1=_mean(f[present]),
        per_class=_per_class(labels, p, r, f, true_sum),
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
    p, r, f = _prf(tp, pred_sum, true_sum)
    micro = _micro(tp, pred_sum, true_sum)
    exact = int(np.count_nonzero(np.all(truth == predicted, axis=1)))
    return MultiLabelMetrics(
        threshold=threshold,
        subset_accuracy=exact / truth.shape[0] if truth.shape[0] else 0.0,
        micro_precision=micro[0],
        micro_recall=micro[1],
        micro_f1=micro[2],
        macro_precision=_mean(p),
        macro_recall=_mean(r),
        macro_f1=_mean(f),
        per_class=_per_class(labels, p, r, f, true_sum),
    )
