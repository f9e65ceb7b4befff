"""Requests that do not parse, reported as INVALID_ARGUMENT naming the field.

protobuf refuses a `string` field holding invalid UTF-8 while parsing, before any servicer
code runs, and gRPC would answer UNKNOWN. The inference service therefore registers its methods
with `lenient(MessageType)`: a request that does not parse becomes an `Undecodable` carrying
its raw bytes, and `decoded()` (called first by every servicer method) raises
`InvalidArgumentError`. For a PredictRequest the wire bytes are walked to name the input:
`inputs[2].text` or `inputs[0].tokens.tokens[3]`, and the byte offset of the bad sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from foundry.runtime.errors import FieldViolation, InvalidArgumentError

M = TypeVar("M", bound=Message)

# PredictRequest: inputs = 3; PredictInput: text = 2, tokens = 3; TokenList: tokens = 1
_PREDICT_INPUTS, _INPUT_TEXT, _INPUT_TOKENS, _TOKENS = 3, 2, 3, 1


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A request whose bytes are not a valid message of `type_name`."""

    type_name: str
    raw: bytes
    error: str


def lenient(message_type: type[M]) -> Callable[[bytes], M | Undecodable]:
    def parse(raw: bytes) -> M | Undecodable:
        try:
            return message_type.FromString(raw)
        except DecodeError as exc:
            return Undecodable(message_type.DESCRIPTOR.full_name, raw, str(exc))

    return parse


def decoded(request: M | Undecodable) -> M:
    """The request, or `InvalidArgumentError` naming what did not parse."""
    if not isinstance(request, Undecodable):
        return request
    violations = (
        _predict_utf8_violations(request.raw) if request.type_name.endswith(".PredictRequest") else []
    )
    raise InvalidArgumentError(
        f"the request is not a valid {request.type_name}"
        + (" (invalid UTF-8 in a string field)" if violations else f": {request.error}"),
        reason="INVALID_UTF8" if violations else "MALFORMED_REQUEST",
        violations=violations,
    )


def _predict_utf8_violations(raw: bytes) -> list[FieldViolation]:
    violations = []
    try:
        inputs = [value for number, value in _fields(raw) if number == _PREDICT_INPUTS]
        for i, item in enumerate(inputs):
            for number, value in _fields(item):
                if number == _INPUT_TEXT:
                    violations += _utf8(value, f"inputs[{i}].text")
                elif number == _INPUT_TOKENS:
                    words = [v for n, v in _fields(value) if n == _TOKENS]
                    for j, word in enumerate(words):
                        violations += _utf8(word, f"inputs[{i}].tokens.tokens[{j}]")
    except (IndexError, ValueError):
        return []
    return violations


def _utf8(value: bytes, field: str) -> list[FieldViolation]:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [FieldViolation(field, f"is not valid UTF-8 (byte {exc.start}: {exc.reason})")]
    return []


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, payload) of each length-delimited field; other wire types skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated")
            yield number, data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"wire type {wire_type}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


__all__ = ["Undecodable", "decoded", "lenient"]
