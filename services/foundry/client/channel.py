"""Channels to the suite's services, made in one place: keepalive, reconnect backoff, the bearer
token each call carries, and (when the suite serves TLS) the credentials. Also the plain
`grpc.health.v1` check that `foundry stack` uses."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.runtime.server import server_options
from foundry.runtime.settings import Settings

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


def open_channel(address: str, settings: Settings) -> grpc.Channel:
    """A channel to `address`: the servers' keepalive settings and a short reconnect backoff.
    Plaintext today; TLS credentials (`grpc.secure_channel`) belong here once the suite has them."""
    return grpc.insecure_channel(address, options=[*server_options(settings)[:2], *RECONNECT_OPTIONS])


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
