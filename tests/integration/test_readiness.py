"""Health tells the truth: with its S3 server killed, a running service's readiness ("" and its
service names) turns NOT_SERVING while "liveness" stays SERVING; with the S3 server back on the
same port, readiness turns SERVING again by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

from foundry.runtime.readiness import LIVENESS
from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE = "foundry.ingestion.v1.IngestionService"
#: generous bounds: the probe runs every 0.2 s with a 1 s timeout
WAIT_S = 60.0


async def status(stub: health_pb2_grpc.HealthStub, name: str) -> int:
    response = await stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
    return int(response.status)


async def wait_for(stub: health_pb2_grpc.HealthStub, name: str, wanted: int) -> float:
    """Seconds until `name` reports `wanted` (fails after WAIT_S)."""
    started = time.monotonic()
    while (got := await status(stub, name)) != wanted:
        assert time.monotonic() - started < WAIT_S, f"{name!r} still {got} after {WAIT_S} s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


def kill(server: SeaweedS3Server) -> None:
    """SIGKILL the whole server (no graceful stop), then reap it and clear its sockets."""
    assert server.pid is not None
    os.killpg(server.pid, signal.SIGKILL)
    server.stop()


@pytest.fixture
def own_s3(tmp_path: Path) -> SeaweedS3Server:
    server = SeaweedS3Server(tmp_path / "s3", access_key="ak", secret_key="readiness-secret")
    server.start()
    return server


async def test_readiness_follows_the_object_store_and_liveness_stays_up(
    own_s3: SeaweedS3Server, tmp_path: Path
) -> None:
    settings = Settings(
        s3_endpoint=own_s3.endpoint,
        s3_access_key="ak",
        s3_secret_key=SecretStr("readiness-secret"),
        s3_bucket="readiness",
        s3_max_retries=0,
        home_dir=tmp_path / "home",
        readiness_interval_s=0.2,
        readiness_timeout_s=1.0,
    )
    restarted: SeaweedS3Server | None = None
    try:
        async with (
            ingestion_server(settings) as (server, _),
            grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
        ):
            stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", SERVICE, LIVENESS):
                assert await status(stub, name) == SERVING

            kill(own_s3)
            down_after_s = await wait_for(stub, "", NOT_SERVING)
            assert await status(stub, SERVICE) == NOT_SERVING
            assert await status(stub, LIVENESS) == SERVING

            restarted = SeaweedS3Server(
                own_s3.data_dir, access_key="ak", secret_key="readiness-secret", ports=own_s3.ports
            )
            restarted.start()
            up_after_s = await wait_for(stub, "", SERVING)
            assert await status(stub, SERVICE) == SERVING
            assert await status(stub, LIVENESS) == SERVING
            print(
                f"NOT_SERVING {down_after_s:.2f} s after the kill, SERVING {up_after_s:.2f} s after restart"
            )
    finally:
        if restarted is not None:
            restarted.stop()
        own_s3.stop()
