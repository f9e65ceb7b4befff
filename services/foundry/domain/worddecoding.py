"""Token logits → word labels → entities: the one decoding that serving and evaluation share.

The inference service's `Predict` and the training evaluation (the model version's headline
metrics) both call these functions on their logits, so a model version's scores are those of
what the service returns:

1. `softmax` over each token's logits;
2. `aggregate`: each word's class probabilities from its sub-tokens (`Aggregation`): the first
   sub-token (what training labels, and the default of `Predict`), the mean of the sub-tokens'
   probabilities, or the sub-token with the highest top probability;
3. each word takes its most probable label; a word without any token has none;
4. `word_mentions`: BIO decoding with repair (`foundry.domain.tags.mentions`) over the labels of
   the words that have tokens: an `I-X` that does not continue an `X` entity starts one (how
   seqeval's default mode reads it). A word without tokens neither starts nor breaks an entity:
   a mention runs from its first word to its last, over any token-less word between them;
5. `served_tags`: the IOB2 tags that the mentions give every word (what scoring compares with
   the gold tags; a token-less word inside a mention is `I-X`, one outside any is `O`).

Pure numpy; no torch, no tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from foundry.domain.tags import OUTSIDE, mentions

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
#: (first word, end word, entity type): words[first:end], token-less words included
WordMention = tuple[int, int, str]


class Aggregation(StrEnum):
    """How a word's probabilities come from its sub-tokens."""

    FIRST = "first"
    AVERAGE = "average"
    MAX = "max"


#: what `Predict` uses when the request names none (and so what the headline metrics use)
DEFAULT_AGGREGATION = Aggregation.FIRST


def softmax(logits: npt.ArrayLike) -> FloatArray:
    """Softmax over the last axis, in float32."""
    values = np.asarray(logits, np.float32)
    shifted = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    out: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return out


def aggregate(
    probs: FloatArray, word_index: IntArray, aggregation: Aggregation
) -> tuple[IntArray, FloatArray]:
    """(words, their probabilities): `probs[t]` is token t's class probabilities and
    `word_index[t]` its word (-1: a token to ignore, e.g. a special token). `words` is sorted and
    unique; ties in MAX go to the earlier token."""
    keep = np.flatnonzero(np.asarray(word_index) >= 0)
    owners = np.asarray(word_index, np.int64)[keep]
    rows = np.asarray(probs, np.float32)[keep]
    classes = rows.shape[-1] if rows.ndim == 2 else 0
    if not keep.size:
        return np.zeros(0, np.int64), np.zeros((0, classes), np.float32)
    if aggregation is Aggregation.AVERAGE:
        words, inverse, counts = np.unique(owners, return_inverse=True, return_counts=True)
        sums = np.zeros((words.size, classes), np.float32)
        np.add.at(sums, inverse, rows)
        means: FloatArray = (sums / counts[:, None].astype(np.float32)).astype(np.float32)
        return words, means
    if aggregation is Aggregation.FIRST:
        words, first = np.unique(owners, return_index=True)
        return words, rows[first]
    # MAX: per word, the token with the highest top probability (the earliest among equals)
    order = np.lexsort((np.arange(owners.size), -rows.max(axis=1), owners))
    words, first = np.unique(owners[order], return_index=True)
    return words, rows[order[first]]


def word_mentions(best: Sequence[int], has_token: Sequence[bool], labels: Sequence[str]) -> list[WordMention]:
    """The mentions over a sentence's words, from each word's best label id (`best[w]`, read only
    where `has_token[w]`), with BIO repair; token-less words neither start nor break one."""
    words = [word for word, present in enumerate(has_token) if present]
    found = mentions([labels[int(best[word])] for word in words])
    return [(words[first], words[end - 1] + 1, kind) for first, end, kind in found]


def tags_of_mentions(num_words: int, found: Sequence[WordMention]) -> list[str]:
    """IOB2 tags of `num_words` words for non-overlapping word mentions."""
    tags = [OUTSIDE] * num_words
    for first, end, kind in found:
        tags[first] = "B-" + kind
        tags[first + 1 : end] = ["I-" + kind] * (end - first - 1)
    return tags


def served_tags(best: Sequence[int], has_token: Sequence[bool], labels: Sequence[str]) -> list[str]:
    """The IOB2 tags of a sentence's words as served: `tags_of_mentions(word_mentions(...))`."""
    return tags_of_mentions(len(has_token), word_mentions(best, has_token, labels))


__all__ = [
    "DEFAULT_AGGREGATION",
    "Aggregation",
    "WordMention",
    "aggregate",
    "served_tags",
    "softmax",
    "tags_of_mentions",
    "word_mentions",
]
