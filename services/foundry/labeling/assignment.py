"""Deterministic assignment of items to annotators by rendezvous (highest-random-weight) hashing.

Each (item, annotator) pair gets a pseudo-random 64-bit weight from a keyed hash of both names;
an item goes to the `k` annotators with the highest weights. Every replica computes the same
answer from the project alone (no shared lock, no stored assignment), and adding or removing an
annotator moves only the items that annotator gains or loses.

Vectorized: one blake2b digest per item and per annotator, then the pair weights are mixed in
numpy (splitmix64 finaliser) and sorted per item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _hash64(names: Sequence[str], salt: bytes) -> npt.NDArray[np.uint64]:
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(n.encode(), digest_size=8, key=salt).digest(), "little")
            for n in names
        ],
        dtype=np.uint64,
    )


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def assign(
    item_ids: Sequence[str], annotators: Sequence[str], k: int, *, salt: str = ""
) -> npt.NDArray[np.int64]:
    """For each item, the indexes (into `annotators`) of its `k` annotators, shape (items, k),
    highest weight first (weights are 64-bit, ties practically never). `salt` (the project id) makes projects independent."""
    if not 1 <= k <= len(annotators):
        raise ValueError(f"k must be in [1, {len(annotators)}], got {k}")
    key = hashlib.sha256(salt.encode()).digest()[:16]
    items = _hash64(item_ids, key)
    people = _mix(_hash64(annotators, key))
    with np.errstate(over="ignore"):
        weights = _mix(items[:, None] * np.uint64(0x9E3779B97F4A7C15) ^ people[None, :])
    top = np.argsort(weights, axis=1, kind="stable")[:, ::-1]
    return top[:, :k].astype(np.int64)


def assigned_items(
    item_ids: Sequence[str], annotators: Sequence[str], k: int, annotator: str, *, salt: str = ""
) -> list[int]:
    """Positions of the items assigned to `annotator`, in item order."""
    who = annotators.index(annotator)
    table = assign(item_ids, annotators, k, salt=salt)
    return [int(i) for i in np.flatnonzero((table == who).any(axis=1))]
