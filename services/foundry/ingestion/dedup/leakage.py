"""Leakage: duplicates that sit in different splits of those the data came with.

Splits are coded as small integers in `SPLITS` order (train, validation, test, unassigned).
A cluster leaks when its rows carry two or more different assigned splits; rows without a split
(unassigned) never leak. Exact pairs across splits are counted over all rows of each exact
group; near pairs over the verified pairs (one row per exact group is compared).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np
import numpy.typing as npt

from foundry.ingestion.dedup.result import Leakage
from foundry.runtime.examples import Split

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]

SPLITS: tuple[Split, ...] = (Split.TRAIN, Split.VALIDATION, Split.TEST, Split.UNASSIGNED)
_CODES = {split.value: code for code, split in enumerate(SPLITS)}
UNASSIGNED_CODE = _CODES[Split.UNASSIGNED.value]
_ASSIGNED = UNASSIGNED_CODE  # codes below this are real splits


def split_codes(splits: Iterable[str | Split]) -> U8:
    """The codes of split names ("train", ..., or `Split` members); "" counts as unassigned."""
    try:
        return np.fromiter((_CODES[str(split) or Split.UNASSIGNED.value] for split in splits), dtype=np.uint8)
    except KeyError as error:
        raise ValueError(f"unknown split {error.args[0]!r}; expected one of {sorted(_CODES)}") from None


def split_pair_name(first: int, second: int) -> str:
    """The name of a pair of split codes, alphabetical ("test~train")."""
    return "~".join(sorted((SPLITS[first].value, SPLITS[second].value)))


def cluster_leakage(
    cluster: I64,
    splits: U8,
    rows: Sequence[int] | I64,
    *,
    max_listed: int = 100,
    max_members: int = 20,
) -> tuple[int, int, dict[str, int], list[tuple[tuple[int, str], ...]]]:
    """(leaking clusters, their rows, clusters per pair of splits, samples) for clusters 0..k-1
    given per row (-1 none); samples list (row id, split) of each of the first leaking clusters."""
    if not len(cluster) or cluster.max(initial=-1) < 0:
        return 0, 0, {}, []
    count = int(cluster.max()) + 1
    assigned = (cluster >= 0) & (splits < _ASSIGNED)
    masks = np.zeros(count, dtype=np.int64)
    np.bitwise_or.at(masks, cluster[assigned], np.left_shift(1, splits[assigned].astype(np.int64)))
    present = [(masks >> code) & 1 for code in range(_ASSIGNED)]
    leaking = np.add.reduce(present) >= 2
    by_splits: dict[str, int] = {}
    for first, second in combinations(range(_ASSIGNED), 2):
        both = int((present[first] & present[second]).sum())
        if both:
            by_splits[split_pair_name(first, second)] = both
    in_leak = np.flatnonzero((cluster >= 0) & leaking[np.maximum(cluster, 0)])
    samples: list[tuple[tuple[int, str], ...]] = []
    if len(in_leak):
        order = in_leak[np.argsort(cluster[in_leak], kind="stable")]
        starts = np.flatnonzero(np.r_[True, cluster[order][1:] != cluster[order][:-1]])
        ends = np.append(starts[1:], len(order))
        for index in np.argsort(order[starts], kind="stable")[:max_listed].tolist():
            members = order[starts[index] : ends[index]][:max_members]
            samples.append(tuple((int(rows[m]), SPLITS[splits[m]].value) for m in members.tolist()))
    return int(leaking.sum()), len(in_leak), by_splits, samples


def exact_pairs_across(group: I64, splits: U8) -> int:
    """Pairs of rows of one exact group (`group`: first row per row) in two different splits."""
    assigned = splits < _ASSIGNED
    if not assigned.any():
        return 0
    cells = np.bincount(group[assigned] * _ASSIGNED + splits[assigned], minlength=len(group) * _ASSIGNED)
    per_split = cells.reshape(len(group), _ASSIGNED)
    total = per_split.sum(axis=1)
    return int(((total * total - (per_split * per_split).sum(axis=1)) // 2).sum())


def rows_by_pair(cluster: I64, splits: U8) -> dict[str, int]:
    """Per pair of existing splits ("test~train"), the rows of either split in clusters (-1 none)
    that hold rows of both."""
    assigned = (cluster >= 0) & (splits < _ASSIGNED)
    if not assigned.any():
        return {}
    count = int(cluster.max()) + 1
    cells = np.bincount(
        cluster[assigned] * _ASSIGNED + splits[assigned], minlength=count * _ASSIGNED
    ).reshape(count, _ASSIGNED)
    out: dict[str, int] = {}
    for first, second in combinations(range(_ASSIGNED), 2):
        both = (cells[:, first] > 0) & (cells[:, second] > 0)
        if both.any():
            out[split_pair_name(first, second)] = int((cells[both, first] + cells[both, second]).sum())
    return out


def leakage(
    cluster: I64,
    group: I64,
    splits: U8,
    near_left: I64,
    near_right: I64,
    rows: Sequence[int] | I64,
    *,
    keep: npt.NDArray[np.bool_] | None = None,
    max_listed: int = 100,
) -> Leakage:
    """The leakage report of clusters (`cluster` per row) over the existing `splits`, counting
    only the rows that `keep` keeps (all when None)."""
    if keep is not None:
        cluster = np.where(keep, cluster, -1)
        splits = np.where(keep, splits, UNASSIGNED_CODE).astype(np.uint8)
    clusters, leak_rows, by_splits, samples = cluster_leakage(cluster, splits, rows, max_listed=max_listed)
    left_split, right_split = splits[near_left], splits[near_right]
    near = int(((left_split != right_split) & (left_split < _ASSIGNED) & (right_split < _ASSIGNED)).sum())
    return Leakage(
        clusters=clusters,
        rows=leak_rows,
        by_splits=by_splits,
        rows_by_splits=rows_by_pair(cluster, splits),
        exact_pairs=exact_pairs_across(group, splits),
        near_pairs=near,
        samples=tuple(samples),
    )
