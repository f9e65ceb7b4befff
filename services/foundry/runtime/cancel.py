"""Cancellation of work running in a worker thread: a `CancelToken` per call, set when the
caller cancels, when its deadline passes, or when the service shuts down.

The work pool (`foundry.runtime.workpool`) binds the token of the call it runs to a context
variable, so long loops anywhere below (Dawid-Skene iterations, dedup, augmentation, active
learning, rules) call `check()` once per iteration or batch, without passing the token down
every signature. `check()` raises a domain error: `DeadlineExceededError` when the deadline has
passed, `CancelledError` when the call was cancelled. Outside a pool call it does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from foundry.runtime.errors import CancelledError, DeadlineExceededError

T = TypeVar("T")


class CancelToken:
    """Cancelled by `cancel()` (caller gone, shutdown) or by its deadline passing."""

    def __init__(self, timeout_s: float | None = None) -> None:
        self._event = threading.Event()
        self._reason = "the call was cancelled"
        self.deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)

    def cancel(self, reason: str = "the call was cancelled") -> None:
        if not self._event.is_set():
            self._reason = reason
            self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def check(self) -> None:
        """Raise if the work should stop: `CancelledError` or `DeadlineExceededError`."""
        if self._event.is_set():
            raise CancelledError(self._reason)
        if self.expired:
            raise DeadlineExceededError("the caller's deadline passed before the work was done")


_current: ContextVar[CancelToken | None] = ContextVar("foundry_cancel_token", default=None)


def current() -> CancelToken | None:
    """The token of the pool call running in this thread, if any."""
    return _current.get()


def bind(token: CancelToken | None) -> None:
    """Make `token` the current one (the pool does this in the context it runs a call in)."""
    _current.set(token)


def check() -> None:
    """Stop the current call's work if it was cancelled or its deadline passed (see module doc)."""
    token = _current.get()
    if token is not None:
        token.check()


def checked(items: Iterable[T], every: int = 1) -> Iterator[T]:
    """`items`, checking for cancellation before every `every`-th one."""
    for n, item in enumerate(items):
        if n % every == 0:
            check()
        yield item
