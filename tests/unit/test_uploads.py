"""runtime.uploads.receive_upload: header first, then only the session's parts; the session is
finished in a thread once the stream is complete (a commit message, or a header that declares what
to verify), and aborted however the stream ends otherwise; abort and finish never race."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from foundry.runtime.errors import AbortedError, InvalidArgumentError
from foundry.runtime.uploads import Gate, SessionLife, Stage, receive_upload


@dataclass
class Message:
    part: str | None
    data: bytes = b""

    def WhichOneof(self, _group: str) -> str | None:
        return self.part


@dataclass
class Session:
    received: bytearray = field(default_factory=bytearray)
    aborted: int = 0
    stored: bytes | None = None

    def finish(self, gate: Gate) -> bytes:
        gate()
        self.stored = bytes(self.received)
        return self.stored

    def abort(self) -> None:
        self.aborted += 1


class Context:
    def __init__(self, cancelled: bool = False) -> None:
        self.callbacks: list[Callable[[Any], None]] = []
        self._cancelled = cancelled

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self.callbacks.append(callback)

    def cancelled(self) -> bool:
        return self._cancelled


async def stream(*messages: Message) -> AsyncIterator[Message]:
    for m in messages:
        yield m


def write(s: Session, m: Message) -> None:
    if m.data == b"bad":
        raise InvalidArgumentError("bad chunk")
    s.received.extend(m.data)


async def receive(
    context: Context, session: Session, *messages: Message, commit: str | None = None, declared: bool = False
) -> bytes:
    return await receive_upload(
        stream(*messages),
        context,  # type: ignore[arg-type]
        begin=lambda _first: session,
        receive=write,
        finish=lambda s, gate: s.finish(gate),
        commit=commit,
        declared=lambda _header: declared,
        what="an import",
    )


async def test_header_then_chunks_are_finished_and_the_scratch_goes_with_the_rpc() -> None:
    context, session = Context(), Session()
    out = await receive(context, session, Message("header"), Message("chunk", b"ab"), Message("chunk", b"c"))
    assert out == b"abc" and session.aborted == 0
    (done,) = context.callbacks
    done(context)
    assert session.aborted == 1


@pytest.mark.parametrize("messages", [(), (Message("chunk", b"x"),)])
async def test_a_stream_starts_with_its_header(messages: tuple[Message, ...]) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await receive(Context(), Session(), *messages)
    assert info.value.message == "an import starts with its header"
    assert [(v.field, v.description) for v in info.value.violations] == [("header", "first message")]


@pytest.mark.parametrize("bad", [Message("header"), Message(None), Message("chunk", b"bad")])
async def test_a_bad_message_aborts_the_session(bad: Message) -> None:
    session = Session()
    with pytest.raises(InvalidArgumentError) as info:
        await receive(Context(), session, Message("header"), Message("chunk", b"a"), bad)
    assert session.aborted == 1
    if bad.part != "chunk":
        assert info.value.message == "only the first message is a header"


async def test_with_a_commit_part_the_stream_must_end_with_it_unless_the_header_declares() -> None:
    session = Session()
    with pytest.raises(InvalidArgumentError) as info:
        await receive(Context(), session, Message("header"), Message("chunk", b"a"), commit="commit")
    assert info.value.reason == "UPLOAD_NOT_COMMITTED" and "nothing was stored" in info.value.message
    assert [v.field for v in info.value.violations] == ["commit"]
    assert session.aborted == 1 and session.stored is None

    committed = Session()
    header, chunk = Message("header"), Message("chunk", b"a")
    assert await receive(Context(), committed, header, chunk, Message("commit"), commit="commit") == b"a"
    declared = Session()
    assert await receive(Context(), declared, header, chunk, commit="commit", declared=True) == b"a"


async def test_nothing_follows_the_commit() -> None:
    session = Session()
    with pytest.raises(InvalidArgumentError) as info:
        await receive(
            Context(), session, Message("header"), Message("commit"), Message("chunk", b"a"), commit="commit"
        )
    assert info.value.message == "nothing follows the commit message"
    assert session.aborted == 1 and session.stored is None


async def test_a_cancelled_call_stores_nothing_even_with_a_commit() -> None:
    session = Session()
    with pytest.raises(AbortedError) as info:
        await receive(Context(cancelled=True), session, Message("header"), Message("commit"), commit="commit")
    assert info.value.reason == "UPLOAD_CANCELLED"
    assert session.aborted == 1 and session.stored is None


class SlowSession(Session):
    """Finishes in a worker thread that waits until the test lets it reach its commit point."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.proceed = threading.Event()
        self.dropped = threading.Event()

    def abort(self) -> None:
        super().abort()
        self.dropped.set()

    def finish(self, gate: Gate) -> bytes:
        self.started.set()
        assert self.proceed.wait(10)
        assert self.aborted == 0  # the scratch is still there while the worker runs
        return super().finish(gate)


async def test_an_abort_while_finishing_waits_for_the_worker_and_its_gate_refuses() -> None:
    context, session = Context(), SlowSession()
    task = asyncio.create_task(
        receive(
            context, session, Message("header"), Message("chunk", b"a"), Message("commit"), commit="commit"
        )
    )
    assert await asyncio.to_thread(session.started.wait, 10)
    task.cancel()  # a deadline or a client gone: the handler is cancelled while the worker runs
    for callback in context.callbacks:
        callback(context)  # the RPC's done callback, at the same time
    assert session.aborted == 0
    session.proceed.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(session.dropped.wait, 10)  # the worker drops the scratch
    assert session.stored is None and session.aborted == 1


def test_the_life_of_a_session() -> None:
    life = SessionLife(Session())
    assert life.stage is Stage.RECEIVING
    assert life.finish(lambda s, gate: (gate(), b"done")[1]) == b"done"
    assert life.stage is Stage.FINISHED and life.session.aborted == 0
    life.abort()
    life.abort()
    assert life.stage is Stage.FINISHED and life.session.aborted == 2  # abort is idempotent

    aborted = SessionLife(Session())
    aborted.abort()
    assert aborted.stage is Stage.ABORTED and aborted.session.aborted == 1
    with pytest.raises(AbortedError):
        aborted.finish(Session.finish)  # a session aborted first is never finished

    failing = SessionLife(Session())

    def fail(_s: Session, _gate: Gate) -> bytes:
        raise InvalidArgumentError("bad file")

    with pytest.raises(InvalidArgumentError):
        failing.finish(fail)
    assert failing.stage is Stage.ABORTED and failing.session.aborted == 1
