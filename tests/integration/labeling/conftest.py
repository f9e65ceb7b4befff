"""A real labeling service (grpc.aio on 127.0.0.1, every interceptor) over the real S3 server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from labeling_helpers import Labeling, Stub, start_labeling

from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings


@pytest.fixture
async def labeling(settings: Settings) -> AsyncIterator[Labeling]:
    server = await start_labeling(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield Stub(channel), ObjectStore.from_settings(settings)
    await server.drain(0)
