"""Server interceptors written once for every service: bearer-token auth with roles, and an
observer that gives each RPC a request id, a structured log line, Prometheus metrics and the
mapping of domain errors to status codes with rich details (servicers never catch or choose status
codes).

The observer also installs the lenient request parser of `foundry.runtime.decoding` on every
handler: a request (or streamed message) that does not parse is INVALID_ARGUMENT naming the RPC
and the field, never UNKNOWN or INTERNAL."""

from __future__ import annotations

import contextvars
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from grpc_status import rpc_status

from foundry.runtime.decoding import checked, lenient
from foundry.runtime.errors import FoundryError, bounded
from foundry.runtime.logs import request_id_var
from foundry.runtime.metrics import RPC_DURATION, RPC_IN_FLIGHT, RPC_REQUESTS
from foundry.runtime.roles import allows, required_role
from foundry.runtime.status import to_rpc_status
from foundry.runtime.tokens import TokenTable

log = logging.getLogger("foundry.rpc")

#: RPCs that answer without a token: probes and tooling must work before credentials are set up.
AUTH_EXEMPT_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
REQUEST_ID_KEY = "x-request-id"

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:
    Handler: TypeAlias = grpc.RpcMethodHandler
Behavior: TypeAlias = Callable[[Any, "grpc.aio.ServicerContext[Any, Any]"], Any]
Continuation: TypeAlias = Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]


def _metadata(details: grpc.HandlerCallDetails) -> dict[str, str]:
    return {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}


def _rewrap(
    handler: Handler,
    wrap: Callable[[Behavior, bool], Behavior],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """The same handler with its behaviour replaced by `wrap(behaviour, streams_response)` (and
    its request parser by `request_deserializer`, if given)."""
    kinds: list[tuple[str, Callable[..., Handler], bool]] = [
        ("unary_unary", grpc.unary_unary_rpc_method_handler, False),
        ("unary_stream", grpc.unary_stream_rpc_method_handler, True),
        ("stream_unary", grpc.stream_unary_rpc_method_handler, False),
        ("stream_stream", grpc.stream_stream_rpc_method_handler, True),
    ]
    for attr, factory, streams in kinds:
        behavior = getattr(handler, attr)
        if behavior is not None:
            return factory(
                wrap(behavior, streams),
                request_deserializer=request_deserializer or handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
    raise TypeError("RPC method handler without a behaviour")


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Require `authorization: Bearer <token>` (scheme in any case) of a role the RPC allows
    (`runtime.roles`): UNAUTHENTICATED without a known token, PERMISSION_DENIED naming the role
    needed otherwise. Health and reflection are exempt."""

    def __init__(self, tokens: TokenTable) -> None:
        self._tokens = tokens

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or method.startswith(AUTH_EXEMPT_PREFIXES):
            return handler
        scheme, _, token = _metadata(handler_call_details).get("authorization", "").strip().partition(" ")
        if not scheme:
            return _deny(handler, grpc.StatusCode.UNAUTHENTICATED, "missing bearer token")
        if scheme.lower() != "bearer" or not token.strip():
            return _deny(handler, grpc.StatusCode.UNAUTHENTICATED, "authorization must be 'Bearer <token>'")
        principal = self._tokens.verify(token.strip())
        if principal is None:
            return _deny(handler, grpc.StatusCode.UNAUTHENTICATED, "invalid bearer token")
        needed = required_role(method)
        if not allows(principal.role, needed):
            message = f"{method} needs role {needed.value}; token {principal.name!r} has role {principal.role.value}"
            return _deny(handler, grpc.StatusCode.PERMISSION_DENIED, message)
        return _rewrap(handler, partial(_as_caller, principal.name))


async def _relay(result: Any) -> AsyncIterator[Any]:
    """The messages of a server-streaming behaviour's result: an async generator's items, or
    nothing from a coroutine that writes them itself (`context.write`)."""
    if inspect.isasyncgen(result):
        async for item in result:
            yield item
    else:
        await result


#: the name of the token the current RPC was called with (`caller()`); None without auth
caller_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("caller", default=None)


def caller(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """Who makes the current RPC, for audit records: the token's name with auth on, else the peer."""
    name = caller_var.get()
    return f"token:{name}" if name is not None else f"peer:{context.peer()}"


def _as_caller(name: str, behavior: Behavior, streams: bool) -> Behavior:
    """`behavior` run with `caller_var` set to `name`."""
    if streams:

        async def call_stream(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            caller_var.set(name)
            async for item in _relay(behavior(request, context)):
                yield item

        return call_stream

    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        caller_var.set(name)
        return await behavior(request, context)

    return call


def _deny(handler: Handler, code: grpc.StatusCode, message: str) -> Handler:
    """The handler with its behaviour replaced by an abort with `code` and `message`."""

    def deny(_behavior: Behavior, streams: bool) -> Behavior:
        async def reject(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            await context.abort(code, message)

        async def reject_stream(
            _request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            await context.abort(code, message)
            yield  # pragma: no cover - makes this an async generator

        return reject_stream if streams else reject

    return _rewrap(handler, deny)


class ObserverInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Request id, one log line per RPC, metrics, and domain-error → status mapping."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method or "?"
        request_id = _metadata(handler_call_details).get(REQUEST_ID_KEY) or uuid.uuid4().hex
        observe = _Observation(self._service, method, request_id)

        def wrap(parsed_behavior: Behavior, streams: bool) -> Behavior:
            behavior = checked(parsed_behavior, method, handler.request_streaming, streams)
            if streams:

                async def call_stream(
                    request: Any, context: grpc.aio.ServicerContext[Any, Any]
                ) -> AsyncIterator[Any]:
                    observe.begin(context)
                    try:
                        async for item in _relay(behavior(request, context)):
                            yield item
                    except BaseException as exc:
                        await observe.fail(exc, context)
                    else:
                        observe.end(grpc.StatusCode.OK)

                return call_stream

            async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                observe.begin(context)
                try:
                    response = await behavior(request, context)
                except BaseException as exc:
                    await observe.fail(exc, context)
                observe.end(grpc.StatusCode.OK)
                return response

            return call

        return _rewrap(handler, wrap, lenient(handler.request_deserializer, method))


class _Observation:
    """The bookkeeping of one RPC: timing, in-flight gauge, final code, its log line."""

    def __init__(self, service: str, method: str, request_id: str) -> None:
        self.service, self.method, self.request_id = service, method, request_id
        self._start = 0.0

    def begin(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._start = time.perf_counter()
        request_id_var.set(self.request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, self.request_id),))
        RPC_IN_FLIGHT.labels(self.service, self.method).inc()

    def end(self, code: grpc.StatusCode, error: str | None = None) -> None:
        elapsed = time.perf_counter() - self._start
        RPC_IN_FLIGHT.labels(self.service, self.method).dec()
        RPC_REQUESTS.labels(self.service, self.method, code.name).inc()
        RPC_DURATION.labels(self.service, self.method).observe(elapsed)
        level = logging.ERROR if code == grpc.StatusCode.INTERNAL else logging.INFO
        fields = {"method": self.method, "code": code.name, "duration_ms": round(elapsed * 1e3, 3)}
        if error:
            fields["error"] = error
        log.log(level, "rpc", extra=fields)

    async def fail(self, exc: BaseException, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Record the failure, then end the RPC with the right status (always raises)."""
        if isinstance(exc, FoundryError):
            status = rpc_status.to_status(to_rpc_status(exc, self.request_id))
            self.end(status.code, bounded(str(exc)))
            trailing = (*status.trailing_metadata, (REQUEST_ID_KEY, self.request_id))
            await context.abort(status.code, status.details, trailing)
        if isinstance(exc, grpc.aio.AbortError):  # the servicer aborted with its own status
            code = context.code()
            self.end(code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN)
            raise exc
        if isinstance(exc, (GeneratorExit, KeyboardInterrupt, SystemExit)) or (
            isinstance(exc, BaseException) and not isinstance(exc, Exception)
        ):
            self.end(grpc.StatusCode.CANCELLED)
            raise exc
        log.error("unhandled error in %s", self.method, exc_info=exc)
        self.end(grpc.StatusCode.INTERNAL, bounded(repr(exc)))
        await context.abort(
            grpc.StatusCode.INTERNAL,
            f"internal error (request id {self.request_id})",
            ((REQUEST_ID_KEY, self.request_id),),
        )
