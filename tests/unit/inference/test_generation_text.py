"""Streaming text: UTF-8-safe incremental detokenization, stop sequences held back, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from foundry.inference.generation.sampling import choose_token, make_rng
from foundry.inference.generation.text import IncrementalDetokenizer, StopMatcher
from foundry.inference.generation.types import SamplingParams
from helpers.training_models import train_bpe_tokenizer

TEXTS = ["hello world, hello there", "北京 is a city 😀 and 🎉 too", "naïve café déjà vu"]


def test_detokenizer_streams_only_whole_characters() -> None:
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=300)
    text = "unseen 北京 😀🎉 café — done"
    ids = tokenizer.encode(text).ids
    assert any("\ufffd" in tokenizer.decode([i]) for i in ids), "some token must split a character"
    prompt = tokenizer.encode("hello").ids
    detok = IncrementalDetokenizer(tokenizer, prompt)
    pieces = [detok.push(i) for i in ids]
    pieces.append(detok.flush())
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    assert "" in pieces  # held while a character was incomplete


def test_detokenizer_flushes_an_incomplete_character_at_the_end() -> None:
    tokenizer = train_bpe_tokenizer(TEXTS, vocab_size=300)
    ids = tokenizer.encode("😀").ids
    assert len(ids) > 1
    detok = IncrementalDetokenizer(tokenizer)
    assert detok.push(ids[0]) == ""
    assert detok.flush() == "\ufffd"


def test_stop_matcher_holds_back_a_possible_stop_and_cuts_at_the_match() -> None:
    matcher = StopMatcher(["</end>", "STOP"])
    assert matcher.push("hello <") == ("hello ", None)
    assert matcher.push("/e") == ("", None)
    assert matcher.push("nx and S") == ("</enx and ", None)
    assert matcher.push("TO") == ("", None)
    assert matcher.push("P! more") == ("", "STOP")


def test_stop_matcher_earliest_match_wins_and_flush_releases_held_text() -> None:
    matcher = StopMatcher(["bc", "abcd"])
    assert matcher.push("xxabcd") == ("xx", "abcd")
    matcher = StopMatcher(["###"])
    assert matcher.push("end ##") == ("end ", None)
    assert matcher.flush() == "##"


def test_greedy_and_top_p_and_seeded_sampling() -> None:
    logits = np.array([0.0, 3.0, 2.9, -1.0], np.float32)
    rng = make_rng(0)
    assert choose_token(logits, SamplingParams(), rng) == 1
    nucleus = SamplingParams(do_sample=True, top_p=0.01)
    assert {choose_token(logits, nucleus, rng) for _ in range(50)} == {1}
    two = SamplingParams(do_sample=True, top_p=0.8)  # tokens 1 and 2 hold ~0.94 of the mass
    assert {choose_token(logits, two, rng) for _ in range(200)} == {1, 2}
    hot = SamplingParams(do_sample=True, temperature=100.0, seed=3)
    first = [choose_token(logits, hot, make_rng(3)) for _ in range(5)]
    draws_a = [choose_token(logits, hot, r) for r in [make_rng(3)] for _ in range(40)]
    draws_b = [choose_token(logits, hot, r) for r in [make_rng(3)] for _ in range(40)]
    assert draws_a == draws_b and set(draws_a) == {0, 1, 2, 3}
    assert len(set(first)) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (SamplingParams(max_new_tokens=0), "config.max_new_tokens"),
        (SamplingParams(temperature=0.0), "config.temperature"),
        (SamplingParams(top_p=1.5), "config.top_p"),
        (SamplingParams(stop=("",)), "config.stop[0]"),
    ],
)
def test_bad_settings_name_their_field(params: SamplingParams, field: str) -> None:
    assert [v.field for v in params.violations(1000)] == [field]
