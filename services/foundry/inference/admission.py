"""A bound on one model's requests in flight outside its `Batcher` (the Open Inference Protocol's
tensor path, whose callers send their own padded batches): at most `max_queue_size` at once,
the same bound and the same refusal (RESOURCE_EXHAUSTED, reason QUEUE_FULL, with a retry hint)
as the batcher's queue, so a flood of ModelInfer calls cannot pile up unbounded work threads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from foundry.runtime.errors import ResourceExhaustedError


class InFlightLimit:
    """Admits at most `max_in_flight` holders at once; one more is refused at once."""

    def __init__(self, max_in_flight: int, retry_after_s: float = 0.01) -> None:
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.rejected = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold a place for the block, or raise `ResourceExhaustedError` when all are taken."""
        if self.in_flight >= self.max_in_flight:
            self.rejected += 1
            raise ResourceExhaustedError(
                f"the model's queue is full ({self.max_in_flight} requests in flight)",
                reason="QUEUE_FULL",
                retry_after_s=self.retry_after_s,
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


__all__ = ["InFlightLimit"]
