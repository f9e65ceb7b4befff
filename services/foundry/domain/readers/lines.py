"""Bounded, streaming line reading from a binary file: one item per physical line.

`iter_lines` reads fixed-size chunks, never more than one chunk plus one line's worth of bytes
at a time, and yields each line decoded and without its terminator ("\\n" or "\\r\\n"), or a
`BadLine` for a line longer than the limit (skipped without being held in memory) or one that
does not decode. Item k is physical line k + 1, so `enumerate(iter_lines(...), 1)` numbers them.

For encodings in which "\\n" is the byte 0x0A and never part of another character (UTF-8,
Latin-1, the Windows code pages, GBK, Big5, Shift-JIS) a whole chunk is decoded and split at
once; UTF-16/UTF-32 go through `io.TextIOWrapper` with its line limit counted in characters.
A UTF-8 byte-order mark at the start is dropped.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO

#: how much is read at a time
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that could not be read: `reason` is "record_too_large" or "bad_encoding"."""

    reason: str
    description: str


def _too_long(max_line_bytes: int) -> BadLine:
    return BadLine("record_too_large", f"line is longer than max_record_bytes ({max_line_bytes} bytes)")


def iter_lines(
    stream: IO[bytes], *, max_line_bytes: int, encoding: str = "utf-8", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[str | BadLine]:
    """The lines of `stream` decoded with `encoding`, each a `str` or a `BadLine`."""
    for lines, _clean in iter_line_blocks(
        stream, max_line_bytes=max_line_bytes, encoding=encoding, chunk_bytes=chunk_bytes
    ):
        yield from lines


def iter_line_blocks(
    stream: IO[bytes], *, max_line_bytes: int, encoding: str = "utf-8", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[Sequence[str | BadLine], bool]]:
    """The lines of `stream` a chunk at a time: (lines, whether they are all `str`).

    For readers that keep a tight loop over clean blocks and a careful one for the others.
    """
    codec = codecs.lookup(encoding).name
    if codec == "utf-8-sig":
        codec = "utf-8"  # the BOM is dropped below
    if "\n".encode(codec) != b"\n":
        for line in _iter_wide_lines(stream, max_line_bytes, codec):
            yield [line], isinstance(line, str)
        return
    first = True
    pending = b""  # the start of a line whose end is in a later chunk
    skipping = False  # inside an overlong line: drop bytes up to the next newline
    while chunk := stream.read(chunk_bytes):
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            skipping = False
        cut = chunk.rfind(b"\n")
        if cut < 0:
            pending += chunk
        else:
            block = pending + chunk[:cut] if pending else chunk[:cut]
            pending = chunk[cut + 1 :]
            yield _decode_block(block, codec, max_line_bytes, first)
            first = False
        if len(pending) > max_line_bytes:
            yield [_too_long(max_line_bytes)], False
            pending = b""
            skipping = True
    if pending:
        yield _decode_block(pending, codec, max_line_bytes, first)


def _decode_block(
    block: bytes, codec: str, max_line_bytes: int, first: bool
) -> tuple[Sequence[str | BadLine], bool]:
    """The lines of `block` (complete lines, newlines between them, none at the end), and if all are `str`."""
    if first and codec == "utf-8" and block.startswith(codecs.BOM_UTF8):
        block = block[len(codecs.BOM_UTF8) :]
    if len(block) <= max_line_bytes or max(map(len, block.split(b"\n"))) <= max_line_bytes:
        try:
            text = block.decode(codec)
        except UnicodeDecodeError:
            pass
        else:
            lines = text.split("\n")
            if "\r" in text:
                lines = [line[:-1] if line.endswith("\r") else line for line in lines]
            return lines, True
    decoded = [_decode_line(raw, codec, max_line_bytes) for raw in block.split(b"\n")]
    return decoded, all(isinstance(line, str) for line in decoded)


def _decode_line(raw: bytes, codec: str, max_line_bytes: int) -> str | BadLine:
    if len(raw) > max_line_bytes:
        return _too_long(max_line_bytes)
    try:
        line = raw.decode(codec)
    except UnicodeDecodeError as error:
        return BadLine("bad_encoding", f"not valid {codec} at byte {error.start}: {error.reason}")
    return line[:-1] if line.endswith("\r") else line


def _iter_wide_lines(stream: IO[bytes], max_line_bytes: int, codec: str) -> Iterator[str | BadLine]:
    """Lines of a stream in an encoding where "\\n" is more than one byte (UTF-16, UTF-32)."""
    unit = len("\n\n".encode(codec)) - len("\n".encode(codec))  # bytes of one "\n", BOM aside
    max_chars = max(1, max_line_bytes // unit)
    text = io.TextIOWrapper(io.BufferedReader(_Unclosable(stream)), encoding=codec, newline="")
    try:
        while line := text.readline(max_chars + 1):
            if len(line) > max_chars and not line.endswith("\n"):
                yield _too_long(max_line_bytes)
                while (rest := text.readline(max_chars)) and not rest.endswith("\n"):
                    pass
                continue
            line = line.removesuffix("\n").removesuffix("\r").removeprefix("\ufeff")
            yield line
    except UnicodeDecodeError as error:
        yield BadLine("bad_encoding", f"not valid {codec}: {error.reason}")
    finally:
        text.detach()


class _Unclosable(io.RawIOBase):
    """A read-only view of a binary stream that `TextIOWrapper` may wrap without closing it."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__()
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
