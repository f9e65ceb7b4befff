"""The one table from domain errors to gRPC status codes, with google.rpc rich details.

A status travels in trailing metadata, which gRPC limits (8 KiB by default; past it the caller
sees RESOURCE_EXHAUSTED "Stream removed" instead of the answer): its message and its details are
cut to budgets that stay well under that, however much of the request an error quotes.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from foundry.runtime.errors import ErrorKind, FoundryError, bounded

ERROR_DOMAIN = "foundry.sft"

#: ErrorKind → gRPC status code. INTERNAL is never here: it is always a bug.
STATUS_CODES: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorKind.ABORTED: grpc.StatusCode.ABORTED,
    ErrorKind.DATA_LOSS: grpc.StatusCode.DATA_LOSS,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
}

#: How many field violations travel in BadRequest (the first ones; the message counts them all).
MAX_VIOLATIONS_IN_DETAILS = 100
#: the most UTF-8 bytes of a status message (percent-encoded on the wire: up to 3 bytes each)
MAX_STATUS_MESSAGE_BYTES = 1000
#: the most serialized bytes of the field violations in BadRequest (base64-encoded on the wire)
MAX_VIOLATION_BYTES = 2500


def bounded_bytes(text: str, limit: int = MAX_STATUS_MESSAGE_BYTES) -> str:
    """`text` cut (with a marker) so that its UTF-8 encoding is at most about `limit` bytes."""
    if len(text.encode("utf-8")) <= limit:
        return text
    cut = text.encode("utf-8")[: limit - 40].decode("utf-8", "ignore")
    return bounded(text, len(cut))


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_rpc_status(error: FoundryError, request_id: str | None = None) -> status_pb2.Status:
    """A `google.rpc.Status` carrying ErrorInfo, BadRequest and RetryInfo as they apply."""
    code = STATUS_CODES[error.kind]
    metadata = dict(error.metadata)
    if request_id:
        metadata["request_id"] = request_id
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata))
    ]
    if error.violations:
        bad_request = error_details_pb2.BadRequest()
        for v in error.violations[:MAX_VIOLATIONS_IN_DETAILS]:
            item = error_details_pb2.BadRequest.FieldViolation(field=v.path, description=v.description)
            if bad_request.ByteSize() + item.ByteSize() > MAX_VIOLATION_BYTES:
                break  # the message counts them all; the details carry the first ones that fit
            bad_request.field_violations.append(item)
        details.append(_pack(bad_request))
    if error.retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_s * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(
        code=getattr(code_pb2, code.name), message=bounded_bytes(str(error)), details=details
    )


def status_code_of(error: FoundryError) -> grpc.StatusCode:
    return STATUS_CODES[error.kind]
