"""Packing short conversations into shared sequences, with attention kept inside each one.

`pack_rows(lengths, capacity)` places the rows of one batch into as few sequences of at most
`capacity` tokens as first-fit decreasing finds (every row fits: a row is never longer than the
job's `max_seq_length`, which is the capacity). The collator then lays the rows out side by side
and builds, per sequence:

- `position_ids` that restart at 0 for every conversation (so a packed conversation sees the same
  positions as when alone);
- `block_causal_mask(segments)`: a 4D additive mask `(sequences, 1, length, length)`, 0 where a
  query may attend (same conversation, key not after the query) and the dtype's minimum
  elsewhere; padding positions attend only to themselves, so no softmax row is empty.

With that mask (transformers passes a 4D mask to the attention as it is) every token's logits
equal those of its conversation run alone, which `tests/unit/training/test_chat_packing.py`
checks. Labels are shifted per conversation before packing, so no loss term crosses a boundary.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

Int64 = npt.NDArray[np.int64]


def pack_rows(lengths: npt.ArrayLike, capacity: int) -> tuple[Int64, Int64, int]:
    """(sequence of each row, start column of each row, number of sequences) for first-fit
    decreasing packing into sequences of at most `capacity` tokens."""
    sizes = np.asarray(lengths, np.int64)
    if sizes.size and int(sizes.max()) > capacity:
        raise ValueError(f"a row of {int(sizes.max())} tokens does not fit a sequence of {capacity}")
    sequence = np.zeros(sizes.size, np.int64)
    start = np.zeros(sizes.size, np.int64)
    loads: list[int] = []
    for row in np.argsort(-sizes, kind="stable").tolist():
        size = int(sizes[row])
        target = next((b for b, load in enumerate(loads) if load + size <= capacity), len(loads))
        if target == len(loads):
            loads.append(0)
        sequence[row], start[row] = target, loads[target]
        loads[target] += size
    return sequence, start, len(loads)


def block_causal_mask(segments: npt.NDArray[np.int64], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The 4D additive mask of packed sequences; `segments` `(sequences, length)` holds each
    position's conversation (any id, unique within its sequence) and -1 on padding."""
    seg = torch.from_numpy(np.asarray(segments, np.int64))
    length = seg.shape[1]
    same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] >= 0)
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    allowed = (same & causal) | torch.eye(length, dtype=torch.bool)
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None, :, :]


__all__ = ["block_causal_mask", "pack_rows"]
