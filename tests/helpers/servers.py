"""Real services on a free local port for integration tests (drained when the test is done)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from foundry.ingestion.__main__ import build
from foundry.ingestion.settings import IngestionSettings
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings


@asynccontextmanager
async def ingestion_server(settings: Settings) -> AsyncIterator[tuple[FoundryServer, IngestionSettings]]:
    """The ingestion service wired as `python -m foundry.ingestion` wires it, on a free port, with
    a work folder of its own under the settings' home, against the test session's S3 server."""
    work_dir = settings.home_dir / "ingest-work"
    work_dir.mkdir(parents=True, exist_ok=True)
    local = IngestionSettings(
        **{**settings.model_dump(), "grpc_port": 0, "metrics_port": 0, "ingest_work_dir": work_dir}
    )
    server = FoundryServer(local, build(local))
    await server.start()
    try:
        yield server, local
    finally:
        await server.drain(0)
