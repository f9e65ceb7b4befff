"""Token-level operators over the WHOLE WNUT-17 train split: tags stay valid IOB2, entity
mentions keep their types, the same generator gives the same output."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from foundry.augmentation.operators import TOKEN_OPERATORS, Operator, OperatorContext
from foundry.augmentation.synonyms import Lexicon, wordnet_lexicon
from foundry.domain.tags import is_valid_iob2, segments
from foundry.runtime.examples import Example, Split
from helpers.augmentation import wnut

CONTEXT = OperatorContext(synonyms=lambda params: wordnet_lexicon())


def run(op: Operator[Any], examples: tuple[Example, ...], seed: int = 0) -> list[Example]:
    op.prepare(examples)
    rng = np.random.default_rng(seed)
    out: list[Example] = []
    for start in range(0, len(examples), 512):
        out += op.apply(examples[start : start + 512], rng)
    return out


def entity_types(example: Example) -> Counter[str]:
    return Counter(t for _, _, t in segments(example.tags or []) if t)


@pytest.mark.parametrize("cls", TOKEN_OPERATORS, ids=lambda c: c.name)
@pytest.mark.parametrize("rate", [0.3, 1.0])
def test_tags_stay_valid_over_all_of_wnut17_train(cls: type[Operator[Any]], rate: float) -> None:
    examples = wnut(Split.TRAIN)
    assert len(examples) == 3394
    params = {} if cls.name == "context_swap" else {"rate": rate}
    op = cls(cls.params_type.model_validate(params), CONTEXT)
    out = run(op, examples)
    assert len(out) == len(examples)
    changed = [(a, b) for a, b in zip(examples, out, strict=True) if a is not b]
    assert len(changed) > 300, f"{cls.name} changed only {len(changed)} examples"
    assert op.report.changed == len(changed) and op.report.applied == len(examples)
    for before, after in changed:
        assert after.tokens is not None and after.tags is not None
        assert len(after.tokens) == len(after.tags)
        assert is_valid_iob2(after.tags), (cls.name, after.tokens, after.tags)
        assert all(t and " " not in t for t in after.tokens)
        assert after.tokens != before.tokens
        assert entity_types(after) == entity_types(before)  # every operator keeps the mentions' types


@pytest.mark.parametrize("cls", TOKEN_OPERATORS, ids=lambda c: c.name)
def test_same_seed_same_output_other_seed_other_output(cls: type[Operator[Any]]) -> None:
    examples = wnut(Split.TRAIN)[:600]
    make = lambda: cls(cls.params_type.model_validate({}), CONTEXT)  # noqa: E731
    first, again, other = run(make(), examples, 1), run(make(), examples, 1), run(make(), examples, 2)
    assert [e.tokens for e in first] == [e.tokens for e in again]
    assert [e.tokens for e in first] != [e.tokens for e in other]


def example(tokens: str, tags: str) -> Example:
    return Example(id="x", split=Split.TRAIN, tokens=tokens.split(), tags=tags.split())


def test_mention_replacement_rederives_tags_when_lengths_change() -> None:
    a = example("I met Ann in Paris", "O O B-PER O B-LOC")
    b = example("we saw Mary Jane Watson at New York City", "O O B-PER I-PER I-PER O B-LOC I-LOC I-LOC")
    op = TOKEN_OPERATORS[0](TOKEN_OPERATORS[0].params_type.model_validate({"rate": 1.0}), CONTEXT)
    op.prepare([a, b])
    seen = set()
    for seed in range(30):
        (out,) = op.apply([a], np.random.default_rng(seed))
        seen.add((" ".join(out.tokens or []), " ".join(out.tags or [])))
    assert ("I met Mary Jane Watson in New York City", "O O B-PER I-PER I-PER O B-LOC I-LOC I-LOC") in seen


def test_context_swap_puts_mentions_into_another_context() -> None:
    a = example("I met Ann in Paris", "O O B-PER O B-LOC")
    b = example("yesterday Bob flew to Rome again", "O B-PER O O B-LOC O")
    op = TOKEN_OPERATORS[4](TOKEN_OPERATORS[4].params_type.model_validate({}), CONTEXT)
    op.prepare([a, b])
    outs = {" ".join(op.apply([a], np.random.default_rng(s))[0].tokens or []) for s in range(20)}
    assert "yesterday Ann flew to Paris again" in outs


def test_synonym_replacement_touches_only_o_tokens_and_splits_multiword_synonyms() -> None:
    lexicon = Lexicon({"car": ["motor vehicle"], "ann": ["anna"]})
    cls = TOKEN_OPERATORS[2]
    op = cls(cls.params_type.model_validate({"rate": 1.0}), OperatorContext(synonyms=lambda p: lexicon))
    (out,) = op.apply([example("Ann drove the car", "B-PER O O O")], np.random.default_rng(0))
    assert out.tokens == ["Ann", "drove", "the", "motor", "vehicle"]
    assert out.tags == ["B-PER", "O", "O", "O", "O"]
