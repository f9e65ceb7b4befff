"""Exact duplicate groups and label conflicts, decided per row with a conflict policy.

Rows are positions 0..n-1 in row order. Rows with the same content digest form an exact group,
named by its first row. In a group whose labelled rows agree (one distinct non-empty label
signature, or none), the first labelled row is kept (the first row when none is labelled) and
the others are exact duplicates. A group with two or more distinct labels is a conflict,
resolved by `ConflictPolicy`:

| policy | kept | dropped as label_conflict | dropped as exact_duplicate |
| --- | --- | --- | --- |
| KEEP_MAJORITY | the first row of the most frequent label (ties: the label seen first) | rows of other labels | the other rows of that label, unlabeled rows |
| KEEP_FIRST | the first labelled row | rows of other labels | the other rows of its label, unlabeled rows |
| DROP_ALL | nothing | every row | - |
| KEEP_ALL | the first row of each label | - | the other rows of each label, unlabeled rows |

With `exact=False` rows are never dropped as exact duplicates (conflicts are still resolved).
Rows of a frozen group (a supplied evaluation split, unless `dedup_eval_splits`) are never
dropped; their duplicates and conflicts are counted and listed only.
Groups without conflicts are decided with whole-array operations; only conflicting groups are
visited one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foundry.ingestion.dedup.result import EXACT_DUPLICATE, LABEL_CONFLICT, REASON_CODES
from foundry.ingestion.options import ConflictPolicy

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]

_EXACT = REASON_CODES[EXACT_DUPLICATE]
_CONFLICT = REASON_CODES[LABEL_CONFLICT]


def exact_groups(high: U64, low: U64, scope: U8 | None = None) -> I64:
    """The first row of each row's group of equal digests (`high`, `low` halves); with `scope`,
    rows of different scopes never share a group."""
    count = len(high)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    scope = np.zeros(count, dtype=np.uint8) if scope is None else scope
    order = np.lexsort((np.arange(count), low, high, scope))
    high, low, scope = high[order], low[order], scope[order]
    starts = np.ones(count, dtype=np.bool_)
    starts[1:] = (high[1:] != high[:-1]) | (low[1:] != low[:-1]) | (scope[1:] != scope[:-1])
    group = np.empty(count, dtype=np.int64)
    group[order] = order[starts][np.cumsum(starts) - 1]
    return group


@dataclass(frozen=True, slots=True)
class ConflictGroup:
    """One conflicting group: its rows, their labels and counts, and the rows kept."""

    first_row: int
    rows: int
    labels: tuple[tuple[int, int], ...]  # (label hash, rows), in order of first appearance
    kept: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ExactDecision:
    """Per row: drop reason code (0 kept) and the row kept in its place (-1 none)."""

    reason: U8
    duplicate_of: I64
    conflicts: int
    conflict_samples: tuple[ConflictGroup, ...]


def decide(
    group: I64,
    labels: U64,
    policy: ConflictPolicy,
    *,
    exact: bool,
    max_listed: int = 100,
    frozen: Bools | None = None,
) -> ExactDecision:
    """Decide every row of the exact groups `group` (see the module docstring); `labels` holds
    each row's label signature hash, 0 for unlabeled. Rows of a group that is `frozen` (all its
    rows or none) are never dropped: their duplicates and conflicts are only reported."""
    count = len(group)
    rows = np.arange(count, dtype=np.int64)
    frozen = np.zeros(count, dtype=np.bool_) if frozen is None else frozen
    reason = np.zeros(count, dtype=np.uint8)
    duplicate_of = np.full(count, -1, dtype=np.int64)
    in_group = np.bincount(group, minlength=count)[group] >= 2
    labelled = np.flatnonzero(in_group & (labels != 0))
    by_label = labelled[np.lexsort((labelled, labels[labelled], group[labelled]))]
    fresh = np.ones(len(by_label), dtype=np.bool_)
    fresh[1:] = (group[by_label][1:] != group[by_label][:-1]) | (
        labels[by_label][1:] != labels[by_label][:-1]
    )
    conflicting = np.bincount(group[by_label][fresh], minlength=count) >= 2  # by group
    first_labelled = np.full(count, count, dtype=np.int64)
    np.minimum.at(first_labelled, group[labelled], labelled)
    keeper = np.where(first_labelled[group] < count, first_labelled[group], group)
    plain = np.flatnonzero(in_group & ~conflicting[group] & (rows != keeper) & ~frozen)
    if exact:
        reason[plain] = _EXACT
        duplicate_of[plain] = keeper[plain]
    conflict_ids = np.flatnonzero(conflicting)
    samples: list[ConflictGroup] = []
    if len(conflict_ids):
        members_sorted = np.flatnonzero(np.isin(group, conflict_ids))  # ascending rows
        order = members_sorted[np.argsort(group[members_sorted], kind="stable")]
        bounds = np.searchsorted(group[order], conflict_ids)
        ends = np.append(bounds[1:], len(order))
        for start, end in zip(bounds.tolist(), ends.tolist(), strict=True):
            members = order[start:end].tolist()
            if frozen[members[0]]:
                resolved = _report_only(members, labels)
            else:
                resolved = _resolve(members, labels, policy, exact, reason, duplicate_of)
            if len(samples) < max_listed:
                samples.append(resolved)
    return ExactDecision(reason, duplicate_of, len(conflict_ids), tuple(samples))


def _resolve(
    members: list[int], labels: U64, policy: ConflictPolicy, exact: bool, reason: U8, duplicate_of: I64
) -> ConflictGroup:
    """Apply `policy` to one conflicting group (`members` ascending), writing its decisions."""
    member_labels = [int(labels[row]) for row in members]
    counts: dict[int, int] = {}
    first_of: dict[int, int] = {}
    for row, label in zip(members, member_labels, strict=True):
        if label:
            counts[label] = counts.get(label, 0) + 1
            first_of.setdefault(label, row)
    if policy is ConflictPolicy.DROP_ALL:
        reason[members] = _CONFLICT
        kept: tuple[int, ...] = ()
    elif policy is ConflictPolicy.KEEP_ALL:
        kept = tuple(first_of.values())
        first_kept = kept[0]
        for row, label in zip(members, member_labels, strict=True):
            keeper = first_of[label] if label else first_kept
            if row != keeper and exact:
                reason[row], duplicate_of[row] = _EXACT, keeper
    else:
        winner = _winner(counts, first_of, policy)
        keeper = first_of[winner]
        kept = (keeper,)
        for row, label in zip(members, member_labels, strict=True):
            if label and label != winner:
                reason[row], duplicate_of[row] = _CONFLICT, keeper
            elif row != keeper and exact:
                reason[row], duplicate_of[row] = _EXACT, keeper
    return ConflictGroup(members[0], len(members), tuple(counts.items()), kept)


def _report_only(members: list[int], labels: U64) -> ConflictGroup:
    """One conflicting group of a frozen scope: every row is kept."""
    counts: dict[int, int] = {}
    for row in members:
        label = int(labels[row])
        if label:
            counts[label] = counts.get(label, 0) + 1
    return ConflictGroup(members[0], len(members), tuple(counts.items()), tuple(members))


def _winner(counts: Mapping[int, int], first_of: Mapping[int, int], policy: ConflictPolicy) -> int:
    """The label that KEEP_MAJORITY (ties: seen first) or KEEP_FIRST keeps."""
    if policy is ConflictPolicy.KEEP_FIRST:
        return min(first_of, key=first_of.__getitem__)
    return min(counts, key=lambda label: (-counts[label], first_of[label]))
