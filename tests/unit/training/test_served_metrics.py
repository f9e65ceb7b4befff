"""The evaluation decodes logits as `Predict` does (`domain.worddecoding`): sub-word aggregation
equals a plain per-word loop, and BIO repair turns a raw argmax with stray I- tags into the
entities the service returns, scored equal to seqeval on those tags in both modes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from seqeval.metrics import f1_score  # type: ignore[import-untyped]
from seqeval.scheme import IOB2  # type: ignore[import-untyped]

from foundry.domain.worddecoding import Aggregation, aggregate, served_tags, softmax
from foundry.runtime.examples import Task
from foundry.training.data.encoded import EncodedSplit
from foundry.training.entitymetrics import entity_metrics
from foundry.training.servedmetrics import WordPredictions, served_report

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def split() -> EncodedSplit:
    """Two sentences: 3 words (the second in two sub-tokens), 2 words; special tokens around."""
    word_ids = np.array([-1, 0, 1, 1, 2, -1, -1, 0, 1, -1], np.int32)
    return EncodedSplit(
        task=Task.TOKEN_CLASSIFICATION,
        max_length=8,
        input_ids=np.arange(10, dtype=np.int32),
        offsets=np.array([0, 6, 10], np.int64),
        labels=np.full(10, -100, np.int32),
        word_ids=word_ids,
        row_example=np.array([0, 1], np.int32),
        example_ids=("a", "b"),
        word_labels=np.array([1, 2, 0, 3, 0], np.int32),  # B-PER I-PER O | B-LOC O
        word_offsets=np.array([0, 3, 5], np.int64),
        truncated=np.zeros(2, np.int32),
    )


def test_aggregate_equals_a_per_word_loop() -> None:
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(40, 5)))
    words = rng.integers(-1, 9, size=40)
    for aggregation in Aggregation:
        found, got = aggregate(probs, words, aggregation)
        assert found.tolist() == sorted({int(w) for w in words if w >= 0})
        for word, row in zip(found, got, strict=True):
            rows = probs[words == word]
            if aggregation is Aggregation.FIRST:
                expected = rows[0]
            elif aggregation is Aggregation.AVERAGE:
                expected = rows.mean(axis=0)
            else:
                expected = rows[int(rows.max(axis=1).argmax())]
            assert row == pytest.approx(expected, abs=1e-6)


def test_token_less_words_neither_start_nor_break_an_entity() -> None:
    assert served_tags([1, 0, 2, 0], [True, False, True, True], LABELS) == ["B-PER", "I-PER", "I-PER", "O"]
    assert served_tags([2, 2, 0, 4], [True, True, True, True], LABELS) == ["B-PER", "I-PER", "O", "B-LOC"]


def test_stray_inside_tags_are_repaired_and_scored_as_served() -> None:
    data = split()
    logits = np.zeros((2, 6, len(LABELS)), np.float32)  # padded batch of both rows
    raw = {1: 2, 2: 2, 3: 1, 4: 0, 7: 4, 8: 0}  # first sub-tokens: I-PER I-PER O | I-LOC O
    for position, label in raw.items():
        row, column = (0, position) if position < 6 else (1, position - 6)
        logits[row, column, label] = 5.0
    logits[0, 3, 1] = 9.0  # the word's second sub-token says B-PER: FIRST ignores it
    words = WordPredictions(data)
    words.record(np.array([0, 1]), logits)
    report = served_report(data, words.packed, LABELS)
    gold = [["B-PER", "I-PER", "O"], ["B-LOC", "O"]]
    raw_tags = [["I-PER", "I-PER", "O"], ["I-LOC", "O"]]
    served = [["B-PER", "I-PER", "O"], ["B-LOC", "O"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert report["eval_f1"] == f1_score(gold, served) == 1.0
        assert report["eval_f1_strict"] == f1_score(gold, served, mode="strict", scheme=IOB2) == 1.0
    assert entity_metrics(gold, raw_tags).f1 == 0.0  # what scoring the raw argmax strictly said
    assert report["decoding"] == {"aggregation": "first", "bio_repair": True, "as_served": True}
    assert report["per_type"]["PER"]["support"] == 1
