"""A small gRPC service for testing the shared runtime through real servers and clients.

It speaks raw bytes (identity serializers), so it needs no generated code: `Echo` returns its
request, `Fail` raises the domain error named in the request, `Boom` raises a plain bug, `Count`
streams three messages then fails if asked, and `Slow` sleeps for the seconds in its request.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from foundry.runtime import errors
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings

SERVICE = "foundry.test.v1.Probe"


def _identity(data: bytes) -> bytes:
    return data


async def echo(request: bytes, context: Any) -> bytes:
    return request


async def fail(request: bytes, context: Any) -> bytes:
    kind = request.decode()
    if kind == "invalid":
        raise errors.InvalidArgumentError(
            "bad records in upload",
            violations=[
                errors.FieldViolation("tags", "I-PER follows O", line=12),
                errors.FieldViolation("text", "empty", line=40),
            ],
        )
    if kind == "not_found":
        raise errors.NotFoundError("dataset wnut17 has no version abc", reason="DATASET_VERSION_NOT_FOUND")
    if kind == "unavailable":
        raise errors.UnavailableError("object store down", retry_after_s=1.5)
    raise errors.FailedPreconditionError(f"unknown kind {kind}")


async def boom(request: bytes, context: Any) -> bytes:
    raise RuntimeError("a bug")


async def count(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for i in range(3):
        yield str(i).encode()
    if request == b"then-fail":
        raise errors.InvalidArgumentError(
            "stream broke", violations=[errors.FieldViolation("x", "y", line=3)]
        )


async def slow(request: bytes, context: Any) -> bytes:
    await asyncio.sleep(float(request.decode()))
    return b"done"


def register(server: grpc.aio.Server) -> None:
    def unary(fn: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=_identity, response_serializer=_identity
        )

    handlers = {
        "Echo": unary(echo),
        "Fail": unary(fail),
        "Boom": unary(boom),
        "Slow": unary(slow),
        "Count": grpc.unary_stream_rpc_method_handler(
            count, request_deserializer=_identity, response_serializer=_identity
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


def definition(startup: Any = None) -> ServiceDefinition:
    return ServiceDefinition(
        name=ServiceName.INGESTION, register=register, grpc_services=(SERVICE,), startup=startup
    )


if __name__ == "__main__":  # a probe server in its own process, for the SIGTERM test
    from foundry.runtime.app import run_service

    sys.exit(run_service(Settings, lambda _settings: definition()))
