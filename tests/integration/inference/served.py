"""The inference service as it runs: `foundry.inference.__main__.wire(settings)` (what `build`
serves) started by `FoundryServer` on 127.0.0.1, with a channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.api.inference.v1 import inference_service_pb2_grpc as pb_grpc
from foundry.inference.__main__ import wire
from foundry.inference.core import InferenceCore
from foundry.inference.settings import InferenceSettings
from foundry.runtime.server import FoundryServer

if TYPE_CHECKING:
    Stub = pb_grpc.InferenceServiceAsyncStub
else:
    Stub = pb_grpc.InferenceServiceStub


@dataclass
class Served:
    stub: Stub
    health: Any  # grpc_health ships no type stubs
    core: InferenceCore
    port: int
    channel: grpc.aio.Channel
    settings: InferenceSettings

    async def health_of(self, name: str) -> str:
        """The health service's answer for `name`: SERVING, NOT_SERVING or NOT_FOUND."""
        try:
            response = await self.health.Check(health_pb2.HealthCheckRequest(service=name))
        except grpc.aio.AioRpcError as err:
            assert err.code() is grpc.StatusCode.NOT_FOUND, err
            return "NOT_FOUND"
        status: int = response.status
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))


@asynccontextmanager
async def served(settings: InferenceSettings) -> AsyncIterator[Served]:
    """Serve the inference service for `settings` (ports 0) until the block ends, then drain."""
    settings = settings.model_copy(update={"grpc_port": 0, "metrics_port": 0, "log_json": False})
    wired = wire(settings)
    server = FoundryServer(settings, wired.definition)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Served(
                pb_grpc.InferenceServiceStub(channel),
                health_pb2_grpc.HealthStub(channel),
                wired.core,
                server.port,
                channel,
                settings.model_copy(update={"inference_address": f"127.0.0.1:{server.port}"}),
            )
    finally:
        await server.drain(0)
