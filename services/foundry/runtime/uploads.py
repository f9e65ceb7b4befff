"""One way to receive a client stream of a header and then chunks (Upload, ImportBaseModel,
ImportAnnotations): the first message must be the header, which opens a session; every later
message goes to that session; the session is finished in a worker thread, and aborted however the
stream ends otherwise (a bad message, a broken stream, a cancelled RPC).

What a session does with the bytes (spooling to local scratch, size and sha256 checks) is the
service's; the session knows nothing of gRPC: the caller's `receive` hands it each message's part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any, Protocol, TypeVar

import grpc

from foundry.runtime.errors import FieldViolation, InvalidArgumentError

M = TypeVar("M", bound="StreamMessage")
S = TypeVar("S", bound="UploadSession")
R = TypeVar("R")


class StreamMessage(Protocol):
    """A message of an upload stream: a `part` oneof whose first case is `header`."""

    def WhichOneof(self, oneof_group: Any, /) -> str | None: ...


class UploadSession(Protocol):
    """What the stream feeds; `abort` drops what was received (it may be called more than once,
    and after the session finished)."""

    def abort(self) -> None: ...


async def receive_upload(
    requests: AsyncIterator[M],
    context: grpc.aio.ServicerContext[Any, Any],
    *,
    begin: Callable[[M], S],
    receive: Callable[[S, M], None],
    finish: Callable[[S], R],
    parts: Collection[str] = ("chunk",),
    what: str = "an upload",
) -> R:
    """Open a session with `begin(header message)`, hand it every later message with `receive`
    (each must carry one of `parts`), then return `finish(session)`, run in a worker thread.

    `begin` runs on the event loop, not in a thread: a cancellation while it ran in one would
    leave its scratch behind. However the RPC ends, the session is aborted (`context`'s done
    callback), so nothing half-received stays on disk.
    """
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidArgumentError(
            f"{what} starts with its header", violations=[FieldViolation("header", "first message")]
        )
    session = begin(first)

    def drop_scratch(_context: object) -> None:
        session.abort()

    context.add_done_callback(drop_scratch)  # type: ignore[arg-type]  # the stubs type it as a class
    try:
        async for request in requests:
            if request.WhichOneof("part") not in parts:
                raise InvalidArgumentError(
                    "only the first message is a header", violations=[FieldViolation("header", "repeated")]
                )
            receive(session, request)
    except BaseException:
        session.abort()  # the stream broke off or was bad: nothing is stored
        raise
    return await asyncio.to_thread(finish, session)


__all__ = ["StreamMessage", "UploadSession", "receive_upload"]
