"""Domain errors. They import no grpc: one interceptor maps them to status codes.

Each error class names its kind; `foundry.runtime.status` owns the one table from kind to gRPC
status code and builds the `google.rpc` rich details (BadRequest, ErrorInfo, RetryInfo).

A message may quote what the caller sent (a name, a path): every text an error carries is cut to
a bounded length (`bounded`), so no request is echoed back, or into a log line, at full size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

#: the longest message, field path, description or metadata value an error keeps (in characters)
MAX_MESSAGE_CHARS = 500
MAX_FIELD_CHARS = 300


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text`, or its first `limit` characters and a marker saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"


class ErrorKind(StrEnum):
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    UNAVAILABLE = "UNAVAILABLE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    ABORTED = "ABORTED"
    DATA_LOSS = "DATA_LOSS"
    UNIMPLEMENTED = "UNIMPLEMENTED"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field. `line` is the 1-based line of the input file it came from, if any."""

    field: str
    description: str
    line: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", bounded(self.field, MAX_FIELD_CHARS))
        object.__setattr__(self, "description", bounded(self.description, MAX_FIELD_CHARS))

    @property
    def path(self) -> str:
        return self.field if self.line is None else f"line[{self.line}].{self.field}"


class FoundryError(Exception):
    """Base of every error a service reports to its caller."""

    kind: ClassVar[ErrorKind] = ErrorKind.FAILED_PRECONDITION
    #: a stable, machine-readable reason (UPPER_SNAKE), sent as google.rpc.ErrorInfo.reason
    reason: str = ""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: Sequence[FieldViolation] = (),
        metadata: Mapping[str, str] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        message = bounded(message)
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        elif not self.reason:
            self.reason = self.kind.value
        self.violations: tuple[FieldViolation, ...] = tuple(violations)
        self.metadata: dict[str, str] = {
            bounded(k, MAX_FIELD_CHARS): bounded(v, MAX_FIELD_CHARS) for k, v in (metadata or {}).items()
        }
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        if not self.violations:
            return self.message
        first = "; ".join(f"{v.path}: {v.description}" for v in self.violations[:3])
        more = f" (+{len(self.violations) - 3} more)" if len(self.violations) > 3 else ""
        return f"{self.message}: {first}{more}"


class InvalidArgumentError(FoundryError):
    kind = ErrorKind.INVALID_ARGUMENT


class NotFoundError(FoundryError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExistsError(FoundryError):
    kind = ErrorKind.ALREADY_EXISTS


class FailedPreconditionError(FoundryError):
    kind = ErrorKind.FAILED_PRECONDITION


class UnavailableError(FoundryError):
    """A dependency (object store, a peer service) cannot be reached; callers may retry."""

    kind = ErrorKind.UNAVAILABLE


class UnauthenticatedError(FoundryError):
    kind = ErrorKind.UNAUTHENTICATED


class PermissionDeniedError(FoundryError):
    kind = ErrorKind.PERMISSION_DENIED


class ResourceExhaustedError(FoundryError):
    kind = ErrorKind.RESOURCE_EXHAUSTED


class DeadlineExceededError(FoundryError):
    kind = ErrorKind.DEADLINE_EXCEEDED


class CancelledError(FoundryError):
    """The caller cancelled the call (or the service is shutting down) while its work ran."""

    kind = ErrorKind.CANCELLED


class AbortedError(FoundryError):
    kind = ErrorKind.ABORTED


class CorruptionError(FoundryError):
    """Stored bytes no longer match the sha256 recorded when they were written."""

    kind = ErrorKind.DATA_LOSS


class UnimplementedError(FoundryError):
    kind = ErrorKind.UNIMPLEMENTED
