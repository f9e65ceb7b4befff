"""sha256 helpers that every stage shares: of bytes, of a file, and of canonical JSON.

Canonical JSON is the byte form that content hashes (version ids, recipe hashes) are taken
over: keys sorted, no insignificant whitespace, UTF-8 (non-ASCII kept as is, not escaped), and
no NaN or infinities (they have no JSON form and would make the hash depend on the encoder).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, BinaryIO

#: the read size used when hashing files and streams
HASH_CHUNK_BYTES = 1024 * 1024


def content_sha256(data: bytes | bytearray | memoryview) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path, *, chunk_bytes: int = HASH_CHUNK_BYTES) -> str:
    """Hex sha256 of a file's bytes, read in chunks so that large files stay out of memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 JSON bytes of `value` (sorted keys, no whitespace, no NaN).

    Raises `ValueError` for NaN or infinite floats and `TypeError` for values JSON cannot hold.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def canonical_json_sha256(value: Any) -> str:
    """Hex sha256 of `canonical_json(value)`: a content hash of a JSON-able value."""
    return content_sha256(canonical_json(value))


class HashingReader:
    """A binary reader that hashes and counts the bytes read through it (for uploads)."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._digest = hashlib.sha256()
        self.size_bytes = 0

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes from the source, hashing them on the way."""
        chunk = self._source.read(size)
        self._digest.update(chunk)
        self.size_bytes += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        """Hex sha256 of everything read so far."""
        return self._digest.hexdigest()
