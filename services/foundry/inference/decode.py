"""Logits → entities or labels.

Token classification decodes with `foundry.domain.worddecoding` (the decoding that the training
evaluation scores, so a model version's headline metrics are those of what `Predict` returns):
each word's class probabilities come from its sub-tokens in the window that owns the word
(`Aggregation`: the first sub-token, as training labels it; the mean of the sub-tokens'
probabilities; or the sub-token with the highest top probability). Words take their most probable
label; BIO decoding then repairs what a model may emit: an `I-X` that does not continue an `X`
entity starts one (as seqeval's default mode reads it). An entity's score is the mean over its
words (those with tokens) of the chosen label's probability; its offsets are the first word's
start and the last word's end, code points into the caller's text.

Classification: softmax over the classes (sigmoid for multi-label), averaged over the windows of
a long text; the top k by descending score; multi-label: the labels at or above the threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foundry.domain.worddecoding import Aggregation, aggregate, softmax, word_mentions
from foundry.inference.tokenize import Encoded

FloatArray = npt.NDArray[np.float32]


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


def sigmoid(logits: FloatArray) -> FloatArray:
    out: FloatArray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return out


def word_probabilities(
    encoded: Encoded, logits: Sequence[FloatArray], aggregation: Aggregation
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Per word, its class probabilities (`worddecoding.aggregate` over the sub-tokens of the
    window that owns it) and whether it has any token; `logits[i]` is window i's `[tokens,
    classes]` logits."""
    classes = logits[0].shape[-1] if logits else 0
    probs = np.zeros((len(encoded.word_spans), classes), np.float32)
    has_token = np.zeros(len(encoded.word_spans), np.bool_)
    for index, window in enumerate(encoded.windows):
        words = window.word_ids
        owned = np.where((words >= 0) & (encoded.owner[np.maximum(words, 0)] == index), words, -1)
        found, word_probs = aggregate(softmax(logits[index]), owned, aggregation)
        probs[found] = word_probs
        has_token[found] = True
    return probs, has_token


def entities(
    encoded: Encoded, probs: FloatArray, has_token: npt.NDArray[np.bool_], labels: Sequence[str]
) -> tuple[EntitySpan, ...]:
    """The entities of `worddecoding.word_mentions` over the words' most probable labels, with
    their offsets and scores."""
    best = probs.argmax(axis=1) if probs.size else np.zeros(len(has_token), np.int64)
    found: list[EntitySpan] = []
    for first, end, kind in word_mentions(best.tolist(), has_token.tolist(), labels):
        chosen = [word for word in range(first, end) if has_token[word]]
        start, stop = encoded.word_spans[first][0], encoded.word_spans[end - 1][1]
        scores = [float(probs[word, best[word]]) for word in chosen]
        found.append(
            EntitySpan(kind, start, stop, encoded.text[start:stop], float(np.mean(scores)), first, end)
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
