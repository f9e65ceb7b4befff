"""Token-classification operators that keep IOB2 tags valid (Dai and Adel 2020, plus context
swap): every output's tags are re-derived from the segments the operator put together, so a
replacement mention longer or shorter than the original still gets `B-X I-X ...`.

Inventories are built once in `prepare` from the source examples: mentions per entity type,
tokens per tag, and, for context swap, the contexts of sentences by their sequence of mention
types. Replacements are drawn uniformly from them, so frequent mentions and tokens are drawn in
proportion to their frequency, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from foundry.augmentation.operators.base import Draws, Operator, OperatorContext, Params
from foundry.augmentation.synonyms import SynonymSource, match_case
from foundry.domain.tags import mention_tags, segments
from foundry.runtime.examples import Example, Task

NER = frozenset({Task.TOKEN_CLASSIFICATION})


def with_tokens(example: Example, tokens: list[str], tags: list[str]) -> Example:
    """`example` with new tokens and tags; text and spans are derived when the example is kept."""
    return replace(example, tokens=tokens, tags=tags, text=None, spans=None)


class RateParams(Params):
    rate: float = Field(0.3, ge=0.0, le=1.0, description="probability per item (token, mention, segment)")


class SynonymSourceParams(Params):
    source: Literal["wordnet", "lexicon", "embedding"] = Field(
        "wordnet", description="wordnet (offline English), lexicon (lexicon_key), embedding (base_model)"
    )
    lexicon_key: str = Field("", description="object key of a JSON lexicon {word: [synonyms]}")
    base_model: str = Field("", description="base model NAME[@VERSION] whose embeddings give neighbours")
    top_k: int = Field(5, ge=1, le=100, description="embedding neighbours considered")
    min_similarity: float = Field(0.5, ge=-1.0, le=1.0, description="least cosine of an embedding neighbour")


class SynonymParams(RateParams, SynonymSourceParams):
    pass


def synonym_source(params: SynonymSourceParams, context: OperatorContext) -> SynonymSource:
    if context.synonyms is None:
        raise RuntimeError("no synonym provider in the operator context")
    source: SynonymSource = context.synonyms(params)
    return source


class MentionReplacement(Operator[RateParams]):
    name = "mention_replacement"
    description = "Replace each entity mention, with probability `rate`, by a mention of the same type from the dataset's own inventory."
    tasks = NER
    params_type: ClassVar[type[Params]] = RateParams

    def prepare(self, examples: Sequence[Example]) -> None:
        inventory: dict[str, dict[tuple[str, ...], None]] = {}
        for example in examples:
            tokens, tags = example.tokens or [], example.tags or []
            for start, end, type_ in segments(tags):
                if type_:
                    inventory.setdefault(type_, {})[tuple(tokens[start:end])] = None
        self.inventory = {t: list(m) for t, m in inventory.items()}

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        rate = self.params.rate
        draw = Draws(rng)
        out: list[Example] = []
        for example in batch:
            tokens, tags = example.tokens or [], example.tags or []
            new_tokens: list[str] = []
            new_tags: list[str] = []
            changed = False
            for start, end, type_ in segments(tags):
                pool = self.inventory.get(type_) if type_ else None
                if pool and draw() < rate:
                    mention = pool[draw.index(len(pool))]
                    if list(mention) != tokens[start:end]:
                        changed = True
                    new_tokens.extend(mention)
                    new_tags.extend(mention_tags(type_, len(mention)))
                else:
                    new_tokens.extend(tokens[start:end])
                    new_tags.extend(tags[start:end])
            out.append(with_tokens(example, new_tokens, new_tags) if changed else example)
        return out


class LabelWiseTokenReplacement(Operator[RateParams]):
    name = "label_wise_token_replacement"
    description = "Replace each token, with probability `rate`, by a token seen with the same tag in the dataset (tags unchanged)."
    tasks = NER
    params_type: ClassVar[type[Params]] = RateParams

    def prepare(self, examples: Sequence[Example]) -> None:
        pools: dict[str, list[str]] = {}
        for example in examples:
            for token, tag in zip(example.tokens or [], example.tags or [], strict=True):
                pools.setdefault(tag, []).append(token)
        self.pools = pools

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        rate = self.params.rate
        draw = Draws(rng)
        pools = self.pools
        out: list[Example] = []
        for example in batch:
            tokens = example.tokens or []
            new_tokens = list(tokens)
            changed = False
            for i, tag in enumerate(example.tags or []):
                if draw() < rate and (pool := pools.get(tag)):
                    token = pool[draw.index(len(pool))]
                    if token != new_tokens[i]:
                        new_tokens[i] = token
                        changed = True
            out.append(with_tokens(example, new_tokens, list(example.tags or [])) if changed else example)
        return out


class SynonymReplacement(Operator[SynonymParams]):
    name = "synonym_replacement"
    description = "Replace each O token, with probability `rate`, by a synonym (a multi-word synonym becomes several O tokens)."
    tasks = NER
    params_type: ClassVar[type[Params]] = SynonymParams

    def __init__(self, params: SynonymParams, context: OperatorContext) -> None:
        super().__init__(params, context)
        self.source = synonym_source(params, context)

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        rate = self.params.rate
        draw = Draws(rng)
        chosen: list[list[int]] = []
        wanted: set[str] = set()
        for example in batch:
            picks = [i for i, tag in enumerate(example.tags or []) if tag == "O" and draw() < rate]
            chosen.append(picks)
            tokens = example.tokens or []
            wanted.update(tokens[i].lower() for i in picks)
        table = self.source.lookup(sorted(wanted))
        out: list[Example] = []
        for example, picks in zip(batch, chosen, strict=True):
            tokens, tags = example.tokens or [], example.tags or []
            replacements: dict[int, list[str]] = {}
            for i in picks:
                options = table.get(tokens[i].lower())
                if options:
                    replacements[i] = match_case(tokens[i], options[draw.index(len(options))]).split()
            if not replacements:
                out.append(example)
                continue
            new_tokens: list[str] = []
            new_tags: list[str] = []
            for i, (token, tag) in enumerate(zip(tokens, tags, strict=True)):
                words = replacements.get(i)
                if words is None:
                    new_tokens.append(token)
                    new_tags.append(tag)
                else:
                    new_tokens.extend(words)
                    new_tags.extend(["O"] * len(words))
            out.append(with_tokens(example, new_tokens, new_tags))
        return out


class SegmentShuffle(Operator[RateParams]):
    name = "segment_shuffle"
    description = "Shuffle the tokens inside each segment (a mention or a run of O tokens), with probability `rate` per segment; tags stay in place."
    tasks = NER
    params_type: ClassVar[type[Params]] = RateParams

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        rate = self.params.rate
        draw = Draws(rng)
        out: list[Example] = []
        for example in batch:
            tokens = example.tokens or []
            new_tokens = list(tokens)
            for start, end, _ in segments(example.tags or []):
                if end - start > 1 and draw() < rate:
                    piece = new_tokens[start:end]
                    draw.shuffle(piece)
                    new_tokens[start:end] = piece
            changed = new_tokens != tokens
            out.append(with_tokens(example, new_tokens, list(example.tags or [])) if changed else example)
        return out


Template = tuple[str | tuple[str, ...], ...]


class ContextSwap(Operator[Params]):
    name = "context_swap"
    description = "Keep an example's entity mentions and put them, in order, into the context (the O tokens) of another example with the same sequence of entity types."
    tasks = NER
    params_type: ClassVar[type[Params]] = Params

    def prepare(self, examples: Sequence[Example]) -> None:
        templates: dict[tuple[str, ...], dict[Template, None]] = {}
        for example in examples:
            tokens = example.tokens or []
            parts = segments(example.tags or [])
            types = tuple(t for _, _, t in parts if t)
            if types:
                template = tuple(t or tuple(tokens[s:e]) for s, e, t in parts)
                templates.setdefault(types, {})[template] = None
        self.templates = {k: list(v) for k, v in templates.items()}

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        draw = Draws(rng)
        out: list[Example] = []
        for example in batch:
            tokens, tags = example.tokens or [], example.tags or []
            parts = segments(tags)
            mentions = [tokens[s:e] for s, e, t in parts if t]
            types = tuple(t for _, _, t in parts if t)
            pool = self.templates.get(types) if types else None
            if not pool:
                out.append(example)
                continue
            template = pool[draw.index(len(pool))]
            new_tokens: list[str] = []
            new_tags: list[str] = []
            m = 0
            for part in template:
                if isinstance(part, str):
                    new_tokens.extend(mentions[m])
                    new_tags.extend(mention_tags(part, len(mentions[m])))
                    m += 1
                else:
                    new_tokens.extend(part)
                    new_tags.extend(["O"] * len(part))
            changed = new_tokens != tokens
            out.append(with_tokens(example, new_tokens, new_tags) if changed else example)
        return out


TOKEN_OPERATORS: tuple[type[Operator[Any]], ...] = (
    MentionReplacement,
    LabelWiseTokenReplacement,
    SynonymReplacement,
    SegmentShuffle,
    ContextSwap,
)
