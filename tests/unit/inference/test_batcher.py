"""Dynamic batching on a real ONNX graph: same outputs as one-by-one, deadlines, a full queue."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from foundry.inference.batcher import Batcher, BatchSettings, length_buckets
from foundry.inference.session import OrtModel
from foundry.runtime.errors import DeadlineExceededError, ResourceExhaustedError


def rows(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.concatenate([[2], rng.integers(5, 30, rng.integers(1, 20)), [3]]).astype(np.int64)
        for _ in range(count)
    ]


def test_length_buckets_bound_the_padding() -> None:
    lengths = [5, 30, 6, 31, 7, 60, 5]
    buckets = length_buckets(lengths, 0.25)
    assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))
    for bucket in buckets:
        sizes = [lengths[i] for i in bucket]
        assert max(sizes) * len(sizes) <= sum(sizes) * 1.25
    assert length_buckets([], 0.25) == []


async def test_batched_outputs_equal_one_by_one(tiny_onnx: Path) -> None:
    model = OrtModel(tiny_onnx, intra_op_threads=1)
    batcher = Batcher(model.run, BatchSettings(max_batch_size=8, max_queue_delay_s=0.05))
    inputs = rows(20)
    together = await asyncio.gather(*(batcher.submit([r]) for r in inputs))
    assert batcher.stats.largest_batch == 8 and batcher.stats.batches < 20
    for row, (logits,) in zip(inputs, together, strict=True):
        alone = model.run(row[None, :], np.ones((1, len(row)), np.int64))[0]
        assert logits.shape == alone.shape
        np.testing.assert_allclose(logits, alone, atol=1e-5)
    many = await batcher.submit(inputs)  # one request larger than a batch spans several
    assert len(many) == 20 and all(
        np.allclose(a, b[0], atol=1e-5) for a, b in zip(many, together, strict=True)
    )
    await batcher.close()


async def test_an_expired_request_leaves_its_batch_the_others_are_served(tiny_onnx: Path) -> None:
    model = OrtModel(tiny_onnx, intra_op_threads=1)
    batcher = Batcher(model.run, BatchSettings(max_batch_size=8, max_queue_delay_s=1.0))
    a, b, c = rows(3, seed=1)
    patient = asyncio.ensure_future(batcher.submit([a]))
    hasty = asyncio.ensure_future(batcher.submit([b], deadline=time.monotonic() + 0.05))
    other = asyncio.ensure_future(batcher.submit([c]))
    with pytest.raises(DeadlineExceededError):
        await hasty
    (served,) = await patient
    np.testing.assert_allclose(served, model.run(a[None, :], np.ones((1, len(a)), np.int64))[0], atol=1e-5)
    assert len(await other) == 1
    assert batcher.stats.expired == 1 and batcher.stats.rows == 2
    with pytest.raises(DeadlineExceededError):
        await batcher.submit([a], deadline=time.monotonic() - 1)
    await batcher.close()


async def test_a_full_queue_refuses_at_once(tiny_onnx: Path) -> None:
    model = OrtModel(tiny_onnx, intra_op_threads=1)
    batcher = Batcher(model.run, BatchSettings(max_batch_size=8, max_queue_delay_s=0.5, max_queue_size=2))
    first, second = (asyncio.ensure_future(batcher.submit([r])) for r in rows(2))
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhaustedError) as err:
        await batcher.submit(rows(1)[0:1])
    assert err.value.retry_after_s is not None and batcher.stats.rejected == 1
    assert len(await first) == len(await second) == 1
    await batcher.close()


async def test_a_failing_model_call_fails_only_its_batch(tiny_onnx: Path) -> None:
    model = OrtModel(tiny_onnx, intra_op_threads=1)
    batcher = Batcher(model.run, BatchSettings(max_batch_size=4, max_queue_delay_s=0.0))
    bad = np.array([2, 10_000_000, 3], np.int64)  # an id beyond the vocabulary: the graph fails
    with pytest.raises(Exception, match=r"indices|out of|Gather|idx"):
        await batcher.submit([bad])
    assert len(await batcher.submit(rows(2))) == 2
    await batcher.close()
