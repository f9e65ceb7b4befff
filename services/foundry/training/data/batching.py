"""Which rows go into which batch: length-grouped, seeded, and shardable across DDP ranks.

`train_batches` plans one epoch. The rows are shuffled with a generator seeded by
`(seed, epoch)`; with `group_by_length` the shuffled order is cut into mega-batches of
`mega_batch_factor * batch_size` rows and each mega-batch is sorted by length (longest first),
so the rows of a batch have similar lengths and little padding, while the order still changes
from epoch to epoch. The ordered rows are then cut into batches of `batch_size`; when their
number is not a multiple of `world_size`, the last few batches are re-cut into as many as it
takes, evenly (so they hold a few rows fewer; only with fewer rows than that many batches is
the count rounded down instead, and batches grow past `batch_size`). The batch order is
shuffled, the batch with the longest row put first (running out of memory happens at step
one), and rank `r` takes batches `r, r + world_size, ...`. Every rank therefore gets the same
number of batches, over all ranks every row is in exactly one batch per epoch, and the same
arguments give the same plan on every rank and every run.

`eval_batches` orders rows by length (no shuffling) and deals them out the same way, without
the equal-count guarantee (evaluation needs none).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from foundry.runtime.errors import InvalidArgumentError

#: rows per mega-batch, in batches (Hugging Face's LengthGroupedSampler uses 50 too)
MEGA_BATCH_FACTOR = 50

Rows = npt.NDArray[np.int64]


def train_batches(
    lengths: npt.ArrayLike,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    rank: int = 0,
    world_size: int = 1,
    group_by_length: bool = True,
    mega_batch_factor: int = MEGA_BATCH_FACTOR,
) -> list[Rows]:
    """This rank's batches (arrays of row indices) for one epoch of training."""
    sizes = np.asarray(lengths, np.int64)
    _check(sizes.size, batch_size, rank, world_size)
    if sizes.size < world_size:
        raise InvalidArgumentError(
            f"{sizes.size} training rows cannot give every one of {world_size} ranks a batch",
            reason="TOO_FEW_ROWS",
        )
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(sizes.size)
    if group_by_length:
        mega = max(1, mega_batch_factor) * batch_size
        order = np.concatenate(
            [
                chunk[np.argsort(-sizes[chunk], kind="stable")]
                for chunk in np.split(order, range(mega, order.size, mega))
            ]
        )
    count = -(-sizes.size // batch_size)
    count = -(-count // world_size) * world_size
    if count > sizes.size:  # tiny batches on many ranks: fewer, slightly larger batches instead
        count = sizes.size // world_size * world_size
    batches = _cut(order, batch_size, count)
    sequence = rng.permutation(count)
    longest = int(np.argmax([sizes[b].max() for b in batches]))
    sequence = np.concatenate([[longest], sequence[sequence != longest]])
    return [batches[i] for i in sequence[rank::world_size]]


def eval_batches(
    lengths: npt.ArrayLike, batch_size: int, *, rank: int = 0, world_size: int = 1
) -> list[Rows]:
    """This rank's evaluation batches: rows sorted by length (longest first), dealt round-robin."""
    sizes = np.asarray(lengths, np.int64)
    _check(sizes.size, batch_size, rank, world_size)
    order = np.argsort(-sizes, kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    return batches[rank::world_size]


def _cut(order: Rows, batch_size: int, count: int) -> list[Rows]:
    """`order` cut into `count` non-empty batches: as many full ones as possible, then the rest
    spread evenly."""
    n = order.size
    full = min(n // batch_size, count)
    while full > 0 and (n - full * batch_size < count - full or (full == count and n > full * batch_size)):
        full -= 1
    head = [order[i * batch_size : (i + 1) * batch_size] for i in range(full)]
    rest = order[full * batch_size :]
    return head + (np.array_split(rest, count - full) if count > full else [])


def _check(rows: int, batch_size: int, rank: int, world_size: int) -> None:
    if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
        raise InvalidArgumentError(
            f"impossible batching: batch_size {batch_size}, rank {rank} of world size {world_size}",
            reason="INVALID_BATCHING",
        )
