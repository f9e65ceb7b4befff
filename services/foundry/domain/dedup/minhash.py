"""MinHash signatures of shingle sets, a whole batch per matrix operation.

The permutations are datasketch's "affine32" scheme (its default since 2.0): permutation k maps
a 32-bit shingle hash h to `a_k * h + b_k mod 2^32` with an odd `a_k`, so each is a bijection
of the 32-bit range, and `a`, `b` are drawn exactly as datasketch draws them for the same seed
(`numpy.random.RandomState(seed)`). Our shingle hashes are already avalanche-mixed (see
`shingles.py`), which is the role of datasketch's murmur3 pre-mix. The signature of a set is,
per permutation, the minimum permuted value over the set.

A batch's distinct shingle hashes (sorted per text, text after text) are permuted in chunks of
about `_CHUNK_VALUES` values as one `(num_perm, values)` uint32 matrix (multiply, add, both
wrapping in place), and `np.minimum.reduceat` along the rows takes each text's minima: about
0.4 ns per value and permutation here, ~50x less than hashing per text in Python.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from foundry.domain.dedup.shingles import ShingleSets

U32 = npt.NDArray[np.uint32]

#: the signature value of a permutation over an empty set
EMPTY = np.uint32(0xFFFFFFFF)
#: shingle values per permuted chunk: the (num_perm x values) uint32 matrix stays in L2 cache
_CHUNK_VALUES = 6144


class MinHasher:
    """MinHash with `num_perm` seeded affine permutations of 32-bit shingle hashes."""

    def __init__(self, num_perm: int = 128, seed: int = 1) -> None:
        if not 0 < num_perm <= 1 << 16:
            raise ValueError(f"num_perm must be within [1, 65536], got {num_perm}")
        self.num_perm = num_perm
        self.seed = seed
        generator = np.random.RandomState(seed)
        self.a: U32 = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        self.b: U32 = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        self._buffer = np.empty(num_perm * _CHUNK_VALUES, dtype=np.uint32)

    def signatures(self, sets: ShingleSets) -> U32:
        """The `(len(sets), num_perm)` signatures; a text without shingles gets all `EMPTY`."""
        signatures = np.full((len(sets), self.num_perm), EMPTY, dtype=np.uint32)
        offsets = sets.offsets
        texts = np.flatnonzero(sets.counts > 0)
        first = 0
        while first < len(texts):
            start = int(offsets[texts[first]])
            last = int(np.searchsorted(offsets[texts + 1], start + _CHUNK_VALUES, side="right"))
            if last <= first:  # one text larger than a chunk: fold it in chunk by chunk
                text = int(texts[first])
                signatures[text] = self._fold(sets.values[start : offsets[text + 1]])
                first += 1
                continue
            chunk = texts[first:last]
            end = int(offsets[chunk[-1] + 1])
            permuted = self._permute(sets.values[start:end])
            signatures[chunk] = np.minimum.reduceat(permuted, offsets[chunk] - start, axis=1).T
            first = last
        return signatures

    def _permute(self, values: U32) -> U32:
        """The `(num_perm, len(values))` permuted values, in the reused buffer."""
        permuted = self._buffer[: self.num_perm * len(values)].reshape(self.num_perm, len(values))
        np.multiply(self.a[:, None], values[None, :], out=permuted)
        permuted += self.b[:, None]
        return permuted

    def _fold(self, values: U32) -> U32:
        """The signature of one large set, permuting it a chunk at a time."""
        signature = np.full(self.num_perm, EMPTY, dtype=np.uint32)
        for start in range(0, len(values), _CHUNK_VALUES):
            np.minimum(
                signature, self._permute(values[start : start + _CHUNK_VALUES]).min(axis=1), out=signature
            )
        return signature
