"""Object key validation: every key is checked before any call reaches the object store.

A valid key is non-empty, at most 1024 UTF-8 bytes (the S3 limit), relative (no leading '/'),
has no empty segment ('a//b', a trailing '/'), no '.' or '..' segment, no backslash and no
control character. These rules keep keys portable across S3 servers and safe to mirror onto a
local file system (no path traversal). A bucket a caller names (an import from any bucket) is
checked by the S3 client's own rules before it is used.
"""

from __future__ import annotations

import unicodedata

from minio.helpers import check_bucket_name

from foundry.runtime.errors import FieldViolation, InvalidArgumentError

MAX_KEY_BYTES = 1024


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid object key, or None when it is."""
    if not key:
        return "must not be empty"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "must be valid UTF-8 (no lone surrogates)"
    if size > MAX_KEY_BYTES:
        return f"must be at most {MAX_KEY_BYTES} UTF-8 bytes, got {size}"
    if key.startswith("/"):
        return "must be relative (no leading '/')"
    if "\\" in key:
        return "must not contain a backslash"
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        return "must not contain control characters"
    for segment in key.split("/"):
        if segment == "":
            return "must not contain empty segments ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"must not contain a {segment!r} segment"
    return None


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise `InvalidArgumentError` naming it and the rule it breaks."""
    problem = key_problem(key)
    if problem is not None:
        raise InvalidArgumentError(
            f"invalid object key {key!r}: {problem}",
            reason="INVALID_OBJECT_KEY",
            violations=[FieldViolation("key", f"{key!r} {problem}")],
            metadata={"key": key},
        )
    return key


def validate_bucket(bucket: str) -> str:
    """Return `bucket` unchanged, or raise `InvalidArgumentError` saying why it is no bucket name."""
    try:
        check_bucket_name(bucket)
    except ValueError:
        raise InvalidArgumentError(
            f"invalid bucket name {bucket!r}",
            reason="INVALID_BUCKET_NAME",
            violations=[FieldViolation("bucket", "3 to 63 lowercase letters, digits, dots and hyphens")],
        ) from None
    return bucket


def validate_prefix(prefix: str) -> str:
    """Return a listing prefix unchanged if valid: empty, or a key optionally ending in '/'."""
    if prefix:
        validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix
