"""Per-model readiness through the gRPC health service (`grpc.health.v1`).

`HealthReadiness` is the registry's `ReadinessHook`: `model/<name>` and
`model/<name>@<version_id>:<variant>` go SERVING when a model is ready and NOT_SERVING when it
is unloading, failed or unloaded. The health servicer exists only once the server is built, so
the hook is made first (for the core) and bound by the server before its start-up work
(`ServiceDefinition.bind_health`), before any model can load. Once a graceful drain has begun the
health servicer ignores changes, so everything stays NOT_SERVING.
"""

from __future__ import annotations

from grpc_health.v1 import health, health_pb2

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthReadiness:
    """Reports each model's readiness to the health servicer it is bound to."""

    def __init__(self) -> None:
        self._health: health.aio.HealthServicer | None = None

    def bind(self, servicer: health.aio.HealthServicer) -> None:
        self._health = servicer

    async def __call__(self, name: str, ready: bool) -> None:
        if self._health is not None:
            await self._health.set(name, SERVING if ready else NOT_SERVING)


__all__ = ["HealthReadiness"]
