"""Fuzzing every RPC of running services from the generated descriptors (for the fuzz test and
`bench/hardening.py`).

`fuzz_rpcs(channels)` sends, to every method of every service a channel is given for: (a) garbage
bytes, (b) valid messages with invalid UTF-8 in one string field, (c) random messages built from
the request descriptor (integers at their extremes, negative numbers, unknown enum values, empty
and long strings, repeated fields of bounded length, nested messages, one case of each oneof). A
client-streaming RPC gets a stream of such messages (a bad message first, or after a random one).
Each call has a deadline; a call that neither answers nor fails by then is a hung call. The
report counts the RPCs and cases, and lists every UNKNOWN or INTERNAL answer and every hang.

Seeded (`random.Random(seed)`): a failure is reproduced by running again with the same seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import pkgutil
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

import foundry.api

#: messages a server stream may send before the fuzzer stops reading, and how long it waits for
#: the next one after the first (Health.Watch and WatchJob stay open: a stream that answered is
#: not hung)
STREAM_READ_LIMIT = 20
STREAM_QUIET_S = 1.0
#: how deep random messages nest, and the most items of a repeated field
MAX_DEPTH = 3
MAX_REPEATED = 40

#: Fields that size the work a request asks for, given realistic values only (name → (low, high)).
#: Empty: every such field has a maximum the services enforce before work starts (issue 15 item 6),
#: so the fuzz sends them extremes too (e.g. Aggregate's max_iterations=2**31-1, mutated from the
#: Dawid-Skene template over real annotations in `helpers.fuzzstack`) and proves the maxima.
WORK_SIZE_FIELDS: dict[str, tuple[int, int]] = {}

FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-9, 3.0e38, -3.0e38, math.inf, -math.inf, math.nan]
STRINGS = ["", "a", " ", "-1", "0", "名前 😀", "../../etc/passwd", "a/b/../c", "\x00", "x" * 300, "y" * 5000]
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
BAD_UTF8 = [b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\x80abc"]


def all_services() -> list[ServiceDescriptor]:
    """Every service of the generated API (`foundry.api`), then the standard health service."""
    services: list[ServiceDescriptor] = []
    for info in pkgutil.walk_packages(foundry.api.__path__, "foundry.api."):
        if info.name.endswith("_pb2"):
            services += importlib.import_module(info.name).DESCRIPTOR.services_by_name.values()
    return [*services, health_pb2.DESCRIPTOR.services_by_name["Health"]]


@dataclass(frozen=True)
class Finding:
    method: str
    case: str
    code: str
    details: str


@dataclass
class FuzzReport:
    rpcs_fuzzed: int = 0
    fuzz_cases: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    #: (method, code) → count: which RPCs the random requests got past validation on
    by_method: Counter[tuple[str, str]] = field(default_factory=Counter)
    unknown_or_internal: list[Finding] = field(default_factory=list)
    hung_calls: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "rpcs_fuzzed": self.rpcs_fuzzed,
            "fuzz_cases": self.fuzz_cases,
            "unknown_or_internal": len(self.unknown_or_internal),
            "hung_calls": len(self.hung_calls),
        }


class _Generator:
    def __init__(self, rng: random.Random, known: Sequence[str] = ()) -> None:
        self.rng = rng
        self.known = list(known)
        self.unset = 0.25  # how often a field is left unset (varied per message: sparse ones get deeper)

    def message(self, descriptor: Descriptor, depth: int = 0) -> Message:
        msg: Message = message_factory.GetMessageClass(descriptor)()
        chosen = {o.name: self.rng.choice(o.fields) for o in descriptor.oneofs}
        for f in descriptor.fields:
            oneof = f.containing_oneof
            if oneof is not None and chosen.get(oneof.name) is not f:
                continue
            if self.rng.random() < self.unset:
                continue  # left unset
            # a value the Python runtime refuses to hold is not one a client can send
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                self._set(msg, f, depth)
        return msg

    def _set(self, msg: Message, f: FieldDescriptor, depth: int) -> None:
        target: Any = getattr(msg, f.name)
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key_field, value_field = (
                f.message_type.fields_by_name["key"],
                f.message_type.fields_by_name["value"],
            )
            for _ in range(self._count()):
                key = self.scalar(key_field)
                if value_field.message_type is not None:
                    target[key].CopyFrom(self.message(value_field.message_type, depth + 1))
                else:
                    target[key] = self.scalar(value_field)
        elif getattr(f, "is_repeated", False):
            for _ in range(self._count()):
                if f.message_type is not None:
                    target.add().CopyFrom(self.message(f.message_type, depth + 1))
                else:
                    target.append(self.scalar(f))
        elif f.message_type is not None:
            if depth < MAX_DEPTH:
                target.CopyFrom(self.message(f.message_type, depth + 1))
        else:
            setattr(msg, f.name, self.scalar(f))

    def _count(self) -> int:
        return self.rng.choice([0, 1, 1, 2, 3, 5, MAX_REPEATED])

    def scalar(self, f: FieldDescriptor) -> Any:
        rng = self.rng
        if f.name in WORK_SIZE_FIELDS:
            return rng.randint(*WORK_SIZE_FIELDS[f.name])
        if f.type in INT_RANGES:
            low, high = INT_RANGES[f.type]
            return rng.choice(
                [0, 1, -1 if low < 0 else 2, low, high, rng.randint(low, high), rng.randint(-5, 1000)]
            )
        if f.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
            return rng.choice(FLOATS + ([1e308, -1e308] if f.type == FieldDescriptor.TYPE_DOUBLE else []))
        if f.type == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if f.type == FieldDescriptor.TYPE_STRING:
            if self.known and rng.random() < 0.5:
                return rng.choice(self.known)  # a name or id that exists: the request goes deeper
            return rng.choice(
                [*STRINGS, "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 40)))]
            )
        if f.type == FieldDescriptor.TYPE_BYTES:
            return rng.randbytes(rng.choice([0, 1, 16, 1000]))
        if f.type == FieldDescriptor.TYPE_ENUM:
            assert f.enum_type is not None
            return rng.choice([*(v.number for v in f.enum_type.values), 999, -1])
        raise TypeError(f"field type {f.type}")

    def mutate(self, template: Message, changes: int) -> Message:
        """A copy of `template` (a valid request) with `changes` fields, at any depth, replaced
        by random values: requests that get past validation to the work behind it."""
        msg: Message = type(template)()
        msg.CopyFrom(template)
        for _ in range(changes):
            target: Any = msg
            depth = 0
            while True:
                f = self.rng.choice(target.DESCRIPTOR.fields)
                nested = f.message_type is not None and not getattr(f, "is_repeated", False)
                if nested and depth < MAX_DEPTH and self.rng.random() < 0.6:
                    target, depth = getattr(target, f.name), depth + 1
                    continue
                target.ClearField(f.name)
                with contextlib.suppress(TypeError, ValueError, OverflowError):
                    self._set(target, f, depth)
                break
        return msg


def _string_fields(descriptor: Descriptor, depth: int = 0) -> Iterator[list[FieldDescriptor]]:
    """Paths (lists of fields) to the string fields of `descriptor`, shallow first."""
    for f in descriptor.fields:
        if f.type == FieldDescriptor.TYPE_STRING:
            yield [f]
    if depth < MAX_DEPTH:
        for f in descriptor.fields:
            if f.message_type is not None and not f.message_type.GetOptions().map_entry:
                for path in _string_fields(f.message_type, depth + 1):
                    yield [f, *path]


def _with_bad_utf8(descriptor: Descriptor, path: Sequence[FieldDescriptor], bad: bytes) -> bytes:
    """A message whose string at `path` holds `bad` (protobuf refuses to build one: spliced in)."""
    msg: Message = message_factory.GetMessageClass(descriptor)()
    target: Any = msg
    for f in path[:-1]:
        target = (
            getattr(target, f.name).add() if getattr(f, "is_repeated", False) else getattr(target, f.name)
        )
    marker = "Q" * len(bad)
    last = path[-1]
    if getattr(last, "is_repeated", False):
        getattr(target, last.name).append(marker)
    else:
        setattr(target, last.name, marker)
    return msg.SerializeToString().replace(marker.encode(), bad, 1)


def cases(
    method: MethodDescriptor,
    rng: random.Random,
    random_cases: int,
    known: Sequence[str] = (),
    templates: Sequence[Message] = (),
) -> list[tuple[str, list[bytes]]]:
    """(case name, request messages) for `method`: garbage, invalid UTF-8, random messages
    (whose strings are often one of `known`: names and ids of things that exist), and as many
    mutations of each valid `templates` request."""
    gen = _Generator(rng, known)
    descriptor = method.input_type
    garbage = [b"\xff\xff\xff\xff", b"\x08", b"\x0f", b"\x12\x05ab", rng.randbytes(rng.randint(1, 64))]
    out: list[tuple[str, list[bytes]]] = [(f"garbage[{i}]", [g]) for i, g in enumerate(garbage)]
    for path in list(_string_fields(descriptor))[:3]:
        name = ".".join(f.name for f in path)
        out.append((f"utf8:{name}", [_with_bad_utf8(descriptor, path, rng.choice(BAD_UTF8))]))
    for i in range(random_cases):
        count = rng.randint(1, 3) if method.client_streaming else 1
        gen.unset = rng.choice([0.25, 0.6, 0.85])
        out.append((f"random[{i}]", [gen.message(descriptor).SerializeToString() for _ in range(count)]))
    for t, template in enumerate(templates):
        for i in range(random_cases):
            mutated = gen.mutate(template, rng.choice([1, 1, 2, 3]))
            out.append((f"mutated[{t}][{i}]", [mutated.SerializeToString()]))
    if method.client_streaming:
        first = gen.message(descriptor).SerializeToString()
        out.append(("stream:garbage-after-first", [first, garbage[0]]))
    return out


async def call(
    channel: grpc.aio.Channel, method: MethodDescriptor, requests: list[bytes], deadline_s: float
) -> tuple[grpc.StatusCode, str]:
    """Send raw `requests` to `method`; its status code (OK when it answered) and details."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    raw: Any = channel  # raw bytes in and out: no serializers (the stubs type these calls by message)
    try:
        if method.client_streaming and method.server_streaming:
            stream: Any = raw.stream_stream(path)(iter(requests), timeout=deadline_s)
        elif method.client_streaming:
            await raw.stream_unary(path)(iter(requests), timeout=deadline_s)
            return grpc.StatusCode.OK, ""
        elif method.server_streaming:
            stream = raw.unary_stream(path)(requests[0], timeout=deadline_s)
        else:
            await raw.unary_unary(path)(requests[0], timeout=deadline_s)
            return grpc.StatusCode.OK, ""
        for read in range(STREAM_READ_LIMIT):
            try:
                item = await (stream.read() if read == 0 else asyncio.wait_for(stream.read(), STREAM_QUIET_S))
            except TimeoutError:
                break
            if item is grpc.aio.EOF:
                return grpc.StatusCode.OK, ""
        stream.cancel()
        return grpc.StatusCode.OK, ""
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""


async def fuzz_rpcs(
    channels: Mapping[str, grpc.aio.Channel],
    *,
    seed: int = 15,
    random_cases: int = 8,
    deadline_s: float = 10.0,
    services: Sequence[ServiceDescriptor] | None = None,
    known: Sequence[str] = (),
    templates: Mapping[str, Sequence[Message]] | None = None,
) -> FuzzReport:
    """Fuzz every method of every service in `services` (default: `all_services()`) that
    `channels` (service full name → channel) has a channel for; `known` strings (names and ids
    of stored things) are used for half the random strings, so requests get past lookups;
    `templates` (`/Service/Method` → valid requests) are mutated a field or a few at a time."""
    rng = random.Random(seed)
    report = FuzzReport()
    started = time.monotonic()
    for service in services or all_services():
        channel = channels.get(service.full_name)
        if channel is None:
            continue
        for method in service.methods:
            report.rpcs_fuzzed += 1
            path = f"/{service.full_name}/{method.name}"
            mine = (templates or {}).get(path, ())
            for name, requests in cases(method, rng, random_cases, known, mine):
                code, details = await call(channel, method, requests, deadline_s)
                report.fuzz_cases += 1
                report.codes[code.name] += 1
                finding = Finding(f"{service.full_name}/{method.name}", name, code.name, details[:300])
                report.by_method[finding.method, code.name] += 1
                if code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                    report.unknown_or_internal.append(finding)
                elif code is grpc.StatusCode.DEADLINE_EXCEEDED:
                    report.hung_calls.append(finding)
    report.seconds = time.monotonic() - started
    return report


__all__ = ["Finding", "FuzzReport", "all_services", "call", "cases", "fuzz_rpcs"]
