"""Logits → entities or labels.

Token classification: each word's class probabilities come from its sub-tokens in the window
that owns the word (`Aggregation`: the first sub-token, as training labels it; the mean of the
sub-tokens' probabilities; or the sub-token with the highest top probability). Words take their
most probable label; BIO decoding (`foundry.domain.tags.mentions`) then repairs what a model may
emit: an `I-X` that does not continue an `X` entity starts one (as seqeval's lenient mode reads it). An entity's score is the
mean over its words of the chosen label's probability; its offsets are the first word's start
and the last word's end, code points into the caller's text.

Classification: softmax over the classes (sigmoid for multi-label), averaged over the windows of
a long text; the top k by descending score; multi-label: the labels at or above the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from foundry.domain.tags import mentions
from foundry.inference.tokenize import Encoded

FloatArray = npt.NDArray[np.float32]


class Aggregation(StrEnum):
    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"


@dataclass(frozen=True, slots=True)
class EntitySpan:
    type: str
    start: int
    end: int
    text: str
    score: float
    token_start: int
    token_end: int


@dataclass(frozen=True, slots=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """One input's prediction (entities for token classification, labels otherwise)."""

    id: str
    windows: int
    entities: tuple[EntitySpan, ...] = ()
    distribution: tuple[LabelScore, ...] = ()
    top_k: tuple[LabelScore, ...] = ()
    labels: tuple[str, ...] = ()


def softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    out: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return out


def sigmoid(logits: FloatArray) -> FloatArray:
    out: FloatArray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return out


def word_probabilities(
    encoded: Encoded, logits: Sequence[FloatArray], aggregation: Aggregation
) -> FloatArray:
    """Per word, its class probabilities (zeros for a word without tokens); `logits[i]` is
    window i's `[tokens, classes]` logits."""
    classes = logits[0].shape[-1] if logits else 0
    probs = np.zeros((len(encoded.word_spans), classes), np.float32)
    for index, window in enumerate(encoded.windows):
        window_probs = softmax(np.asarray(logits[index], np.float32))
        words = window.word_ids
        for word in range(window.first_word, window.end_word):
            if encoded.owner[word] != index:
                continue
            rows = window_probs[words == word]
            if not len(rows):
                continue
            if aggregation is Aggregation.FIRST:
                probs[word] = rows[0]
            elif aggregation is Aggregation.AVERAGE:
                probs[word] = rows.mean(axis=0, dtype=np.float32)
            else:
                probs[word] = rows[int(rows.max(axis=1).argmax())]
    return probs


def entities(encoded: Encoded, probs: FloatArray, labels: Sequence[str]) -> tuple[EntitySpan, ...]:
    """BIO decoding with repair (`foundry.domain.tags.mentions`) over the words' most probable
    labels; a word without tokens neither starts nor breaks an entity."""
    words = [word for word in range(len(encoded.word_spans)) if encoded.owner[word] >= 0]
    best = [int(probs[word].argmax()) for word in words]
    found: list[EntitySpan] = []
    for first, end, kind in mentions([labels[b] for b in best]):
        chosen = words[first:end]
        start, stop = encoded.word_spans[chosen[0]][0], encoded.word_spans[chosen[-1]][1]
        scores = [float(probs[word, b]) for word, b in zip(chosen, best[first:end], strict=True)]
        found.append(
            EntitySpan(
                kind, start, stop, encoded.text[start:stop], float(np.mean(scores)), chosen[0], chosen[-1] + 1
            )
        )
    return tuple(found)


def classification(
    probs_per_window: Sequence[FloatArray],
    labels: Sequence[str],
    top_k: int,
    *,
    multilabel: bool,
    threshold: float,
) -> tuple[tuple[LabelScore, ...], tuple[LabelScore, ...], tuple[str, ...]]:
    """(distribution, top k, multi-label labels) from each window's probabilities."""
    probs = np.mean(np.stack(probs_per_window), axis=0)
    distribution = tuple(LabelScore(label, float(p)) for label, p in zip(labels, probs, strict=True))
    order = np.argsort(-probs, kind="stable")[: max(top_k, 0)]
    top = tuple(distribution[int(i)] for i in order)
    chosen = tuple(labels[i] for i in range(len(labels)) if multilabel and probs[i] >= threshold)
    return distribution, top, chosen


__all__ = [
    "Aggregation",
    "EntitySpan",
    "LabelScore",
    "Prediction",
    "classification",
    "entities",
    "sigmoid",
    "softmax",
    "word_probabilities",
]
