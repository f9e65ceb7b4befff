"""The work pool (foundry.runtime.workpool) and cancel tokens (foundry.runtime.cancel): bounded
admission with a retry hint, deadlines and cancellation reaching the loop that checks, and a
shutdown that cancels running work and leaves nothing blocking the exit."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from foundry.runtime import cancel
from foundry.runtime.errors import (
    CancelledError,
    DeadlineExceededError,
    InvalidArgumentError,
    ResourceExhaustedError,
    UnavailableError,
)
from foundry.runtime.limits import Limits
from foundry.runtime.workpool import WorkPool


class Deadline:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def time_remaining(self) -> float | None:
        return self.seconds


def spin(started: threading.Event | None = None) -> int:
    """A loop that runs until its call is cancelled or its deadline passes."""
    if started is not None:
        started.set()
    n = 0
    while True:
        cancel.check()
        n += 1
        time.sleep(0.001)


async def test_a_result_comes_back_and_the_place_is_free_at_once() -> None:
    pool = WorkPool("t", threads=1, queue_size=0)
    for i in range(5):  # sequential calls on one place never find it taken
        assert await pool.run(None, lambda x: x * 2, i) == i * 2
    assert pool.admitted == 0
    assert await pool.shutdown(1.0)


async def test_the_deadline_stops_a_checking_loop() -> None:
    pool = WorkPool("t", threads=1, queue_size=0)
    with pytest.raises(DeadlineExceededError):
        await pool.run(Deadline(0.05), spin)
    assert pool.admitted == 0
    await pool.shutdown(1.0)


async def test_a_full_pool_refuses_with_a_retry_hint_and_cancelling_frees_it() -> None:
    pool = WorkPool("t", threads=1, queue_size=1, retry_after_s=0.5)
    started = threading.Event()
    running = asyncio.ensure_future(pool.run(None, spin, started))
    waiting = asyncio.ensure_future(pool.run(None, spin))
    await asyncio.to_thread(started.wait, 5)
    await asyncio.sleep(0)
    with pytest.raises(ResourceExhaustedError) as full:
        await pool.run(None, lambda: 1)
    assert full.value.retry_after_s == 0.5 and full.value.reason == "WORK_POOL_FULL"
    assert pool.rejected == 1
    waiting.cancel()
    running.cancel()
    for _ in range(200):
        if pool.admitted == 0:
            break
        await asyncio.sleep(0.01)
    assert pool.admitted == 0
    assert await pool.run(None, lambda: 7) == 7
    await pool.shutdown(1.0)


async def test_shutdown_cancels_running_work_and_refuses_new_calls() -> None:
    pool = WorkPool("t", threads=2, queue_size=0)
    started = threading.Event()
    running = asyncio.ensure_future(pool.run(None, spin, started))
    await asyncio.to_thread(started.wait, 5)
    assert await pool.shutdown(5.0)
    with pytest.raises(CancelledError):
        await running
    with pytest.raises(UnavailableError):
        await pool.run(None, lambda: 1)
    assert all(t.daemon for t in threading.enumerate() if t.name.startswith("t-work-"))


def test_check_outside_a_pool_call_does_nothing() -> None:
    cancel.check()


def test_limits_name_the_field_and_the_range() -> None:
    with pytest.raises(InvalidArgumentError) as bad:
        Limits().whole("max_iterations", 2**31 - 1, 10_000).whole("page_size", -1, 100).check()
    assert [v.field for v in bad.value.violations] == ["max_iterations", "page_size"]
    assert "[0, 10000]" in str(bad.value)
    Limits().whole("x", 10_000, 10_000).number("t", 0.0, 1.0).count("r", [1, 2], 2).check()
