"""runtime.uploads.receive_upload: header first, then only the session's parts; the session is
finished in a thread, and aborted however the stream ends otherwise."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.uploads import receive_upload


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

    def finish(self) -> bytes:
        return bytes(self.received)

    def abort(self) -> None:
        self.aborted += 1


class Context:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[Any], None]] = []

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self.callbacks.append(callback)


async def stream(*messages: Message) -> AsyncIterator[Message]:
    for m in messages:
        yield m


async def receive(context: Context, session: Session, *messages: Message) -> bytes:
    def write(s: Session, m: Message) -> None:
        if m.data == b"bad":
            raise InvalidArgumentError("bad chunk")
        s.received.extend(m.data)

    return await receive_upload(
        stream(*messages),
        context,  # type: ignore[arg-type]
        begin=lambda _first: session,
        receive=write,
        finish=Session.finish,
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
