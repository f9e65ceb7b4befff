"""Channels to the suite's services, made in one place: keepalive, reconnect backoff, the bearer
token each call carries, and TLS (mutual TLS with a client certificate) when the settings name
certificates. Also the plain `grpc.health.v1` check that `foundry stack` uses."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.runtime.server import server_options
from foundry.runtime.settings import Settings
from foundry.runtime.tls import channel_credentials, channel_options

#: reconnect soon after a peer comes back, so that retries on UNAVAILABLE can reach it
RECONNECT_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def call_metadata(settings: Settings) -> tuple[tuple[str, str], ...]:
    """`authorization: Bearer <token>` (what `AuthInterceptor` checks): the service token
    (`FOUNDRY_SERVICE_TOKEN`, what a service sends to its peers) when set, else
    `FOUNDRY_AUTH_TOKEN`; nothing when neither is set."""
    token = settings.service_token if settings.service_token is not None else settings.auth_token
    if token is None:
        return ()
    return (("authorization", f"Bearer {token.get_secret_value()}"),)


def _options(settings: Settings) -> list[tuple[str, int | str]]:
    return [*server_options(settings)[:2], *RECONNECT_OPTIONS, *channel_options(settings)]


def open_channel(address: str, settings: Settings) -> grpc.Channel:
    """A channel to `address`: the servers' keepalive settings, a short reconnect backoff, and TLS
    (`foundry.runtime.tls`) when the settings name a CA or a client certificate."""
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.insecure_channel(address, options=_options(settings))
    return grpc.secure_channel(address, credentials, options=_options(settings))


def open_aio_channel(address: str, settings: Settings) -> grpc.aio.Channel:
    """`open_channel` for asyncio callers (benchmarks and tests that drive many calls at once)."""
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=_options(settings))
    return grpc.aio.secure_channel(address, credentials, options=_options(settings))


def health_status(address: str, settings: Settings, service: str = "", timeout_s: float = 2.0) -> str:
    """SERVING / NOT_SERVING / SERVICE_UNKNOWN, or UNREACHABLE when nothing answers."""
    with open_channel(address, settings) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            return (
                "UNREACHABLE"
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                else str(code)
            )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
