"""Runs a recipe over a dataset's examples: candidates, operators, acceptance, provenance.

For each batch of `BATCH_ROWS` source examples (those of the recipe's splits, in version order)
and each of the `multiplier` copies, every candidate starts as its source and goes through the
operators in order; an operator is applied to a candidate with its step's probability. A
candidate that no operator changed, whose tags are invalid, that exactly duplicates an existing
or an already accepted example, or whose generated reply fails the response-quality filter is
rejected (counted by reason) and tried again, up to `max_attempts` times. After all batches,
near duplicates (MinHash LSH, verified Jaccard, against the existing and the earlier kept new
examples) and, optionally, examples a served model labels differently from their parent are
dropped.

Every random draw comes from a numpy generator seeded by (recipe seed, batch, copy, attempt,
step): the same recipe on the same version gives the same examples, ids and counts. A new
example keeps its parent's split and meta, gets a deterministic id (sha256 of its parent id, copy
and content) and `provenance` = (parent id, "augment:" + the operators that changed it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from foundry.augmentation import filters
from foundry.augmentation.operators import Operator
from foundry.augmentation.recipe import Recipe
from foundry.domain.dedup import content_key, label_signature
from foundry.domain.steps import RowViolation, StepReport
from foundry.domain.tags import spans_from_tags
from foundry.runtime import cancel
from foundry.runtime.examples import Example, Provenance, Split

BATCH_ROWS = 512
ACCEPTANCE_STEP = "acceptance"
#: rejected examples kept for PreviewAugment per source
MAX_REJECTED_KEPT = 10
Progress = Callable[[int, int], None]
Judge = Callable[[Sequence[Example]], list[float]]


@dataclass
class SourceResult:
    source: Example
    created: list[Example] = field(default_factory=list)
    rejected: list[tuple[Example, str]] = field(default_factory=list)


@dataclass
class AugmentResult:
    results: list[SourceResult]
    reports: list[dict[str, Any]]
    acceptance: StepReport
    created_by_operator: dict[str, int]

    @property
    def created(self) -> list[Example]:
        return [e for r in self.results for e in r.created]


def finalize(example: Example) -> Example:
    """Derive text and spans of a token-classification example from its tokens and tags."""
    if example.tags is None or example.spans is not None:
        return example
    text, spans = spans_from_tags(example.tokens or [], example.tags)
    return replace(example, text=text, spans=spans)


def new_id(parent: Example, copy: int, example: Example) -> str:
    digest = hashlib.sha256(
        "\x1f".join((parent.id, str(copy), content_key(example), label_signature(example))).encode()
    ).hexdigest()
    return f"aug-{digest[:24]}"


class Augmenter:
    def __init__(
        self, recipe: Recipe, operators: Sequence[Operator[Any]], *, judge: Judge | None = None
    ) -> None:
        self.recipe = recipe
        self.operators = list(operators)
        self.judge = judge
        self.acceptance = StepReport(ACCEPTANCE_STEP)

    def sources(self, examples: Sequence[Example]) -> list[Example]:
        splits = set(self.recipe.splits)
        return [e for e in examples if e.split in splits]

    def run(
        self,
        examples: Sequence[Example],
        *,
        sources: Sequence[Example] | None = None,
        inventory: Sequence[Example] | None = None,
        progress: Progress | None = None,
    ) -> AugmentResult:
        """Augment `sources` (default: the examples of the recipe's splits); `examples` are all the
        existing ones (the duplicate filters compare against them); operators build their
        inventories from `inventory` (default: the sources)."""
        chosen = self.sources(examples) if sources is None else list(sources)
        for op in self.operators:
            op.prepare(chosen if inventory is None else inventory)
        exact = filters.ExactDuplicates(examples) if self.recipe.acceptance.drop_exact_duplicates else None
        results = [SourceResult(s) for s in chosen]
        chains: dict[str, tuple[str, ...]] = {}
        for start in range(0, len(chosen), BATCH_ROWS):
            batch_no = start // BATCH_ROWS
            for copy in range(self.recipe.multiplier):
                cancel.check()
                self._copy(results[start : start + BATCH_ROWS], batch_no, copy, exact, chains)
            if progress is not None:
                progress(min(start + BATCH_ROWS, len(chosen)), len(chosen))
        self._after(examples, results, chains)
        created_by: dict[str, int] = {op.name: 0 for op in self.operators}
        for result in results:
            for example in result.created:
                for name in chains[example.id]:
                    created_by[name] += 1
        for op in self.operators:
            op.report.created = created_by[op.name]
        accepted = sum(len(r.created) for r in results)
        self.acceptance.rows_out = accepted
        self.acceptance.rows_created = accepted
        reports = [op.report.to_dict() for op in self.operators] + [self.acceptance.to_dict()]
        return AugmentResult(results, reports, self.acceptance, created_by)

    def _reject(self, result: SourceResult, example: Example, reason: str) -> None:
        self.acceptance.rows_in += 1
        self.acceptance.drop(
            RowViolation(reason, f"candidate of {result.source.id}: {reason}", example_id=result.source.id)
        )
        if len(result.rejected) < MAX_REJECTED_KEPT:
            result.rejected.append((example, reason))

    def _copy(
        self,
        results: list[SourceResult],
        batch_no: int,
        copy: int,
        exact: filters.ExactDuplicates | None,
        chains: dict[str, tuple[str, ...]],
    ) -> None:
        pending = list(range(len(results)))
        quality = self.recipe.acceptance.response_quality
        for attempt in range(self.recipe.max_attempts):
            if not pending:
                return
            candidates = [results[i].source for i in pending]
            changed_by: list[list[str]] = [[] for _ in pending]
            for step_no, (step, op) in enumerate(zip(self.recipe.operators, self.operators, strict=True)):
                rng = np.random.default_rng([self.recipe.seed, batch_no, copy, attempt, step_no])
                chosen = np.flatnonzero(rng.random(len(candidates)) < step.probability).tolist()
                if not chosen:
                    continue
                before = [candidates[j] for j in chosen]
                after = op.apply(before, rng)
                for j, old, new in zip(chosen, before, after, strict=True):
                    if new is not old:
                        candidates[j] = new
                        changed_by[j].append(op.name)
            still: list[int] = []
            for index, candidate, chain in zip(pending, candidates, changed_by, strict=True):
                result = results[index]
                if not chain:
                    self._reject(result, candidate, filters.UNCHANGED)
                    still.append(index)
                    continue
                candidate = finalize(candidate)
                reason = filters.tag_problem(candidate) if self.recipe.acceptance.require_valid_tags else ""
                if not reason and quality is not None and candidate.messages is not None:
                    reason = filters.response_problem(candidate, result.source, quality)
                if not reason and exact is not None:
                    reason = exact.check_and_add(candidate)
                if reason:
                    self._reject(result, candidate, reason)
                    still.append(index)
                    continue
                self.acceptance.rows_in += 1
                identity = new_id(result.source, copy, candidate)
                candidate = replace(
                    candidate,
                    id=identity,
                    provenance=Provenance(
                        parent_ids=[result.source.id], operation="augment:" + "+".join(chain)
                    ),
                )
                chains[identity] = tuple(dict.fromkeys(chain))
                result.created.append(candidate)
            pending = still
        self.acceptance.counters["gave_up"] += len(pending)

    def _after(
        self, existing: Sequence[Example], results: list[SourceResult], chains: dict[str, tuple[str, ...]]
    ) -> None:
        acceptance = self.recipe.acceptance
        if acceptance.drop_near_duplicates:
            threshold = acceptance.near_duplicate_threshold
            self._drop(
                results, lambda new: filters.near_duplicates(existing, new, threshold), filters.NEAR_DUPLICATE
            )
        judge, spec = self.judge, acceptance.consistency
        if judge is not None and spec is not None:
            self._drop(
                results,
                lambda new: np.array([a < spec.min_agreement for a in judge(new)], dtype=bool),
                filters.INCONSISTENT,
            )

    def _drop(
        self,
        results: list[SourceResult],
        decide: Callable[[list[Example]], Any],
        reason: str,
    ) -> None:
        new = [e for r in results for e in r.created]
        dropped = decide(new) if new else np.zeros(0, dtype=bool)
        position = 0
        for result in results:
            kept = []
            for example in result.created:
                if dropped[position]:
                    self.acceptance.drop(
                        RowViolation(
                            reason, f"new example of {result.source.id}: {reason}", example_id=example.id
                        )
                    )
                    if len(result.rejected) < MAX_REJECTED_KEPT:
                        result.rejected.append((example, reason))
                else:
                    kept.append(example)
                position += 1
            result.created = kept


def output_rows(examples: Sequence[Example], result: AugmentResult, include_originals: bool) -> list[Example]:
    """The new version's rows: each existing example (a source only with `include_originals`),
    then what it gave."""
    made = {r.source.id: r.created for r in result.results}
    rows: list[Example] = []
    for example in examples:
        if include_originals or example.id not in made:
            rows.append(example)
        rows.extend(made.get(example.id, ()))
    return rows


__all__ = ["AugmentResult", "Augmenter", "SourceResult", "Split", "finalize", "output_rows"]
