"""EDA for text classification (Wei and Zou 2019): synonym replacement, random insertion,
random swap and random deletion, each with its rate. Words are the text's white-space
separated words; `alpha` sets how many words change (`max(1, round(alpha * n))`), `p` the
chance that each word is deleted. The label is kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from foundry.augmentation.operators.base import Draws, Operator, OperatorContext, Params
from foundry.augmentation.operators.ner import SynonymSourceParams, synonym_source
from foundry.augmentation.synonyms import match_case
from foundry.runtime.examples import Example, Task

TEXT = frozenset({Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION})


class AlphaParams(Params):
    alpha: float = Field(0.1, gt=0.0, le=1.0, description="share of the words changed")


class SynonymAlphaParams(AlphaParams, SynonymSourceParams):
    pass


class DeletionParams(Params):
    p: float = Field(0.1, gt=0.0, lt=1.0, description="probability that each word is deleted")


def _changes(alpha: float, n: int) -> int:
    return max(1, round(alpha * n))


def _rewrite_each(
    batch: Sequence[Example], rewrite: Callable[[list[str]], list[str] | None]
) -> list[Example]:
    """Each example's white-space separated words through `rewrite`; None keeps the example."""
    out: list[Example] = []
    for example in batch:
        words = rewrite((example.text or "").split())
        out.append(example if words is None else replace(example, text=" ".join(words)))
    return out


class _SynonymEda(Operator[SynonymAlphaParams]):
    params_type: ClassVar[type[Params]] = SynonymAlphaParams
    tasks = TEXT

    def __init__(self, params: SynonymAlphaParams, context: OperatorContext) -> None:
        super().__init__(params, context)
        self.source = synonym_source(params, context)

    def _table(self, batch: Sequence[Example]) -> Any:
        words = {w.lower() for e in batch for w in (e.text or "").split()}
        return self.source.lookup(sorted(words))


class EdaSynonymReplacement(_SynonymEda):
    name = "eda_synonym_replacement"
    description = "EDA SR: replace alpha·n distinct words that have synonyms by a random synonym."

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        draw, table = Draws(rng), self._table(batch)

        def rewrite(words: list[str]) -> list[str] | None:
            candidates = [i for i, w in enumerate(words) if w.lower() in table]
            draw.shuffle(candidates)
            for i in candidates[: _changes(self.params.alpha, len(words))]:
                options = table[words[i].lower()]
                words[i] = match_case(words[i], options[draw.index(len(options))])
            return words if candidates else None

        return _rewrite_each(batch, rewrite)


class EdaRandomInsertion(_SynonymEda):
    name = "eda_random_insertion"
    description = "EDA RI: alpha·n times, insert a synonym of a random word at a random position."

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        draw, table = Draws(rng), self._table(batch)

        def rewrite(words: list[str]) -> list[str] | None:
            candidates = [w.lower() for w in words if w.lower() in table]
            if not candidates:
                return None
            for _ in range(_changes(self.params.alpha, len(words))):
                options = table[candidates[draw.index(len(candidates))]]
                words.insert(draw.index(len(words) + 1), options[draw.index(len(options))])
            return words

        return _rewrite_each(batch, rewrite)


class EdaRandomSwap(Operator[AlphaParams]):
    name = "eda_random_swap"
    description = "EDA RS: alpha·n times, swap two random words."
    tasks = TEXT
    params_type: ClassVar[type[Params]] = AlphaParams

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        draw = Draws(rng)

        def rewrite(words: list[str]) -> list[str] | None:
            if len(words) < 2:
                return None
            for _ in range(_changes(self.params.alpha, len(words))):
                i, j = draw.index(len(words)), draw.index(len(words))
                words[i], words[j] = words[j], words[i]
            return words

        return _rewrite_each(batch, rewrite)


class EdaRandomDeletion(Operator[DeletionParams]):
    name = "eda_random_deletion"
    description = "EDA RD: delete each word with probability p (one word always stays)."
    tasks = TEXT
    params_type: ClassVar[type[Params]] = DeletionParams

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        draw = Draws(rng)

        def rewrite(words: list[str]) -> list[str] | None:
            if len(words) < 2:
                return None
            kept = [w for w in words if draw() >= self.params.p]
            if not kept:
                kept = [words[draw.index(len(words))]]
            return kept if len(kept) < len(words) else None

        return _rewrite_each(batch, rewrite)


EDA_OPERATORS: tuple[type[Operator[Any]], ...] = (
    EdaSynonymReplacement,
    EdaRandomInsertion,
    EdaRandomSwap,
    EdaRandomDeletion,
)
