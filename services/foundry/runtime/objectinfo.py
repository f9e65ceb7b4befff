"""`ObjectInfo`, what the object store knows about one object, and the header helpers behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

#: user-metadata name under which the sha256 is recorded (sent as `x-amz-meta-sha256`)
SHA256_METADATA = "sha256"
SHA256_HEADER = f"x-amz-meta-{SHA256_METADATA}"


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows about one object.

    `sha256` is None only in listings, whose responses carry no user metadata (use `stat`), and
    for an object stored without one. `last_modified` is None right after a write, whose
    response does not carry it.
    """

    key: str
    sha256: str | None
    size_bytes: int
    etag: str
    last_modified: datetime | None

    @property
    def part_count(self) -> int | None:
        """The number of parts if the object was stored by a multipart upload (its etag's -N)."""
        _, dash, parts = self.etag.rpartition("-")
        return int(parts) if dash and parts.isdigit() else None


def is_sha256_hex(value: str) -> bool:
    """Whether `value` is a lowercase hex sha256."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def header_datetime(value: str | None) -> datetime | None:
    """An HTTP date header (`Last-Modified`) as a datetime, or None if absent or unparsable."""
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
