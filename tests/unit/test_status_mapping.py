from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from foundry.runtime import errors
from foundry.runtime.errors import ErrorKind, FieldViolation
from foundry.runtime.status import STATUS_CODES, to_rpc_status


def test_every_error_kind_has_a_status_code_and_none_is_internal() -> None:
    assert set(STATUS_CODES) == set(ErrorKind)
    assert grpc.StatusCode.INTERNAL not in STATUS_CODES.values()
    assert STATUS_CODES[ErrorKind.DATA_LOSS] == grpc.StatusCode.DATA_LOSS


def test_every_error_class_maps_to_its_own_code() -> None:
    expected = {
        errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
        errors.NotFoundError: grpc.StatusCode.NOT_FOUND,
        errors.AlreadyExistsError: grpc.StatusCode.ALREADY_EXISTS,
        errors.FailedPreconditionError: grpc.StatusCode.FAILED_PRECONDITION,
        errors.UnavailableError: grpc.StatusCode.UNAVAILABLE,
        errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
        errors.PermissionDeniedError: grpc.StatusCode.PERMISSION_DENIED,
        errors.ResourceExhaustedError: grpc.StatusCode.RESOURCE_EXHAUSTED,
        errors.DeadlineExceededError: grpc.StatusCode.DEADLINE_EXCEEDED,
        errors.AbortedError: grpc.StatusCode.ABORTED,
        errors.CorruptionError: grpc.StatusCode.DATA_LOSS,
        errors.UnimplementedError: grpc.StatusCode.UNIMPLEMENTED,
    }
    for cls, code in expected.items():
        status = to_rpc_status(cls("x"))
        assert status.code == code.value[0], cls


def test_rich_details() -> None:
    error = errors.InvalidArgumentError(
        "bad file",
        violations=[
            FieldViolation("tags", "I-LOC after O", line=7),
            FieldViolation("label", "not in schema"),
        ],
        metadata={"file": "train.conll"},
        retry_after_s=0.25,
    )
    status = to_rpc_status(error, request_id="r1")
    assert status.message == "bad file: line[7].tags: I-LOC after O; label: not in schema"
    kinds = {}
    for detail in status.details:
        for cls in (error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.RetryInfo):
            if detail.Is(cls.DESCRIPTOR):
                msg = cls()
                detail.Unpack(msg)
                kinds[cls.__name__] = msg
    assert kinds["ErrorInfo"].reason == "INVALID_ARGUMENT"
    assert dict(kinds["ErrorInfo"].metadata) == {"file": "train.conll", "request_id": "r1"}
    assert [v.field for v in kinds["BadRequest"].field_violations] == ["line[7].tags", "label"]
    assert kinds["RetryInfo"].retry_delay.ToNanoseconds() == 250_000_000


def test_errors_module_imports_no_grpc() -> None:
    import subprocess
    import sys

    code = "import sys, foundry.runtime.errors; sys.exit('grpc' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_huge_quoted_input_is_cut_everywhere() -> None:
    huge = "n" * 3_000_000
    error = errors.InvalidArgumentError(
        f"dataset name {huge!r} is not valid",
        violations=[FieldViolation(huge, huge)] * 200,
        metadata={"name": huge},
    )
    assert len(error.message) < 600 and error.message.endswith("chars)")
    assert "…(+2999" in error.message
    status = to_rpc_status(error, request_id="r1")
    assert len(status.message.encode()) <= 1000
    assert status.ByteSize() < 5000  # trailing metadata stays far below gRPC's 8 KiB limit
    bad_request = error_details_pb2.BadRequest()
    next(d for d in status.details if d.Is(bad_request.DESCRIPTOR)).Unpack(bad_request)
    assert 1 <= len(bad_request.field_violations) < 200


def test_non_ascii_messages_are_cut_by_their_encoded_size() -> None:
    status = to_rpc_status(errors.NotFoundError("北" * 450))
    assert len(status.message.encode()) <= 1000
    assert status.message.startswith("北" * 100) and "chars)" in status.message
