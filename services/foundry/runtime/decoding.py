"""Requests that do not parse are INVALID_ARGUMENT naming the RPC and the field, on every RPC.

protobuf refuses a message while parsing it (garbage bytes, a truncated field, invalid UTF-8 in
a `string` field) before any servicer code runs; gRPC would then answer UNKNOWN ("Unexpected
DecodeError") for a unary request and INTERNAL for a streamed one. The observer interceptor
therefore rebuilds every handler with `lenient(deserializer, method)`: a message that does not
parse becomes an `Undecodable` marker carrying its raw bytes, and `checked(behaviour, ...)`
raises `InvalidArgumentError` for it (for a client stream, when the servicer reaches that
message) before the servicer sees it. The bad field of an invalid UTF-8 string is located by
walking the wire bytes with the request's descriptor: `inputs[2].text`,
`inputs[0].tokens.tokens[3]`, with the byte offset of the bad sequence.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from foundry.runtime.errors import FieldViolation, InvalidArgumentError, bounded

#: how deep nested messages are walked, and how many bad fields are named at most
MAX_DEPTH = 32
MAX_NAMED_FIELDS = 10

Behavior = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A request message of `method` whose bytes did not parse."""

    method: str
    raw: bytes
    error: str


def request_descriptor(method: str) -> Descriptor | None:
    """The request message type of `/package.Service/Method`, from the default descriptor pool."""
    service, _, name = method.strip("/").rpartition("/")
    try:
        found = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(name)
    except (KeyError, TypeError):
        return None
    return None if found is None else found.input_type


def lenient(deserializer: Callable[[bytes], Any] | None, method: str) -> Callable[[bytes], Any]:
    """`deserializer` that never raises: a message it refuses becomes an `Undecodable`."""

    def parse(raw: bytes) -> Any:
        if deserializer is None:
            return raw
        try:
            return deserializer(raw)
        except Exception as exc:  # DecodeError, or any other refusal of the bytes
            return Undecodable(method, raw, str(exc) or type(exc).__name__)

    return parse


def decoded(request: Any, method: str = "") -> Any:
    """The request, or `InvalidArgumentError` naming the RPC and what did not parse."""
    if not isinstance(request, Undecodable):
        return request
    method = method or request.method
    descriptor = request_descriptor(method)
    violations = utf8_violations(request.raw, descriptor) if descriptor is not None else []
    what = descriptor.full_name if descriptor is not None else "request"
    if violations:
        message = f"{method}: the request is not a valid {what} (invalid UTF-8 in a string field)"
    else:
        message = f"{method}: the request is not a valid {what}: {bounded(request.error, 200)}"
    raise InvalidArgumentError(
        message,
        reason="INVALID_UTF8" if violations else "MALFORMED_REQUEST",
        violations=violations,
        metadata={"method": method},
    )


async def _checked_stream(requests: AsyncIterator[Any], method: str) -> AsyncIterator[Any]:
    async for request in requests:
        yield decoded(request, method)


def checked(behavior: Behavior, method: str, request_streaming: bool, response_streaming: bool) -> Behavior:
    """`behavior` that gets only parsed requests: an `Undecodable` one (or, for a client stream,
    the first one reached) raises `InvalidArgumentError` instead."""

    def request_of(request: Any) -> Any:
        return _checked_stream(request, method) if request_streaming else decoded(request, method)

    if response_streaming:

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            result = behavior(request_of(request), context)
            if inspect.isasyncgen(result):
                async for item in result:
                    yield item
            else:
                await result

        return stream

    async def call(request: Any, context: Any) -> Any:
        return await behavior(request_of(request), context)

    return call


def utf8_violations(raw: bytes, descriptor: Descriptor) -> list[FieldViolation]:
    """Each `string` field of `raw` (a `descriptor` message) holding invalid UTF-8, by path."""
    found: list[FieldViolation] = []
    # where the bytes break off or are not a message, what was found so far is all we name
    with contextlib.suppress(IndexError, ValueError):
        _walk(raw, descriptor, "", found, 0)
    return found[:MAX_NAMED_FIELDS]


def _walk(data: bytes, descriptor: Descriptor, prefix: str, found: list[FieldViolation], depth: int) -> None:
    if depth > MAX_DEPTH:
        return
    seen: dict[int, int] = {}
    for number, value in _fields(data):
        if len(found) >= MAX_NAMED_FIELDS:
            return
        field = descriptor.fields_by_number.get(number)
        if field is None:
            continue
        index = seen.get(number, 0)
        seen[number] = index + 1
        path = prefix + field.name + (f"[{index}]" if _repeated(field) else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as exc:
                found.append(FieldViolation(path, f"is not valid UTF-8 (byte {exc.start}: {exc.reason})"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            _walk(value, field.message_type, path + ".", found, depth + 1)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(getattr(field, "is_repeated", False))


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
    while shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("varint too long")


__all__ = ["Undecodable", "checked", "decoded", "lenient", "request_descriptor", "utf8_violations"]
