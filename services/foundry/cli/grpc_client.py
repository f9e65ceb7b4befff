"""gRPC channels for the CLI and for services calling one another: bearer token, request ids."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.runtime.server import server_options
from foundry.runtime.settings import Settings


def call_metadata(settings: Settings) -> tuple[tuple[str, str], ...]:
    if settings.auth_token is None:
        return ()
    return (("authorization", f"Bearer {settings.auth_token.get_secret_value()}"),)


def channel(address: str, settings: Settings) -> grpc.Channel:
    return grpc.insecure_channel(address, options=server_options(settings)[:2])


def health_status(address: str, settings: Settings, service: str = "", timeout_s: float = 2.0) -> str:
    """SERVING / NOT_SERVING / SERVICE_UNKNOWN, or UNREACHABLE when nothing answers."""
    with channel(address, settings) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            return (
                "UNREACHABLE"
                if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                else str(code)
            )
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
