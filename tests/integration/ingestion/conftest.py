"""Fixtures of the ingestion integration tests that drive the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server


@pytest.fixture
async def stub(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[pb_grpc.IngestionServiceStub]:
    """A served ingestion service that the CLI calls (FOUNDRY_INGESTION_ADDRESS) and a stub to it;
    COLUMNS wide enough that the CLI's tables print whole."""
    async with ingestion_server(settings) as (server, _):
        monkeypatch.setenv("FOUNDRY_INGESTION_ADDRESS", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("COLUMNS", "250")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield pb_grpc.IngestionServiceStub(channel)
