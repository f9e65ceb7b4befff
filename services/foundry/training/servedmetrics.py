"""Entity scores of what the inference service serves, from the evaluation's logits.

The evaluation decodes token logits exactly as `Predict` does (`foundry.domain.worddecoding`:
softmax, the default sub-word aggregation, the word's most probable label, BIO repair, mentions
over the words that have tokens) and scores the served tags against the gold tags in seqeval's
default and strict modes (`entitymetrics.entity_report`). So a model version's headline F1 is
the F1 of its `Predict` responses on the same words.

`WordPredictions` collects, batch by batch, each word's best label id (`packed`: label id + 1,
0 for a word that produced no token), one int64 per word of the split; each word lives in one
row, so the arrays of several ranks add up (one all-reduce sum) to the whole split's.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.domain.worddecoding import DEFAULT_AGGREGATION, Aggregation, aggregate, served_tags, softmax
from foundry.training.data.encoded import EncodedSplit
from foundry.training.entitymetrics import entity_report

Int64 = npt.NDArray[np.int64]


def token_words(split: EncodedSplit) -> Int64:
    """Per token of `split` (aligned with `input_ids`), the index of its word in `word_labels`
    (-1 for special tokens)."""
    rows = np.repeat(np.arange(split.num_rows), split.lengths)
    words = split.word_offsets[split.row_example[rows]] + split.word_ids
    out: Int64 = np.where(split.word_ids >= 0, words, -1).astype(np.int64)
    return out


class WordPredictions:
    """Each word's served label id, filled batch by batch from the model's logits."""

    def __init__(self, split: EncodedSplit, aggregation: Aggregation = DEFAULT_AGGREGATION) -> None:
        self.split = split
        self.aggregation = aggregation
        self.words = token_words(split)
        #: per word: best label id + 1; 0: the word produced no token
        self.packed: Int64 = np.zeros(split.word_labels.size, np.int64)

    def record(self, rows: npt.ArrayLike, logits: npt.ArrayLike) -> None:
        """Decode the padded `(batch, length, classes)` logits of `rows`."""
        values = np.asarray(logits, np.float32)
        positions, lengths = self.split.token_positions(rows)
        flat = values[np.arange(values.shape[1])[None, :] < lengths[:, None]]
        found, probs = aggregate(softmax(flat), self.words[positions], self.aggregation)
        self.packed[found] = probs.argmax(axis=1) + 1


def served_report(
    split: EncodedSplit,
    packed: npt.ArrayLike,
    labels: Sequence[str],
    aggregation: Aggregation = DEFAULT_AGGREGATION,
) -> dict[str, Any]:
    """`entity_report` of the served tags (from `WordPredictions.packed`, summed over ranks)
    against the gold word labels, with `decoding` saying how predictions were decoded."""
    values = np.asarray(packed, np.int64)
    vocabulary = list(labels)
    index = {tag: i for i, tag in enumerate(vocabulary)}
    predicted = np.zeros(values.size, np.int64)
    bounds = split.word_offsets.tolist()
    for first, end in pairwise(bounds):
        sentence = values[first:end]
        tags = served_tags((sentence - 1).tolist(), (sentence > 0).tolist(), vocabulary)
        for offset, tag in enumerate(tags):
            code = index.get(tag)
            if code is None:  # a repaired B-X of a label set that names only I-X
                code = index[tag] = len(vocabulary)
                vocabulary.append(tag)
            predicted[first + offset] = code
    report = entity_report(split.word_labels, predicted, split.word_offsets, vocabulary)
    report["decoding"] = {"aggregation": aggregation.value, "bio_repair": True, "as_served": True}
    return report


__all__ = ["WordPredictions", "served_report", "token_words"]
