"""EDA operators on classification texts, and the synonym sources."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from foundry.augmentation.engine import Augmenter
from foundry.augmentation.operators import OPERATORS, Operator, OperatorContext
from foundry.augmentation.operators.eda import EDA_OPERATORS
from foundry.augmentation.recipe import OperatorStep, Recipe
from foundry.augmentation.synonyms import EmbeddingNeighbours, Lexicon, parse_wordnet_data, wordnet_lexicon
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example, Split, Task

CONTEXT = OperatorContext(synonyms=lambda params: wordnet_lexicon())
TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "I am very happy with this good car",
    "this movie was a terrible waste of time",
    "the service at the restaurant was slow but friendly",
]


def examples() -> list[Example]:
    return [
        Example(id=f"t{i}", split=Split.TRAIN, text=t, label="pos" if i % 2 else "neg")
        for i, t in enumerate(TEXTS)
    ]


def op(name: str, **params: Any) -> Operator[Any]:
    cls = OPERATORS[name]
    return cls(cls.params_type.model_validate(params), CONTEXT)


@pytest.mark.parametrize("cls", EDA_OPERATORS, ids=lambda c: c.name)
def test_eda_changes_text_keeps_label_and_is_seeded(cls: type[Operator[Any]]) -> None:
    params = {"p": 0.3} if cls.name == "eda_random_deletion" else {"alpha": 0.3}
    make = lambda: cls(cls.params_type.model_validate(params), CONTEXT)  # noqa: E731
    first = make().apply(examples(), np.random.default_rng(0))
    again = make().apply(examples(), np.random.default_rng(0))
    assert [e.text for e in first] == [e.text for e in again]
    assert sum(a.text != b.text for a, b in zip(examples(), first, strict=True)) >= 3
    assert [e.label for e in first] == [e.label for e in examples()]


def test_eda_word_counts() -> None:
    source = examples()
    inserted = op("eda_random_insertion", alpha=0.25).apply(source, np.random.default_rng(1))
    assert all(
        len((b.text or "").split()) > len((a.text or "").split())
        for a, b in zip(source, inserted, strict=True)
    )
    swapped = op("eda_random_swap", alpha=0.3).apply(source, np.random.default_rng(1))
    assert all(
        sorted((a.text or "").split()) == sorted((b.text or "").split())
        for a, b in zip(source, swapped, strict=True)
    )
    deleted = op("eda_random_deletion", p=0.5).apply(source, np.random.default_rng(1))
    assert all(
        0 < len((b.text or "").split()) <= len((a.text or "").split())
        for a, b in zip(source, deleted, strict=True)
    )


def test_eda_recipe_on_classification() -> None:
    recipe = Recipe(
        operators=(
            OperatorStep("eda_synonym_replacement", {"alpha": 0.2}),
            OperatorStep("eda_random_swap", {}, 0.5),
        ),
        multiplier=3,
    )
    result = Augmenter(recipe, recipe.build(Task.TEXT_CLASSIFICATION, CONTEXT)).run(examples())
    assert len(result.created) >= 8
    assert all(
        e.label == {x.id: x.label for x in examples()}[e.provenance.parent_ids[0]] for e in result.created
    )


def test_wordnet_ships_offline_english_synonyms() -> None:
    table = wordnet_lexicon().lookup(["car", "happy", "zzzz"])
    assert "automobile" in table["car"] and "glad" in table["happy"] and "zzzz" not in table


def test_wordnet_data_lines_parse() -> None:
    table: dict[str, dict[str, None]] = {}
    parse_wordnet_data(
        [
            "  1 licence header",
            "00001740 00 a 03 able 0 able(a) 1 capable 0 000 | (usually followed by `to')",
        ],
        table,
    )
    assert list(table["able"]) == ["capable"] and list(table["capable"]) == ["able"]


def test_lexicon_from_json_and_bad_json() -> None:
    lexicon = Lexicon.from_json(b'{"Big": ["large", "big"], "x": []}')
    assert lexicon.lookup(["big", "x"]) == {"big": ["large"]}
    with pytest.raises(InvalidArgumentError, match="lexicon"):
        Lexicon.from_json(b'["not", "a", "table"]')


def test_embedding_neighbours_are_the_closest_whole_words() -> None:
    vocab = {"[PAD]": 0, "king": 1, "queen": 2, "apple": 3, "##s": 4, "prince": 5}
    matrix = np.array(
        [[0, 0, 0], [1, 0, 0.1], [0.9, 0.1, 0.2], [0, 1, 0], [1, 0, 0], [0.95, 0, 0.15]], dtype=np.float32
    )
    neighbours = EmbeddingNeighbours(vocab, matrix, top_k=2, min_similarity=0.5)
    found = neighbours.lookup(["king", "apple", "unknown"])
    assert list(found["king"]) == ["prince", "queen"]
    assert "apple" not in found and "unknown" not in found
