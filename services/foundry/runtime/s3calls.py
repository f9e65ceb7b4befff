"""One place that runs calls against the S3 server: bounded retries, then error translation.

`S3Caller.call(operation, key, fn)` runs `fn`; on a *transient* failure (connection refused or
reset, a timeout, a truncated body, HTTP 5xx or 429, `SlowDown` and its kin) it sleeps with
exponential backoff and equal jitter (`backoff_s * 2**attempt`, half of it random, capped at
`MAX_BACKOFF_S`) and tries again, at most `max_retries` more times. Everything else, and a
transient failure that outlived the retries, becomes a domain error:

- `NoSuchKey` / `NoSuchBucket`: `NotFoundError` naming the key or bucket;
- `InvalidAccessKeyId` / `SignatureDoesNotMatch` / `AccessDenied`: `FailedPreconditionError`
  with reason `OBJECT_STORE_CREDENTIALS`, naming the endpoint and the access key;
- unreachable after the retries: `UnavailableError` with reason `OBJECT_STORE_UNAVAILABLE`,
  naming the endpoint;
- any other refusal: `FailedPreconditionError` with reason `OBJECT_STORE_REJECTED` and the
  server's error code.

Exceptions that are not about talking to the server (an unreadable local file, a bug) propagate
unchanged.

Domain errors raised inside `fn` (a `CorruptionError` from a hash check) pass through untouched
and are never retried. The urllib3 pool under the minio client has its own retries turned off
(see `objectstore`), so this loop is the only one.
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import urllib3.exceptions
from minio.error import InvalidResponseError, S3Error, ServerError

from foundry.runtime.errors import (
    FailedPreconditionError,
    FoundryError,
    NotFoundError,
    UnavailableError,
)

T = TypeVar("T")

#: the longest single sleep between two attempts
MAX_BACKOFF_S = 10.0

TRANSIENT_S3_CODES = frozenset(
    {
        "SlowDown",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "ThrottlingException",
        "TooManyRequests",
        "RequestLimitExceeded",
    }
)
CREDENTIAL_S3_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken"}
)
NOT_FOUND_S3_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "ResourceNotFound", "NoSuchUpload"})


def _status_is_transient(status: int | None) -> bool:
    return status is not None and (status >= 500 or status == 429)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is worth retrying: the server may answer differently a moment later."""
    if isinstance(exc, S3Error):
        http_status = exc.response.status if exc.response is not None else None
        return exc.code in TRANSIENT_S3_CODES or _status_is_transient(http_status)
    if isinstance(exc, ServerError):
        return _status_is_transient(exc.status_code)
    if isinstance(exc, InvalidResponseError):
        response_status: int | None = getattr(exc, "_code", None)
        return _status_is_transient(response_status)
    if isinstance(exc, urllib3.exceptions.SSLError | urllib3.exceptions.LocationValueError):
        return False
    return isinstance(
        exc,
        urllib3.exceptions.ProtocolError
        | urllib3.exceptions.TimeoutError
        | urllib3.exceptions.MaxRetryError
        | urllib3.exceptions.IncompleteRead
        | urllib3.exceptions.InvalidChunkLength
        | http.client.IncompleteRead
        | ConnectionError
        | TimeoutError,
    )


@dataclass(frozen=True, slots=True)
class S3Target:
    """What error messages name: the server's URL, the access key (never the secret), the bucket."""

    endpoint_url: str
    access_key: str
    bucket: str


def translate(
    exc: BaseException, target: S3Target, operation: str, key: str | None, *, attempts: int = 1
) -> FoundryError | None:
    """The domain error for a failure of `operation` on `key`; None if `exc` is not an S3 failure.

    `attempts` is how many times the call was tried, for the message of an unavailable server.
    """
    where = f"{operation} {key!r}" if key else operation
    where += f" in bucket {target.bucket!r}"
    meta = {"endpoint": target.endpoint_url, "bucket": target.bucket, "operation": operation}
    if key:
        meta["key"] = key
    if is_transient(exc):
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        return UnavailableError(
            f"the object store at {target.endpoint_url} is unavailable ({where}, {tries}): "
            f"{type(exc).__name__}: {exc}",
            reason="OBJECT_STORE_UNAVAILABLE",
            metadata=meta,
        )
    if isinstance(exc, S3Error):
        code = exc.code or "Unknown"
        meta["s3_code"] = code
        if code in NOT_FOUND_S3_CODES:
            what = f"object {key!r}" if key and code != "NoSuchBucket" else f"bucket {target.bucket!r}"
            return NotFoundError(
                f"{what} not found in the object store at {target.endpoint_url}",
                reason="OBJECT_NOT_FOUND" if code == "NoSuchKey" else "BUCKET_NOT_FOUND",
                metadata=meta,
            )
        if code in CREDENTIAL_S3_CODES:
            return FailedPreconditionError(
                f"the object store at {target.endpoint_url} rejected the credentials for access key "
                f"{target.access_key!r} ({code} on {where}); check FOUNDRY_S3_ACCESS_KEY and "
                "FOUNDRY_S3_SECRET_KEY",
                reason="OBJECT_STORE_CREDENTIALS",
                metadata={**meta, "access_key": target.access_key},
            )
        return FailedPreconditionError(
            f"the object store at {target.endpoint_url} refused {where}: {code}: {exc.message}",
            reason="OBJECT_STORE_REJECTED",
            metadata=meta,
        )
    if isinstance(exc, ServerError | InvalidResponseError):
        return FailedPreconditionError(
            f"the object store at {target.endpoint_url} refused {where}: {exc}",
            reason="OBJECT_STORE_REJECTED",
            metadata=meta,
        )
    if isinstance(exc, urllib3.exceptions.SSLError):
        return FailedPreconditionError(
            f"TLS with the object store at {target.endpoint_url} failed ({where}): {exc}",
            reason="OBJECT_STORE_TLS",
            metadata=meta,
        )
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return UnavailableError(
            f"the object store at {target.endpoint_url} could not be reached ({where}): "
            f"{type(exc).__name__}: {exc}",
            reason="OBJECT_STORE_UNAVAILABLE",
            metadata=meta,
        )
    return None


@dataclass(frozen=True, slots=True)
class S3Caller:
    """Runs S3 calls with bounded, jittered exponential backoff and translates their errors."""

    target: S3Target
    max_retries: int
    backoff_s: float

    def delay_s(self, attempt: int) -> float:
        """Sleep before retry number `attempt` (0-based): half fixed, half random."""
        ceiling = min(MAX_BACKOFF_S, self.backoff_s * float(2**attempt))
        return ceiling / 2 + random.uniform(0.0, ceiling / 2)

    def check(self, exc: Exception, attempt: int, operation: str, key: str | None) -> None:
        """Handle failure number `attempt` (0-based) of a call: sleep if it may be retried, else raise.

        Raises the translated `FoundryError`, or `exc` itself when it is not an S3 failure.
        """
        if isinstance(exc, FoundryError):
            raise exc
        if is_transient(exc) and attempt < self.max_retries:
            time.sleep(self.delay_s(attempt))
            return
        error = translate(exc, self.target, operation, key, attempts=attempt + 1)
        if error is None:
            raise exc
        raise error from exc

    def fail(self, exc: Exception, operation: str, key: str | None) -> NoReturn:
        """Raise the translated error for `exc` without retrying (or `exc` if not an S3 failure)."""
        if isinstance(exc, FoundryError):
            raise exc
        error = translate(exc, self.target, operation, key)
        if error is None:
            raise exc
        raise error from exc

    def call(self, operation: str, key: str | None, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying transient failures; S3 failures surface as `FoundryError`s.

        Exceptions that do not come from talking to the server (a local file that cannot be
        read, a bug) propagate unchanged.
        """
        attempt = 0
        while True:
            try:
                return fn()
            except Exception as exc:
                self.check(exc, attempt, operation, key)
                attempt += 1
