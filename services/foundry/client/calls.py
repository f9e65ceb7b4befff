"""`ServiceClient`: the base of every service's client. It owns one channel and makes every call
the same way: the bearer token, a deadline (the settings' default, or the caller's), retries on
UNAVAILABLE only with exponential backoff and jitter, and failures raised as domain errors.

Retries are bounded (`client_max_attempts`) and stay within the call's deadline. A call is
retried only where a repeat cannot do anything twice: reads, calls the service makes idempotent
(a request id it dedupes on, content-addressed results), a response stream before its first
message, a client stream before any message after its header was taken.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self, TypeVar

import grpc

from foundry.client.channel import call_metadata, open_channel
from foundry.client.errors import error_from_rpc
from foundry.runtime.errors import FoundryError, UnavailableError
from foundry.runtime.settings import ServiceName, Settings

Req = TypeVar("Req")
Resp = TypeVar("Resp")
#: the longest backoff between two tries
MAX_BACKOFF_S = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and how far apart, a call failing UNAVAILABLE is tried again."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.2
    max_backoff_s: float = MAX_BACKOFF_S

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.client_max_attempts, settings.client_retry_backoff_s)

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number `retry` (1, 2, ...): a ceiling doubled per retry, and a
        jittered share of it (half to all), so that callers that failed together spread out."""
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** (retry - 1))
        return ceiling * (0.5 + 0.5 * rng.random())


class _Requests(Iterator[Req]):
    """One try's request stream: the header again, then the caller's messages. `close()` stops
    it (a failed try's sender thread must not take messages the next try needs); `taken` counts
    the caller's messages it handed out."""

    def __init__(self, head: list[Req], source: Iterator[Req], lock: threading.Lock) -> None:
        self._head, self._source, self._lock = list(head), source, lock
        self._closed = False
        self.taken = 0

    def __next__(self) -> Req:
        if self._head:
            return self._head.pop(0)
        with self._lock:
            if self._closed:
                raise StopIteration
            item = next(self._source)
            self.taken += 1
            return item

    def close(self) -> int:
        """Stop handing out messages; how many of the caller's were taken."""
        with self._lock:
            self._closed = True
            return self.taken


class ServiceClient:
    """One channel to one service (`close()` it, or use `with`)."""

    service: ClassVar[ServiceName]

    def __init__(
        self,
        settings: Settings,
        address: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`address` defaults to the settings' address of the service; `retry` to the settings'
        policy; `sleep` waits between tries."""
        self.settings = settings
        self.address = address or settings.address_of(self.service)
        self.timeout_s = settings.client_timeout_s
        self.retry = retry or RetryPolicy.from_settings(settings)
        self._metadata = call_metadata(settings)
        self._channel = open_channel(self.address, settings)
        self._sleep = sleep
        self._rng = random.Random()
        self._bind(self._channel)

    def _bind(self, channel: grpc.Channel) -> None:
        """Make the service's stub over `channel` (each client its own)."""
        raise NotImplementedError

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- the call shapes (unary, response stream, upload) ----------------------------------------------------------------------

    def _deadline(self, timeout_s: float | None, default: float | None) -> float | None:
        chosen = timeout_s if timeout_s is not None else default
        return None if chosen is None else time.monotonic() + chosen

    def _retry_after(self, error: FoundryError, attempt: int, deadline: float | None) -> float | None:
        """The wait before trying again, or None: not UNAVAILABLE, tries used up, or the wait
        would reach the deadline."""
        if not isinstance(error, UnavailableError) or attempt >= self.retry.max_attempts:
            return None
        wait = max(self.retry.backoff_s(attempt, self._rng), error.retry_after_s or 0.0)
        if deadline is not None and time.monotonic() + wait >= deadline:
            return None
        return wait

    def _unary(
        self,
        rpc: grpc.UnaryUnaryMultiCallable[Req, Resp],
        request: Req,
        *,
        timeout_s: float | None,
        retry: bool = True,
        long: bool = False,
    ) -> Resp:
        """One request, one response. `retry`: the call may be repeated; `long`: work that grows
        with the data, with no default deadline."""
        deadline = self._deadline(timeout_s, None if long else self.timeout_s)
        attempt = 1
        while True:
            try:
                return rpc(request, timeout=_remaining(deadline), metadata=self._metadata)
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                wait = self._retry_after(error, attempt, deadline) if retry else None
                if wait is None:
                    raise error from exc
            self._sleep(wait)
            attempt += 1

    def _stream(
        self,
        rpc: grpc.UnaryStreamMultiCallable[Req, Resp],
        request: Req,
        *,
        timeout_s: float | None,
    ) -> Iterator[Resp]:
        """A response stream (no default deadline), tried again only before its first message;
        leaving the loop early cancels the call."""
        deadline = self._deadline(timeout_s, None)
        attempt = 1
        while True:
            call = rpc(request, timeout=_remaining(deadline), metadata=self._metadata)
            received = False
            try:
                for response in call:
                    received = True
                    yield response
                return
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                wait = None if received else self._retry_after(error, attempt, deadline)
                if wait is None:
                    raise error from exc
            finally:
                call.cancel()
            self._sleep(wait)
            attempt += 1

    def _upload(
        self,
        rpc: grpc.StreamUnaryMultiCallable[Req, Resp],
        requests: Iterable[Req],
        *,
        timeout_s: float | None,
    ) -> Resp:
        """A request stream (a header, then chunks; no default deadline). Its first message is
        kept, so a try that failed UNAVAILABLE before the second one was taken is made again;
        after that a chunk may have been sent, and the failure is final."""
        source = iter(requests)
        head = [first] if (first := next(source, None)) is not None else []
        lock = threading.Lock()
        deadline = self._deadline(timeout_s, None)
        attempt = 1
        while True:
            sent = _Requests(head, source, lock)
            try:
                return rpc(sent, timeout=_remaining(deadline), metadata=self._metadata)
            except grpc.RpcError as exc:
                error = error_from_rpc(exc)
                wait = None if sent.close() else self._retry_after(error, attempt, deadline)
                if wait is None:
                    raise error from exc
            finally:
                sent.close()
            self._sleep(wait)
            attempt += 1


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)
