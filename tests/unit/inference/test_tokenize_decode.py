"""Encoding with offsets and windows, and decoding to entities and labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foundry.inference.decode import Aggregation, classification, entities, word_probabilities
from foundry.inference.tokenize import Encoded, Encoder

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def encoder(folder: Path, max_len: int = 64, stride: int = 4) -> Encoder:
    return Encoder(folder / "tokenizer.json", max_len, stride)


def one_hot_words(encoded: Encoded, word_labels: list[str]) -> np.ndarray:
    probs = np.full((len(word_labels), len(LABELS)), 0.01, np.float32)
    for i, label in enumerate(word_labels):
        probs[i, LABELS.index(label)] = 0.96
    return probs


def test_raw_text_words_carry_code_point_spans_of_the_original_text(tiny_folder: Path) -> None:
    text = "😀 Alice  lives in 北京, NEW York🎉"
    encoded = encoder(tiny_folder).text(text)
    words = [text[s:e] for s, e in encoded.word_spans]
    assert words == ["😀", "Alice", "lives", "in", "北", "京", ",", "NEW", "York🎉"]
    assert len(encoded.windows) == 1 and encoded.owner.tolist() == [0] * len(words)
    window = encoded.windows[0]
    assert window.ids[0] == 2 and window.ids[-1] == 3  # [CLS] ... [SEP]
    labels = ["O", "B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC", "I-LOC"]
    found = entities(encoded, one_hot_words(encoded, labels), np.ones(len(labels), bool), LABELS)
    assert [(e.type, e.text, e.start, e.end, e.token_start, e.token_end) for e in found] == [
        ("PER", "Alice", 2, 7, 1, 2),
        ("LOC", "北京", 18, 20, 4, 6),
        ("LOC", "NEW York🎉", 22, 31, 7, 9),
    ]
    assert all(text[e.start : e.end] == e.text for e in found)
    assert found[0].score == pytest.approx(0.96)


def test_bio_repair_starts_entities_at_stray_inside_tags(tiny_folder: Path) -> None:
    words = ["a", "b", "c", "d", "e", "f"]
    encoded = encoder(tiny_folder).words(words)
    labels = ["I-PER", "I-PER", "I-LOC", "B-LOC", "B-LOC", "O"]
    found = entities(encoded, one_hot_words(encoded, labels), np.ones(len(labels), bool), LABELS)
    assert [(e.type, e.text) for e in found] == [("PER", "a b"), ("LOC", "c"), ("LOC", "d"), ("LOC", "e")]


def test_subword_aggregation_first_average_max(tiny_folder: Path) -> None:
    enc = encoder(tiny_folder)
    encoded = enc.words(["bobo"])  # two sub-tokens: "bob", "##o"
    window = encoded.windows[0]
    assert (window.word_ids == 0).sum() == 2
    logits = np.zeros((len(window.ids), len(LABELS)), np.float32)
    subtokens = np.flatnonzero(window.word_ids == 0)
    logits[subtokens[0], 3] = 2.0  # first sub-token: B-PER, mildly
    logits[subtokens[1], 1] = 6.0  # second: B-LOC, strongly
    first, has_token = word_probabilities(encoded, [logits], Aggregation.FIRST)
    average = word_probabilities(encoded, [logits], Aggregation.AVERAGE)[0]
    best = word_probabilities(encoded, [logits], Aggregation.MAX)[0]
    assert has_token.tolist() == [True]
    assert LABELS[int(first[0].argmax())] == "B-PER"
    assert LABELS[int(best[0].argmax())] == "B-LOC"
    assert average[0] == pytest.approx((first[0] + best[0]) / 2, abs=1e-6)


def test_long_inputs_become_overlapping_windows_covering_every_word(tiny_folder: Path) -> None:
    enc = encoder(tiny_folder, max_len=10, stride=3)  # 8 tokens per window
    words = [f"w{i % 7}" for i in range(40)]  # each word is two or three sub-tokens
    encoded = enc.words(words)
    assert len(encoded.windows) > 5
    for window in encoded.windows:
        assert len(window.ids) <= 10
    covered = {int(w) for window in encoded.windows for w in window.word_ids if w >= 0}
    assert covered == set(range(len(words)))
    assert (encoded.owner >= 0).all()
    for word, owner in enumerate(encoded.owner):  # the owner window holds the word whole
        window = encoded.windows[owner]
        assert window.first_word <= word < window.end_word
    starts = [w.first_word for w in encoded.windows]
    assert starts == sorted(starts) and all(
        a.end_word > b.first_word for a, b in zip(encoded.windows, encoded.windows[1:], strict=False)
    )

    seq = enc.sequence(" ".join(words))
    body = sum(len(w.ids) - 2 for w in seq.windows)
    total = len(enc.tokenizer.encode(" ".join(words), add_special_tokens=False).ids)
    assert len(seq.windows) > 1 and body >= total  # overlapping, nothing left out
    assert seq.windows[-1].ids[-2] == enc.tokenizer.encode(" ".join(words), add_special_tokens=False).ids[-1]


def test_classification_distribution_top_k_and_multilabel() -> None:
    probs = [np.array([0.2, 0.5, 0.3], np.float32), np.array([0.4, 0.3, 0.3], np.float32)]
    distribution, top, chosen = classification(probs, ["a", "b", "c"], 2, multilabel=True, threshold=0.35)
    assert [(s.label, round(s.score, 3)) for s in distribution] == [("a", 0.3), ("b", 0.4), ("c", 0.3)]
    assert [s.label for s in top] == ["b", "a"]
    assert chosen == ("b",)
