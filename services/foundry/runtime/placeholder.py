"""Servicers for RPCs whose issue has not landed yet: each answers UNIMPLEMENTED, naming it.

A service built on one still serves health, reflection, auth, logs and metrics, so the whole
stack can be started, probed and composed before every RPC exists.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from google.protobuf.descriptor import ServiceDescriptor

from foundry.runtime.errors import UnimplementedError

T = TypeVar("T")


def _method(service: str, name: str, note: str, server_streaming: bool) -> Any:
    message = f"{service}.{name} is not implemented yet ({note})"

    async def unary(self: object, request: object, context: object) -> None:
        raise UnimplementedError(message, reason="NOT_IMPLEMENTED_YET")

    async def streaming(self: object, request: object, context: object) -> AsyncIterator[None]:
        raise UnimplementedError(message, reason="NOT_IMPLEMENTED_YET")
        yield  # pragma: no cover - makes this an async generator

    return streaming if server_streaming else unary


def placeholder_servicer(base: Callable[[], T], service: ServiceDescriptor, note: str) -> T:
    """An instance of `base` whose every RPC raises UnimplementedError (status UNIMPLEMENTED)."""
    methods = {m.name: _method(service.full_name, m.name, note, m.server_streaming) for m in service.methods}
    cls = type(f"Placeholder{service.name}", (cast(type, base),), methods)
    return cls()  # type: ignore[no-any-return]
