"""One way to receive a client stream of a header and then chunks (Upload, ImportBaseModel,
ImportAnnotations): the first message must be the header, which opens a session; every later
message goes to that session; the session is finished in a worker thread once the stream is
complete, and aborted however the stream ends otherwise (a bad message, a broken stream, a
cancelled RPC, a deadline).

A stream is complete when it ended with the `commit` part (where the RPC has one), or when its
header declares what the session verifies the bytes against (`declared`). A stream that ended
without either stores nothing: with gRPC a client that goes away mid-stream can look, to the
server's reads, exactly like one that closed its side after the last chunk.

The session's life is an explicit state machine, changed under a lock: RECEIVING, then either
ABORTED, or FINISHING (in the worker thread) then FINISHED, or ABORTED if finishing failed. An
abort while FINISHING (the RPC was cancelled while the session was being processed) cannot pull
the scratch from under the worker: it is recorded, the worker's `gate` raises at the session's
commit point (right before it stores anything), and the worker drops the scratch when it ends.
Past the gate the version is stored even if the call ends meanwhile (its response is then lost,
as any response can be); the client had committed and the bytes were verified.

What a session does with the bytes (spooling to local scratch, size and sha256 checks) is the
service's; the session knows nothing of gRPC: the caller's `receive` hands it each message's part.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any, Generic, Protocol, TypeVar

import grpc

from foundry.runtime.errors import AbortedError, FieldViolation, InvalidArgumentError
from foundry.runtime.workpool import WorkPool

M = TypeVar("M", bound="StreamMessage")
S = TypeVar("S", bound="UploadSession")
R = TypeVar("R")

#: called by a finishing session right before it stores anything; raises if the RPC has ended
Gate = Callable[[], None]


class StreamMessage(Protocol):
    """A message of an upload stream: a `part` oneof whose first case is `header`."""

    def WhichOneof(self, oneof_group: Any, /) -> str | None: ...


class UploadSession(Protocol):
    """What the stream feeds; `abort` drops what was received (it may be called more than once,
    and after the session finished)."""

    def abort(self) -> None: ...


class Stage(enum.Enum):
    RECEIVING = "receiving"
    FINISHING = "finishing"
    FINISHED = "finished"
    ABORTED = "aborted"


class SessionLife(Generic[S]):
    """The session's stage, changed under a lock, so that an abort (from the event loop: the
    RPC's done callback, a cancelled await) and `finish` (in a worker thread) never race."""

    def __init__(self, session: S) -> None:
        self.session = session
        self.stage = Stage.RECEIVING
        self._abort_requested = False
        self._lock = threading.Lock()

    def abort(self) -> None:
        """Drop the session; while it is finishing, make its gate refuse (its worker drops it)."""
        with self._lock:
            if self.stage is Stage.FINISHING:
                self._abort_requested = True
                return
            if self.stage is Stage.ABORTED:
                return  # dropped already
            if self.stage is Stage.RECEIVING:
                self.stage = Stage.ABORTED
        self.session.abort()  # a finished session's leftovers go with the RPC

    def finish(self, finish: Callable[[S, Gate], R]) -> R:
        """Run `finish(session, gate)` (in a worker thread); the session is dropped afterwards
        unless it finished, and then with the RPC."""
        with self._lock:
            if self.stage is not Stage.RECEIVING:
                raise _ended()
            self.stage = Stage.FINISHING
        finished = False
        try:
            result = finish(self.session, self.gate)
            finished = True
            return result
        finally:
            with self._lock:
                self.stage = Stage.FINISHED if finished else Stage.ABORTED
                drop = not finished or self._abort_requested
            if drop:
                self.session.abort()

    def gate(self) -> None:
        """The session's commit point: raise if the RPC ended while the session was finishing."""
        with self._lock:
            if self._abort_requested:
                raise _ended()


def _ended() -> AbortedError:
    return AbortedError(
        "the call ended (cancelled, broken off or past its deadline) before the upload was stored; "
        "nothing was stored",
        reason="UPLOAD_CANCELLED",
    )


def _not_committed(what: str, commit: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"{what} ended without a {commit} message, and its header declares no size and sha256 "
        "to verify it against; nothing was stored",
        reason="UPLOAD_NOT_COMMITTED",
        violations=[FieldViolation(commit, "send it last, or declare size_bytes and sha256 in the header")],
    )


async def receive_upload(
    requests: AsyncIterator[M],
    context: grpc.aio.ServicerContext[Any, Any],
    *,
    begin: Callable[[M], S],
    receive: Callable[[S, M], None],
    finish: Callable[[S, Gate], R],
    parts: Collection[str] = ("chunk",),
    commit: str | None = None,
    declared: Callable[[M], bool] = lambda _header: True,
    what: str = "an upload",
    pool: WorkPool | None = None,
) -> R:
    """Open a session with `begin(header message)`, hand it every later message with `receive`
    (each must carry one of `parts`), then return `finish(session, gate)`, run in a worker thread
    (of `pool`, the service's bounded work pool, when given).

    With `commit` (a part name), the stream must end with that part unless `declared(header)`
    says the header declares the size and sha256 the session verifies; nothing may follow it.

    `begin` runs on the event loop, not in a thread: a cancellation while it ran in one would
    leave its scratch behind. However the RPC ends, the session is aborted (`context`'s done
    callback), so nothing half-received stays on disk.
    """
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("part") != "header":
        raise InvalidArgumentError(
            f"{what} starts with its header", violations=[FieldViolation("header", "first message")]
        )
    life = SessionLife(begin(first))

    def drop_scratch(_context: object) -> None:
        life.abort()

    context.add_done_callback(drop_scratch)  # type: ignore[arg-type]  # the stubs type it as a class
    try:
        committed = False
        async for request in requests:
            part = request.WhichOneof("part")
            if committed:
                raise InvalidArgumentError(
                    f"nothing follows the {commit} message",
                    violations=[FieldViolation(part or "", "after commit")],
                )
            if commit is not None and part == commit:
                committed = True
                continue
            if part not in parts:
                raise InvalidArgumentError(
                    "only the first message is a header", violations=[FieldViolation("header", "repeated")]
                )
            receive(life.session, request)
        if context.cancelled():
            raise _ended()
        if commit is not None and not committed and not declared(first):
            raise _not_committed(what, commit)
        # a cancellation while the worker runs aborts the session too: its gate then refuses
        if pool is not None:
            return await pool.run(context, life.finish, finish)
        return await asyncio.to_thread(life.finish, finish)
    except BaseException:
        life.abort()  # the stream broke off, was bad or incomplete, or the call ended: nothing is stored
        raise


__all__ = ["Gate", "SessionLife", "Stage", "StreamMessage", "UploadSession", "receive_upload"]
