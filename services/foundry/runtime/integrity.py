"""The sha256 checks of the object store's reads.

Every object written through `ObjectStore` records the sha256 of its bytes in its user metadata
(`x-amz-meta-sha256`); a read recomputes it while the bytes stream in. A mismatch, or an object
with no valid recorded sha256, raises `CorruptionError` naming the bucket and the key. Objects
written by others (`read_foreign`) are checked against what the caller expects and against a
recorded sha256 when there is one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import IO, Any

from foundry.runtime.errors import CorruptionError
from foundry.runtime.hashing import HASH_CHUNK_BYTES
from foundry.runtime.objectinfo import SHA256_HEADER, ObjectInfo, header_datetime, is_sha256_hex


def recorded_sha256(bucket: str, key: str, headers: Mapping[str, Any], expected: str | None) -> str:
    """The sha256 recorded on the object; CorruptionError if absent or not the expected one."""
    recorded = headers.get(SHA256_HEADER)
    if not isinstance(recorded, str) or not is_sha256_hex(recorded):
        raise CorruptionError(
            f"object {key!r} in bucket {bucket!r} has no valid recorded sha256 "
            f"({SHA256_HEADER}: {recorded!r}); it was not written through ObjectStore or was altered",
            reason="OBJECT_HASH_MISSING",
            metadata={"key": key, "bucket": bucket},
        )
    if expected is not None and recorded != expected:
        raise CorruptionError(
            f"object {key!r} in bucket {bucket!r} records sha256 {recorded}, but {expected} was expected",
            reason="OBJECT_HASH_MISMATCH",
            metadata={"key": key, "bucket": bucket, "recorded": recorded, "expected": expected},
        )
    return recorded


def check_digest(bucket: str, key: str, actual: str, recorded: str) -> None:
    """CorruptionError unless the bytes read hash to the recorded sha256."""
    if actual != recorded:
        raise CorruptionError(
            f"object {key!r} in bucket {bucket!r} is corrupt: its bytes hash to sha256 "
            f"{actual}, but {recorded} was recorded when it was written",
            reason="OBJECT_HASH_MISMATCH",
            metadata={"key": key, "bucket": bucket, "recorded": recorded, "actual": actual},
        )


def read_verified(response: Any, bucket: str, key: str, sink: IO[bytes], expected: str | None) -> ObjectInfo:
    """Copy a GET `response` of `key` into `sink`, hashed and verified; what the headers said."""
    recorded = recorded_sha256(bucket, key, response.headers, expected)
    digest = hashlib.sha256()
    size = 0
    for chunk in response.stream(HASH_CHUNK_BYTES, decode_content=False):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    check_digest(bucket, key, digest.hexdigest(), recorded)
    return ObjectInfo(
        key=key,
        sha256=recorded,
        size_bytes=size,
        etag=str(response.headers.get("ETag", "")).strip('"'),
        last_modified=header_datetime(response.headers.get("Last-Modified")),
    )


def read_foreign(response: Any, bucket: str, key: str, sink: IO[bytes], expected: str | None) -> ObjectInfo:
    """Copy a GET `response` of an object not written through ObjectStore into `sink`, hashing it;
    CorruptionError if it differs from `expected` or from a recorded sha256. The info holds the
    computed sha256."""
    digest, size = hashlib.sha256(), 0
    for chunk in response.stream(HASH_CHUNK_BYTES, decode_content=False):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    recorded = response.headers.get(SHA256_HEADER)
    actual = digest.hexdigest()
    for label, wanted in (("expected", expected), ("recorded", recorded)):
        if isinstance(wanted, str) and wanted and wanted != actual:
            raise CorruptionError(
                f"object {key!r} in bucket {bucket!r} hashes to sha256 {actual}, but {wanted} was {label}",
                reason="OBJECT_HASH_MISMATCH",
                metadata={"key": key, "bucket": bucket, label: wanted, "actual": actual},
            )
    return ObjectInfo(key=key, sha256=actual, size_bytes=size, etag="", last_modified=None)
