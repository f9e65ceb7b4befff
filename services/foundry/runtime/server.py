"""`serve()`: one grpc.aio server bootstrap for every service.

Health (`grpc.health.v1`) answers NOT_SERVING until the service's start-up work is done, then
SERVING; reflection lists the services; every RPC passes the auth and observer interceptors;
Prometheus metrics are served over HTTP; SIGTERM or SIGINT drains: health goes NOT_SERVING, new
RPCs are refused and in-flight ones get `drain_grace_s` to finish; then the work pool's calls
are cancelled, and a watchdog ends the process if anything still holds it `EXIT_SLACK_S` after
the grace (logged), so SIGTERM always ends the process. Once SERVING, readiness follows the
object store and the name "liveness" stays SERVING (`foundry.runtime.readiness`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from foundry.runtime.interceptors import AuthInterceptor, ObserverInterceptor
from foundry.runtime.metrics import start_metrics_server
from foundry.runtime.readiness import LIVENESS, ReadinessProbe, bucket_check
from foundry.runtime.settings import ServiceName, Settings
from foundry.runtime.tls import server_credentials
from foundry.runtime.tokens import TokenTable, auth_enabled
from foundry.runtime.workpool import WorkPool

log = logging.getLogger("foundry.server")

Hook = Callable[[], Awaitable[None]]

#: how long after the drain the work pool's threads get to notice their cancelled calls
WORKERS_EXIT_WAIT_S = 2.0
#: after SIGTERM, the process is ended (os._exit) at the latest drain grace + this many seconds
EXIT_SLACK_S = 5.0


@dataclass(frozen=True)
class ServiceDefinition:
    """What a service hands to `serve()`: how to register it, and its start-up and close work."""

    name: ServiceName
    #: adds the servicers to the server
    register: Callable[[grpc.aio.Server], None]
    #: full names of the gRPC services it registers (for health and reflection)
    grpc_services: Sequence[str]
    #: work before the service reports SERVING (connect to the object store, load models, ...)
    startup: Hook | None = None
    #: work after the server stopped (close pools, flush)
    shutdown: Hook | None = None
    extra_options: Sequence[tuple[str, int | str]] = field(default_factory=tuple)
    #: receives the health servicer before the start-up work, to report more names through it
    #: (the inference service's per-model readiness: `model/<name>`)
    bind_health: Callable[[health.aio.HealthServicer], None] | None = None
    #: the bounded executor of the service's blocking work; cancelled and closed by the drain
    workpool: WorkPool | None = None


def server_options(settings: Settings) -> list[tuple[str, int | str]]:
    """Keepalive settings; message-size limits stay at gRPC's defaults (payloads are chunked)."""
    return [
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]


class FoundryServer:
    """A started grpc.aio server with health, reflection, interceptors and metrics."""

    def __init__(self, settings: Settings, definition: ServiceDefinition) -> None:
        self.settings = settings
        self.definition = definition
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if auth_enabled(settings):
            interceptors.append(AuthInterceptor(TokenTable.from_settings(settings)))
        interceptors.append(ObserverInterceptor(definition.name.value))
        self.server = grpc.aio.server(
            interceptors=interceptors,
            options=[*server_options(settings), *definition.extra_options],
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        )
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port: int | None = None
        #: the plaintext health-only server (`health_port`), when the settings ask for one
        self.health_server: grpc.aio.Server | None = None
        self.health_port: int | None = None
        self._stopped = asyncio.Event()
        self.readiness: ReadinessProbe | None = None

    async def start(self) -> int:
        """Bind, start serving (health NOT_SERVING), run start-up work, then report SERVING."""
        definition = self.definition
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        if definition.bind_health is not None:
            definition.bind_health(self.health)
        definition.register(self.server)
        names = [*definition.grpc_services, health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        address = f"{self.settings.grpc_host}:{self.settings.grpc_port_for(definition.name)}"
        credentials = server_credentials(self.settings)
        if credentials is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"could not bind {address}")
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self.server.start()
        if self.settings.health_port is not None:
            await self._start_health_server(self.settings.health_port)
        metrics_port = self.settings.metrics_port_for(definition.name)
        if self.settings.metrics_port != 0:
            self.metrics_port = start_metrics_server(self.settings.grpc_host, metrics_port)
        if definition.startup is not None:
            await definition.startup()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        self._start_readiness()
        log.info(
            "serving",
            extra={
                "address": f"{self.settings.grpc_host}:{self.port}",
                "metrics_port": self.metrics_port,
                "tls": "off" if credentials is None else "mutual" if self.settings.tls_client_auth else "on",
            },
        )
        return self.port

    async def _start_health_server(self, port: int) -> None:
        """grpc.health.v1 alone, in plaintext, on `port`: the same health servicer, nothing else."""
        self.health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
        address = f"{self.settings.grpc_host}:{port}"
        self.health_port = self.health_server.add_insecure_port(address)
        if self.health_port == 0:
            raise OSError(f"could not bind {address}")
        await self.health_server.start()

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        for name in ("", *self.definition.grpc_services):
            await self.health.set(name, status)

    def _start_readiness(self) -> None:
        """Readiness follows the object store from now on (when one is configured)."""
        if not self.settings.s3_endpoint:
            return
        serving, not_serving = (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )

        async def set_ready(ready: bool) -> None:
            await self._set_health(serving if ready else not_serving)

        self.readiness = ReadinessProbe(
            bucket_check(self.settings),
            set_ready,
            interval_s=self.settings.readiness_interval_s,
            timeout_s=self.settings.readiness_timeout_s,
        )
        self.readiness.start()

    async def drain(self, grace_s: float | None = None) -> None:
        """Health NOT_SERVING, refuse new RPCs, let in-flight ones finish within the grace."""
        if self._stopped.is_set():
            return
        grace = self.settings.drain_grace_s if grace_s is None else grace_s
        log.info("draining", extra={"grace_s": grace})
        if self.readiness is not None:
            await self.readiness.stop()
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(0)
        if self.definition.workpool is not None:
            await self.definition.workpool.shutdown(WORKERS_EXIT_WAIT_S)
        if self.definition.shutdown is not None:
            await self.definition.shutdown()
        self._stopped.set()
        log.info("stopped")

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


async def serve(settings: Settings, definition: ServiceDefinition) -> None:
    """Run a service until SIGTERM or SIGINT, then drain gracefully."""
    server = FoundryServer(settings, definition)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    await server.start()
    await stop_requested.wait()
    _exit_watchdog(settings.drain_grace_s + EXIT_SLACK_S)
    await server.drain()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(sig)


def _exit_watchdog(limit_s: float) -> None:
    """End the process `limit_s` from now if it is still alive then (a last resort: work stuck
    where it cannot be cancelled, a hook that hangs); a daemon thread, so a normal exit wins."""

    def watch() -> None:
        time.sleep(limit_s)
        log.error("still running %.1f s after SIGTERM; exiting now", limit_s)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(1)

    threading.Thread(target=watch, name="exit-watchdog", daemon=True).start()
