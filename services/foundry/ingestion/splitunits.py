"""The units of split assignment: rows tied together by a duplicate cluster or a group key
(union-find over both), and per unit its most common existing split and stratum. Arrays are over
the rows in row-id order; a unit is named by the position of its first row."""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np
import numpy.typing as npt

from foundry.domain.dedup.clusters import components
from foundry.ingestion.dedup.leakage import UNASSIGNED_CODE

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]

ASSIGNABLE = 3  # train, validation, test: the codes below UNASSIGNED_CODE


class RowClusters(Protocol):
    """Duplicate clusters per row: `cluster_id[i]` (-1 none) of row `row_ids[i]`, `row_ids` sorted."""

    @property
    def row_ids(self) -> I64: ...

    @property
    def cluster_id(self) -> I64: ...


def group_hash(key: str) -> int:
    """A row's group key as a non-zero 64-bit hash; 0 for no group."""
    if not key:
        return 0
    value = int.from_bytes(
        hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )
    return value or 1


def cluster_of(rows: I64, clusters: RowClusters | None) -> I64:
    """The duplicate cluster of each row (-1 none); rows `clusters` does not know have none."""
    if clusters is None or not len(clusters.row_ids) or not len(rows):
        return np.full(len(rows), -1, dtype=np.int64)
    known = clusters.row_ids
    at = np.minimum(np.searchsorted(known, rows), len(known) - 1)
    return np.where(known[at] == rows, clusters.cluster_id[at], -1).astype(np.int64)


def units_of(rows: I64, groups: U64, cluster: I64) -> I64:
    """The unit of each row (position 0..n-1), named by its first row's position."""
    count = len(rows)
    positions = np.arange(count, dtype=np.int64)
    lefts, rights = [], []
    for key, member in ((cluster.astype(np.int64), cluster >= 0), (groups, groups != 0)):
        chosen = positions[member]
        chosen = chosen[np.argsort(key[member], kind="stable")]
        same = key[chosen][1:] == key[chosen][:-1]
        lefts.append(chosen[:-1][same])
        rights.append(chosen[1:][same])
    return components(count, np.concatenate(lefts), np.concatenate(rights))


def unit_majority(unit: I64, codes: U8) -> U8:
    """Per unit (indexed by its first row), its most common assigned split (ties: the split of
    its first row that has one); UNASSIGNED_CODE for a unit without any."""
    count = len(unit)
    out = np.full(count, UNASSIGNED_CODE, dtype=np.uint8)
    assigned = np.flatnonzero(codes != UNASSIGNED_CODE)
    if not len(assigned):
        return out
    cell = unit[assigned] * ASSIGNABLE + codes[assigned]
    counts = np.bincount(cell, minlength=count * ASSIGNABLE).reshape(count, ASSIGNABLE)
    first = np.full(count * ASSIGNABLE, count, dtype=np.int64)
    np.minimum.at(first, cell, assigned)
    score = counts * (count + 1) - first.reshape(count, ASSIGNABLE)
    has = counts.sum(axis=1) > 0
    out[has] = np.argmax(score[has], axis=1).astype(np.uint8)
    return out


def unit_majority_stratum(unit: I64, strata: I64, rows: npt.NDArray[np.bool_]) -> I64:
    """Per unit, the most common stratum among its `rows` (ties: its first such row's)."""
    out = strata.copy()
    chosen = np.flatnonzero(rows)
    if not len(chosen):
        return out
    order = chosen[np.lexsort((chosen, strata[chosen], unit[chosen]))]
    key_unit, key_stratum = unit[order], strata[order]
    starts = np.flatnonzero(
        np.r_[True, (key_unit[1:] != key_unit[:-1]) | (key_stratum[1:] != key_stratum[:-1])]
    )
    run_unit, run_stratum, run_first = key_unit[starts], key_stratum[starts], order[starts]
    run_count = np.diff(np.append(starts, len(order)))
    best = np.lexsort((run_first, -run_count, run_unit))
    winners = best[np.r_[True, run_unit[best][1:] != run_unit[best][:-1]]]
    out[run_unit[winners]] = run_stratum[winners]
    return out
