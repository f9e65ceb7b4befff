"""One bounded executor per service for the blocking work of its RPCs (object-store IO and CPU).

A fixed number of daemon worker threads (`work_threads`) take calls from a queue of at most
`work_queue` waiting calls. A call that finds every worker busy and the queue full is refused
at once with `ResourceExhaustedError` carrying a retry hint (RESOURCE_EXHAUSTED with a
`google.rpc.RetryInfo`), never left to hang.

Every call gets a `CancelToken` (`foundry.runtime.cancel`) bound in the context it runs in: it is
cancelled when the awaiting coroutine is cancelled (the client cancelled, or the server's drain
cut the RPC) and expires at the caller's deadline, so long loops that call `cancel.check()`
stop with DEADLINE_EXCEEDED or CANCELLED. A call still queued when its caller is gone is skipped.
A call keeps its place until its thread has really finished, so abandoned work still counts
against the bound. The threads are daemons: a call stuck where it cannot check its token never
keeps the process from exiting (`shutdown` says so in the log).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar

from foundry.runtime import cancel
from foundry.runtime.cancel import CancelToken
from foundry.runtime.errors import ResourceExhaustedError, UnavailableError
from foundry.runtime.settings import Settings

log = logging.getLogger("foundry.workpool")

T = TypeVar("T")
P = ParamSpec("P")

_Job = tuple["concurrent.futures.Future[Any]", CancelToken, contextvars.Context, Callable[[], Any]]


class Deadline(Protocol):
    """What the pool needs of a call's context (a `grpc.aio.ServicerContext` is one)."""

    def time_remaining(self) -> float | None: ...


class WorkPool:
    """`threads` workers and `queue_size` waiting places; see the module doc."""

    def __init__(self, name: str, threads: int, queue_size: int, retry_after_s: float = 1.0) -> None:
        if threads < 1 or queue_size < 0:
            raise ValueError("a work pool needs at least one thread and a queue size >= 0")
        self.name = name
        self.threads = threads
        self.queue_size = queue_size
        self.retry_after_s = retry_after_s
        self.rejected = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._admitted = 0
        self._tokens: set[CancelToken] = set()
        self._workers: list[threading.Thread] = []
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, name: str) -> WorkPool:
        return cls(name, settings.work_threads, settings.work_queue, settings.work_retry_after_s)

    @property
    def capacity(self) -> int:
        return self.threads + self.queue_size

    @property
    def admitted(self) -> int:
        """Calls running or waiting (including abandoned ones whose thread has not finished)."""
        return self._admitted

    async def run(self, context: Deadline | None, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` on a worker with a cancel token bound; the caller's deadline (from
        `context`) and cancellation stop it at its next `cancel.check()`."""
        timeout_s = context.time_remaining() if context is not None else None
        token = CancelToken(timeout_s)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        job: _Job = (future, token, contextvars.copy_context(), functools.partial(fn, *args, **kwargs))
        with self._lock:
            if self._closed:
                raise UnavailableError(
                    f"the {self.name} service is shutting down", retry_after_s=self.retry_after_s
                )
            if self._admitted >= self.capacity:
                self.rejected += 1
                raise ResourceExhaustedError(
                    f"the {self.name} service is busy ({self.threads} workers busy, "
                    f"{self.queue_size} calls waiting); retry later",
                    reason="WORK_POOL_FULL",
                    retry_after_s=self.retry_after_s,
                )
            self._admitted += 1
            self._tokens.add(token)
            self._start_worker_if_needed()
        self._jobs.put(job)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            token.cancel()
            raise

    def _start_worker_if_needed(self) -> None:
        """Under the lock: one more thread while fewer than `threads` run and calls wait."""
        if len(self._workers) < self.threads and len(self._workers) < self._admitted:
            worker = threading.Thread(
                target=self._work, name=f"{self.name}-work-{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
            worker.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, token, context, call = job
            if not future.set_running_or_notify_cancel():
                self._release(token)  # its caller is gone: nothing to do
                continue
            try:
                token.check()
                result = context.run(_call, token, call)
            except BaseException as exc:  # handed to the awaiting coroutine
                self._release(token)
                future.set_exception(exc)
            else:
                self._release(token)  # before the caller resumes: its next call finds the place free
                future.set_result(result)

    def _release(self, token: CancelToken) -> None:
        with self._lock:
            self._admitted -= 1
            self._tokens.discard(token)

    def cancel_all(self, reason: str) -> int:
        """Cancel every running and waiting call; how many there were."""
        with self._lock:
            tokens = list(self._tokens)
        for token in tokens:
            token.cancel(reason)
        return len(tokens)

    async def shutdown(self, wait_s: float) -> bool:
        """Refuse new calls, cancel the ones in flight, and wait up to `wait_s` for the workers
        to finish; True when they all did. Threads still busy are daemons and left behind."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        cancelled = self.cancel_all("the service is shutting down")
        for _ in workers:
            self._jobs.put(None)
        end = time.monotonic() + wait_s
        while any(w.is_alive() for w in workers) and time.monotonic() < end:  # noqa: ASYNC110 (threads, not tasks)
            await asyncio.sleep(0.02)
        busy = [w.name for w in workers if w.is_alive()]
        if busy:
            log.warning(
                "worker threads still busy after shutdown; leaving them behind (daemon threads)",
                extra={"pool": self.name, "threads": busy, "cancelled": cancelled},
            )
        return not busy


def _call(token: CancelToken, call: Callable[[], T]) -> T:
    cancel.bind(token)
    return call()


__all__ = ["Deadline", "WorkPool"]
