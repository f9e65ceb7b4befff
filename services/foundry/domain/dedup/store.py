"""The distinct shingle hashes of every text seen, kept compactly to verify candidate pairs.

Each text's sorted distinct 32-bit shingle hashes are appended to one uint32 column (4 bytes per
shingle, ~350 bytes for a tweet) with a count per text; with `spill_dir` the column goes to an
unnamed temporary file there and is memory-mapped when the store is frozen, so resident memory
stays at the counts (8 bytes per text) however many texts come in.

`intersections` counts the shared values of many pairs at once, a chunk of pairs (about 2^18
values) at a time: both sides' values, tagged with their pair's number in the high 32 bits, are
each sorted by construction, so one stable sort of the two joined is a linear merge, and the
pair's shared values are the equal neighbours within its stretch. About 1.3 us per pair of
tweets here (~180 values).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from foundry.domain.dedup.shingles import ShingleSets

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: values gathered per side and chunk of pairs when counting intersections
_CHUNK_VALUES = 1 << 18


class ShingleStore:
    """An append-only store of shingle sets, addressed by the order they were added in."""

    def __init__(self, spill_dir: str | Path | None = None) -> None:
        self._chunks: list[U32] = []
        self._counts: list[I64] = []
        self._file: IO[bytes] | None = None
        if spill_dir is not None:
            # lives as long as the store; `close` closes it
            self._file = tempfile.TemporaryFile(dir=spill_dir, prefix="foundry-shingles-")  # noqa: SIM115
        self._values: U32 | None = None
        self._offsets: I64 | None = None

    def append(self, sets: ShingleSets) -> None:
        """Add a batch's sets; they get the next `len(sets)` positions."""
        if self._offsets is not None:
            raise RuntimeError("the shingle store is frozen")
        self._counts.append(sets.counts)
        if self._file is not None:
            self._file.write(sets.values.tobytes())
        else:
            self._chunks.append(sets.values)

    def freeze(self) -> None:
        """Join the batches (or map the spill file) so that pairs can be verified."""
        if self._offsets is not None:
            return
        counts = np.concatenate(self._counts) if self._counts else np.zeros(0, dtype=np.int64)
        self._counts = []
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        if self._file is not None and total:
            self._file.flush()
            self._values = np.memmap(self._file, dtype=np.uint32, mode="r", shape=(total,))
        else:
            # joined chunk by chunk, each freed once copied: the peak is the total plus one chunk
            values = np.empty(total, dtype=np.uint32)
            chunks, self._chunks, at = self._chunks, [], 0
            chunks.reverse()
            while chunks:
                chunk = chunks.pop()
                values[at : at + len(chunk)] = chunk
                at += len(chunk)
                del chunk
            self._values = values
        self._offsets = offsets

    def close(self) -> None:
        """Release the values (and delete the spill file)."""
        self._values = None
        self._chunks = []
        if self._file is not None:
            self._file.close()
            self._file = None

    def _frozen(self) -> tuple[U32, I64]:
        self.freeze()
        assert self._values is not None and self._offsets is not None
        return self._values, self._offsets

    def sizes(self, ids: I64) -> I64:
        """The number of distinct shingles of each text in `ids`."""
        _, offsets = self._frozen()
        return offsets[ids + 1] - offsets[ids]

    def values_of(self, text: int) -> U32:
        """The sorted distinct shingle hashes of one text."""
        values, offsets = self._frozen()
        return np.asarray(values[offsets[text] : offsets[text + 1]])

    def intersections(self, left: I64, right: I64) -> I64:
        """`|set(left[i]) & set(right[i])|` for every pair i."""
        values, offsets = self._frozen()
        out = np.zeros(len(left), dtype=np.int64)
        left_sizes, right_sizes = self.sizes(left), self.sizes(right)
        cost = np.cumsum(left_sizes + right_sizes)
        first = 0
        while first < len(left):
            budget = (cost[first - 1] if first else 0) + _CHUNK_VALUES
            last = max(first + 1, int(np.searchsorted(cost, budget, side="right")))
            pairs = slice(first, last)
            out[pairs] = _count_shared(
                values, offsets[left[pairs]], left_sizes[pairs], offsets[right[pairs]], right_sizes[pairs]
            )
            first = last
        return out

    def jaccard(self, left: I64, right: I64) -> F64:
        """The exact Jaccard similarity of the shingle sets of every pair (1.0 for two empty sets)."""
        shared = self.intersections(left, right)
        union = self.sizes(left) + self.sizes(right) - shared
        similarity = np.ones(len(left), dtype=np.float64)
        np.divide(shared, union, out=similarity, where=union > 0)
        return similarity


def _tagged(values: U32, starts: I64, sizes: I64, out: U64) -> None:
    """Write the values of the sets at `starts` into `out`, each tagged with its set's number
    in the high 32 bits."""
    out[:] = np.repeat(np.arange(len(sizes), dtype=np.uint64) << np.uint64(32), sizes)
    index = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
    index += np.arange(len(index), dtype=np.int64)
    out |= values[index]


def _count_shared(values: U32, left_starts: I64, left_sizes: I64, right_starts: I64, right_sizes: I64) -> I64:
    """The number of values each left set shares with its right set (one chunk of pairs).

    Both sides, tagged with their pair's number, are sorted already; a stable sort of the two
    joined is one linear merge (timsort), after which a shared value is two equal neighbours
    inside its pair's stretch of the merged array.
    """
    left_total = int(left_sizes.sum())
    merged = np.empty(left_total + int(right_sizes.sum()), dtype=np.uint64)
    _tagged(values, left_starts, left_sizes, merged[:left_total])
    _tagged(values, right_starts, right_sizes, merged[left_total:])
    merged.sort(kind="stable")
    running = np.zeros(len(merged) + 1, dtype=np.int64)  # running[i]: equal neighbours before i
    np.cumsum(merged[1:] == merged[:-1], out=running[2:])
    ends = np.cumsum(left_sizes + right_sizes)
    shared: I64 = running[ends] - running[ends - left_sizes - right_sizes]
    return shared
