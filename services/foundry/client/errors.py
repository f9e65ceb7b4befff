"""A failed call's gRPC status and rich details turned back into the domain error that the
service raised: the one inverse of `foundry.runtime.status.STATUS_CODES`.

The service's interceptor sends a domain error as its status code, `str(error)` as the message,
and `google.rpc` details: ErrorInfo (reason, metadata with the request id), BadRequest (field
violations, `line[N].field` for a line of an input file) and RetryInfo. `error_from_rpc` reads
them all; `call_status` gives back what the service answered, verbatim, for printing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from foundry.runtime import errors
from foundry.runtime.errors import ErrorKind, FieldViolation, FoundryError
from foundry.runtime.status import STATUS_CODES

#: Every domain error class, by the kind it stands for.
ERROR_CLASSES: dict[ErrorKind, type[FoundryError]] = {
    cls.kind: cls
    for cls in (
        errors.InvalidArgumentError,
        errors.NotFoundError,
        errors.AlreadyExistsError,
        errors.FailedPreconditionError,
        errors.UnavailableError,
        errors.UnauthenticatedError,
        errors.PermissionDeniedError,
        errors.ResourceExhaustedError,
        errors.DeadlineExceededError,
        errors.CancelledError,
        errors.AbortedError,
        errors.CorruptionError,
        errors.UnimplementedError,
    )
}
#: gRPC status code → domain error class: the server's table, inverted.
CLASS_OF_CODE: dict[grpc.StatusCode, type[FoundryError]] = {
    code: ERROR_CLASSES[kind] for kind, code in STATUS_CODES.items()
}
_LINE_FIELD = re.compile(r"line\[(\d+)\]\.(.*)", re.DOTALL)


class ServiceError(FoundryError):
    """A status no domain error stands for (INTERNAL, UNKNOWN, OUT_OF_RANGE): a bug
    in the service or a call cut short, not the caller's mistake. `code` names the status."""

    code: str = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class CallStatus:
    """What the service answered: the status code's name and its message, verbatim."""

    code: str
    details: str


def _violation(path: str, description: str) -> FieldViolation:
    """The inverse of `FieldViolation.path`."""
    match = _LINE_FIELD.fullmatch(path)
    if match is None:
        return FieldViolation(path, description)
    return FieldViolation(match.group(2), description, line=int(match.group(1)))


def _message(details: str, violations: tuple[FieldViolation, ...]) -> str:
    """The error's own message: the status message less the violations `str(error)` added."""
    if not violations:
        return details
    shown = "; ".join(f"{v.path}: {v.description}" for v in violations[:3])
    match = re.fullmatch(rf"(.*): {re.escape(shown)}(?: \(\+\d+ more\))?", details, re.DOTALL)
    return match.group(1) if match else details


def _rich_status(exc: grpc.RpcError) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(exc)  # type: ignore[arg-type]
    except ValueError:  # details that contradict the code or message: ignore them
        return None


def error_from_rpc(exc: grpc.RpcError) -> FoundryError:
    """The domain error a failed call stands for, with reason, metadata, field violations and
    retry delay from the status details; its `__cause__` is the call (see `call_status`)."""
    code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (exc.details() if isinstance(exc, grpc.Call) else None) or str(code.name)
    reason: str | None = None
    metadata: dict[str, str] = {}
    violations: tuple[FieldViolation, ...] = ()
    retry_after_s: float | None = None
    status = _rich_status(exc)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason or None, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = tuple(_violation(v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after_s = retry.retry_delay.ToNanoseconds() / 1e9
    message = _message(details, violations)
    error: FoundryError
    cls = CLASS_OF_CODE.get(code)
    if cls is None:
        error = ServiceError(
            message,
            reason=reason or code.name,
            violations=violations,
            metadata=metadata,
            retry_after_s=retry_after_s,
        )
        error.code = code.name
    else:
        error = cls(
            message, reason=reason, violations=violations, metadata=metadata, retry_after_s=retry_after_s
        )
    error.__cause__ = exc
    return error


def call_status(error: BaseException) -> CallStatus | None:
    """The status a service answered with, when `error` came from a call (else None)."""
    cause = error.__cause__
    if isinstance(cause, grpc.RpcError) and isinstance(cause, grpc.Call):
        code = cause.code()
        return CallStatus(getattr(code, "name", str(code)), str(cause.details()))
    return None


def answered(error: FoundryError) -> CallStatus:
    """What the service answered; for an error that no call raised, its kind and message."""
    return call_status(error) or CallStatus(error.kind.value, str(error))
