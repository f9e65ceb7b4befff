"""Spooling a byte stream of unknown length before it is uploaded (`ObjectStore.put_stream`).

The source is copied into a `SpooledTemporaryFile` (in memory up to one part, `s3_part_size_bytes`,
then on local disk) and hashed on the way, and only then uploaded, with the sha256 already in the
object's metadata. The alternative, uploading to a temporary key and server-side copying it onto
the final key with the metadata, was rejected: it writes every byte twice on the server, a copy of
more than 5 GiB needs a multipart copy that not every S3 server implements alike, a crash between
the two steps leaves temporary objects behind, and an unseekable source could not be retried.
Spooling costs local disk as large as the object, and gives one atomic write (a single PUT, or a
multipart upload that becomes visible only when completed) that can be retried from the spool.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, BinaryIO

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.hashing import HASH_CHUNK_BYTES

ByteSource = BinaryIO | IO[bytes] | Iterable[bytes]


@dataclass(frozen=True)
class Spooled:
    """A spooled copy of a stream: the file (rewound by `rewind`), its size and its sha256."""

    file: IO[bytes]
    size_bytes: int
    sha256: str

    def rewind(self) -> BinaryIO:
        self.file.seek(0)
        return self.file  # type: ignore[return-value]


@contextmanager
def spooled(source: ByteSource, *, max_memory_bytes: int, spool_dir: str | None) -> Iterator[Spooled]:
    """Copy `source` (a binary reader, or an iterable of byte chunks) into a spool, hashing it;
    memory up to `max_memory_bytes`, then a temporary file in `spool_dir`; removed on exit."""
    with tempfile.SpooledTemporaryFile(max_size=max_memory_bytes, dir=spool_dir) as spool:
        digest = hashlib.sha256()
        size = 0
        for chunk in chunks_of(source):
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
        yield Spooled(spool, size, digest.hexdigest())  # type: ignore[arg-type]


def chunks_of(source: ByteSource) -> Iterator[bytes]:
    """The chunks of a binary reader (read in `HASH_CHUNK_BYTES`) or of an iterable of bytes."""
    read = getattr(source, "read", None)
    if callable(read):
        while chunk := read(HASH_CHUNK_BYTES):
            yield bytes(chunk)
        return
    for chunk in source:  # type: ignore[union-attr]
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise InvalidArgumentError(f"a byte stream yielded {type(chunk).__name__}, not bytes")
        yield bytes(chunk)
