"""Which S3 failures are retried, how they become domain errors, and the retry loop's bounds."""

from __future__ import annotations

import time

import pytest
import urllib3
from minio.error import InvalidResponseError, S3Error, ServerError

from foundry.runtime.errors import (
    CorruptionError,
    FailedPreconditionError,
    NotFoundError,
    UnavailableError,
)
from foundry.runtime.s3calls import S3Caller, S3Target, is_transient, translate

TARGET = S3Target(endpoint_url="http://127.0.0.1:9", access_key="AKIA-test", bucket="b")


def s3_error(code: str, status: int) -> S3Error:
    return S3Error(
        urllib3.HTTPResponse(status=status), code, f"{code} happened", "/b/k", "req", None, "b", "k"
    )


@pytest.mark.parametrize(
    "exc",
    [
        s3_error("SlowDown", 503),
        s3_error("InternalError", 500),
        s3_error("Whatever", 502),
        ServerError("boom", 503),
        InvalidResponseError(504, "text/html", "gateway timeout"),
        urllib3.exceptions.NewConnectionError(None, "connection refused"),  # type: ignore[arg-type]
        urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
        ConnectionRefusedError(111, "refused"),
        TimeoutError("timed out"),
    ],
)
def test_transient_failures(exc: Exception) -> None:
    assert is_transient(exc)
    assert isinstance(translate(exc, TARGET, "get", "k", attempts=3), UnavailableError)


@pytest.mark.parametrize(
    "exc",
    [
        s3_error("NoSuchKey", 404),
        s3_error("AccessDenied", 403),
        ServerError("teapot", 418),
        InvalidResponseError(400, "text/html", "bad"),
        urllib3.exceptions.SSLError("bad cert"),
        ValueError("x"),
        OSError("disk"),
    ],
)
def test_permanent_failures(exc: Exception) -> None:
    assert not is_transient(exc)


def test_translation_of_not_found_and_credentials() -> None:
    missing = translate(s3_error("NoSuchKey", 404), TARGET, "get", "a/b")
    assert isinstance(missing, NotFoundError) and "'a/b'" in missing.message
    no_bucket = translate(s3_error("NoSuchBucket", 404), TARGET, "get", "a/b")
    assert isinstance(no_bucket, NotFoundError) and "bucket 'b'" in no_bucket.message
    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
        error = translate(s3_error(code, 403), TARGET, "put", "k")
        assert isinstance(error, FailedPreconditionError)
        assert error.reason == "OBJECT_STORE_CREDENTIALS"
        assert (
            "the object store at http://127.0.0.1:9 rejected the credentials for access key 'AKIA-test'"
            in error.message
        )
    other = translate(s3_error("EntityTooLarge", 400), TARGET, "put", "k")
    assert isinstance(other, FailedPreconditionError) and other.reason == "OBJECT_STORE_REJECTED"
    assert translate(OSError("local disk"), TARGET, "put", "k") is None


def test_retries_are_bounded_and_back_off() -> None:
    caller = S3Caller(TARGET, max_retries=3, backoff_s=0.02)
    calls = 0

    def refuse() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError(111, "refused")

    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        caller.call("get", "k", refuse)
    elapsed = time.monotonic() - started
    assert calls == 4
    assert 0.035 <= elapsed < 1.0  # sleeps of at least 0.01 + 0.02 + 0.04 (half of each is fixed)
    assert "4 attempts" in caught.value.message and "http://127.0.0.1:9" in caught.value.message
    assert caught.value.reason == "OBJECT_STORE_UNAVAILABLE"


def test_a_transient_failure_then_success_is_retried() -> None:
    caller = S3Caller(TARGET, max_retries=2, backoff_s=0.001)
    answers: list[Exception | str] = [s3_error("SlowDown", 503), "ok"]

    def flaky() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert caller.call("get", "k", flaky) == "ok"


def test_permanent_and_domain_errors_are_not_retried() -> None:
    caller = S3Caller(TARGET, max_retries=5, backoff_s=0.001)
    calls = 0

    def corrupt() -> None:
        nonlocal calls
        calls += 1
        raise CorruptionError("bad bytes")

    with pytest.raises(CorruptionError):
        caller.call("get", "k", corrupt)
    with pytest.raises(NotFoundError):
        caller.call("get", "k", lambda: (_ for _ in ()).throw(s3_error("NoSuchKey", 404)))
    with pytest.raises(OSError, match="disk"):
        caller.call("put", "k", lambda: (_ for _ in ()).throw(OSError("disk")))
    assert calls == 1
