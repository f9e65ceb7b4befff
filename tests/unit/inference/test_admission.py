"""The bound on a model's ModelInfer requests in flight."""

from __future__ import annotations

import pytest

from foundry.inference.admission import InFlightLimit
from foundry.runtime.errors import ResourceExhaustedError


async def test_holders_beyond_the_limit_are_refused_and_places_are_given_back() -> None:
    limit = InFlightLimit(2, retry_after_s=0.5)
    async with limit.hold(), limit.hold():
        assert limit.in_flight == 2
        with pytest.raises(ResourceExhaustedError, match=r"queue is full \(2 requests") as err:
            async with limit.hold():
                pytest.fail("admitted a third holder")
        assert err.value.reason == "QUEUE_FULL" and err.value.retry_after_s == 0.5
    assert (limit.in_flight, limit.rejected) == (0, 1)
    with pytest.raises(RuntimeError, match="model failed"):
        async with limit.hold():
            raise RuntimeError("model failed")
    assert limit.in_flight == 0  # a failing request gives its place back
    async with limit.hold():
        assert limit.in_flight == 1
