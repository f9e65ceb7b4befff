"""Recipes through the engine: determinism, provenance, scope, acceptance, errors."""

from __future__ import annotations

from typing import Any

import pytest

from foundry.augmentation.engine import Augmenter, output_rows
from foundry.augmentation.operators import OperatorContext
from foundry.augmentation.recipe import AcceptanceFilters, OperatorStep, Recipe
from foundry.augmentation.synonyms import wordnet_lexicon
from foundry.domain.tags import is_valid_iob2
from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import Example, Split, Task
from helpers.augmentation import wnut

CONTEXT = OperatorContext(synonyms=lambda params: wordnet_lexicon())
NER_RECIPE = Recipe(
    operators=(
        OperatorStep("mention_replacement", {"rate": 0.5}, 0.7),
        OperatorStep("label_wise_token_replacement", {"rate": 0.1}, 0.5),
        OperatorStep("synonym_replacement", {"rate": 0.2}, 0.5),
        OperatorStep("segment_shuffle", {"rate": 0.3}, 0.3),
    ),
    multiplier=2,
    seed=7,
)


def dataset() -> list[Example]:
    return [*wnut(Split.TRAIN)[:400], *wnut(Split.VALIDATION)[:100], *wnut(Split.TEST)[:100]]


def augment(recipe: Recipe, examples: list[Example]) -> tuple[Any, list[Example]]:
    augmenter = Augmenter(recipe, recipe.build(Task.TOKEN_CLASSIFICATION, CONTEXT))
    result = augmenter.run(examples)
    return result, output_rows(examples, result, recipe.include_originals)


def test_same_recipe_same_output_and_another_seed_differs() -> None:
    examples = dataset()
    first, rows = augment(NER_RECIPE, examples)
    again, rows_again = augment(NER_RECIPE, examples)
    assert [(e.id, e.tokens, e.tags) for e in rows] == [(e.id, e.tokens, e.tags) for e in rows_again]
    strip = lambda reports: [{k: v for k, v in r.items() if k != "wall_time_s"} for r in reports]  # noqa: E731
    assert strip(first.reports) == strip(again.reports)
    other, _ = augment(Recipe(**{**NER_RECIPE.__dict__, "seed": 8}), examples)
    assert [e.tokens for e in other.created] != [e.tokens for e in first.created]


def test_every_new_example_names_its_parent_and_operators_and_is_valid() -> None:
    examples = dataset()
    result, rows = augment(NER_RECIPE, examples)
    by_id = {e.id: e for e in examples}
    created = result.created
    assert len(created) > 600  # 400 sources x 2, minus rejections
    names = {s.operator for s in NER_RECIPE.operators}
    for new in created:
        (parent_id,) = new.provenance.parent_ids
        parent = by_id[parent_id]
        assert new.split is parent.split is Split.TRAIN
        assert new.provenance.operation.startswith("augment:")
        assert set(new.provenance.operation.removeprefix("augment:").split("+")) <= names
        assert new.id.startswith("aug-") and new.id not in by_id
        assert is_valid_iob2(new.tags or []) and new.text == " ".join(new.tokens or [])
        assert new.spans is not None
    assert len({e.id for e in rows}) == len(rows)
    counts = {r["step"]: r for r in result.reports}
    assert sum(counts[n]["rows_created"] for n in names) >= len(created)
    acceptance = counts["acceptance"]
    assert acceptance["rows_out"] == len(created)
    assert acceptance["rows_in"] - acceptance["rows_out"] == sum(acceptance["drop_reasons"].values())


def test_validation_and_test_are_untouched_by_default() -> None:
    examples = dataset()
    _, rows = augment(NER_RECIPE, examples)
    for split in (Split.VALIDATION, Split.TEST):
        assert [e for e in rows if e.split is split] == [e for e in examples if e.split is split]


def test_eval_splits_need_insisting() -> None:
    with pytest.raises(InvalidArgumentError) as err:
        Recipe(operators=NER_RECIPE.operators, splits=(Split.TRAIN, Split.TEST)).check()
    assert err.value.violations[0].field == "recipe.splits"
    recipe = Recipe(operators=NER_RECIPE.operators, splits=(Split.TEST,), allow_eval_splits=True)
    result, _ = augment(recipe, dataset())
    assert result.created and all(e.split is Split.TEST for e in result.created)


def test_new_examples_never_duplicate_existing_ones() -> None:
    examples = dataset()
    result, _ = augment(
        Recipe(operators=(OperatorStep("segment_shuffle", {"rate": 1.0}),), multiplier=3), examples
    )
    keys = [" ".join(e.tokens or []) for e in examples]
    new_keys = [" ".join(e.tokens or []) for e in result.created]
    assert not set(new_keys) & set(keys)
    assert len(set(new_keys)) == len(new_keys)
    assert result.acceptance.drop_reasons["exact_duplicate"] > 0


def test_near_duplicates_are_dropped_unless_asked_not_to() -> None:
    examples = dataset()
    recipe = Recipe(operators=(OperatorStep("label_wise_token_replacement", {"rate": 0.05}),), seed=3)
    result, _ = augment(recipe, examples)
    loose = Recipe(**{**recipe.__dict__, "acceptance": AcceptanceFilters(drop_near_duplicates=False)})
    without, _ = augment(loose, examples)
    assert result.acceptance.drop_reasons["near_duplicate"] > 0
    assert len(without.created) > len(result.created)


@pytest.mark.parametrize(
    ("step", "field"),
    [
        (OperatorStep("mention_swap"), "recipe.operators[0].operator"),
        (OperatorStep("mention_replacement", {"ratio": 0.2}), "recipe.operators[0].params.ratio"),
        (OperatorStep("mention_replacement", {"rate": 2}), "recipe.operators[0].params.rate"),
        (OperatorStep("segment_shuffle", {}, 1.5), "recipe.operators[0].probability"),
    ],
)
def test_bad_operator_or_parameter_is_invalid_argument_naming_it(step: OperatorStep, field: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        Recipe(operators=(step,)).build(Task.TOKEN_CLASSIFICATION, CONTEXT)
    assert err.value.violations[0].field == field
    assert field.rsplit(".", 1)[-1] in str(err.value) or step.operator in str(err.value)


def test_operator_on_an_unsupported_task_is_failed_precondition() -> None:
    with pytest.raises(FailedPreconditionError, match=r"eda_random_swap.*token_classification"):
        Recipe(operators=(OperatorStep("eda_random_swap"),)).build(Task.TOKEN_CLASSIFICATION, CONTEXT)
    with pytest.raises(FailedPreconditionError, match="mention_replacement"):
        Recipe(operators=(OperatorStep("mention_replacement"),)).build(Task.TEXT_CLASSIFICATION, CONTEXT)
