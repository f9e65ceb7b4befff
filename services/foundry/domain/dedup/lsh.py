"""LSH banding of MinHash signatures: parameters, band keys and candidate pairs.

`optimal_params` picks `bands x rows` as datasketch's `MinHashLSH` does: the pair that minimises
`fp_weight * FP + fn_weight * FN`, where FP is the integral over [0, threshold] of the
probability `1 - (1 - s^rows)^bands` that a pair of similarity s shares a band, and FN the
integral over [threshold, 1] of its complement. The integrands are polynomials of degree
`bands * rows <= num_perm`, so Gauss-Legendre quadrature with `num_perm // 2 + 1` nodes gives
them exactly (datasketch integrates numerically with scipy's `quad`).

Band b of a signature is its permutations `[b * rows, (b + 1) * rows)`, hashed to one 64-bit
key per band. Two texts are candidates when they share a key in some band; every candidate is
then verified by its exact Jaccard similarity, so a rare key collision costs a verification,
never a wrong answer.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from foundry.domain.dedup.clusters import ramp
from foundry.domain.dedup.shingles import fmix64

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_MIX = np.uint64(0xBF58476D1CE4E5B9)
#: buckets up to this size give all their pairs; larger ones pair each member with the next
#: `WINDOW` members in the bucket (rows ordered by id), bounding the work of a huge bucket
MAX_BUCKET = 256
WINDOW = 64


@lru_cache(maxsize=64)
def optimal_params(
    threshold: float, num_perm: int, false_positive_weight: float = 0.5, false_negative_weight: float = 0.5
) -> tuple[int, int]:
    """The `(bands, rows)` that minimise the weighted false positive and negative areas."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be within (0, 1], got {threshold}")
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    below = threshold / 2 * (nodes + 1)  # nodes mapped onto [0, threshold]
    above = threshold + (1 - threshold) / 2 * (nodes + 1)  # and onto [threshold, 1]
    best, best_error = (0, 0), float("inf")
    for bands in range(1, num_perm + 1):
        rows = np.arange(1, num_perm // bands + 1, dtype=np.float64)[:, None]
        hit_below = 1 - (1 - below[None, :] ** rows) ** bands
        miss_above = (1 - above[None, :] ** rows) ** bands
        fp = hit_below @ weights * (threshold / 2)
        fn = miss_above @ weights * ((1 - threshold) / 2)
        error = fp * false_positive_weight + fn * false_negative_weight
        index = int(np.argmin(error))
        if error[index] < best_error:
            best, best_error = (bands, index + 1), float(error[index])
    return best


def band_keys(signatures: U32, bands: int, rows: int) -> U64:
    """The `(len(signatures), bands)` 64-bit keys of each signature's bands."""
    count = len(signatures)
    cells = signatures[:, : bands * rows].reshape(count, bands, rows)
    keys = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * _MIX, (count, bands)).copy()
    for row in range(rows):
        keys ^= cells[:, :, row]
        keys *= _MIX
        keys ^= keys >> np.uint64(31)
    return fmix64(keys)


def bucket_pairs(keys: U64, ids: I64) -> tuple[I64, I64]:
    """The pairs `(left < right)` of `ids` that share a key, from one band's `keys`.

    Members of a bucket are taken in id order; buckets larger than `MAX_BUCKET` pair each
    member with the next `WINDOW` members only.
    """
    order = np.lexsort((ids, keys))
    sorted_keys = keys[order]
    starts_run = np.empty(len(order), dtype=np.bool_)
    if len(order) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts_run[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts_run[1:])
    run_start = np.flatnonzero(starts_run)
    run_length = np.diff(np.append(run_start, len(order)))
    shared = run_length >= 2
    if not shared.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    run_start, run_length = run_start[shared], run_length[shared]
    reach = np.where(run_length <= MAX_BUCKET, run_length - 1, WINDOW)
    # every position of a shared run, with how many later members it pairs with
    position = np.repeat(run_start, run_length) + ramp(run_length)
    run_end = np.repeat(run_start + run_length, run_length)
    partners = np.minimum(np.repeat(reach, run_length), run_end - 1 - position)
    left = np.repeat(position, partners)
    right = left + 1 + ramp(partners)
    return ids[order[left]], ids[order[right]]


def candidate_pairs(keys: U64, ids: I64) -> tuple[I64, I64]:
    """The distinct pairs `(left < right)` of `ids` that share a key in any band of `keys`."""
    scale = np.int64(int(ids.max(initial=0)) + 1)
    per_band = [np.zeros(0, dtype=np.int64)]
    for band in range(keys.shape[1]):
        left, right = bucket_pairs(np.ascontiguousarray(keys[:, band]), ids)
        per_band.append(left * scale + right)
    encoded = np.concatenate(per_band)
    encoded.sort()  # faster than np.unique, which hashes
    distinct = np.empty(len(encoded), dtype=np.bool_)
    distinct[:1] = True
    np.not_equal(encoded[1:], encoded[:-1], out=distinct[1:])
    encoded = encoded[distinct]
    return encoded // scale, encoded % scale
