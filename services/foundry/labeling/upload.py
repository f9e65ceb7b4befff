"""One `ImportAnnotations` stream: a file of declared size (and optionally sha256) arriving in
chunks, held in memory (it is at most `MAX_IMPORT_BYTES`), checked, then imported by
`Annotating.import_annotations`. Nothing is stored before `finish`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from foundry.labeling.annotating import Annotating, ImportOutcome, ImportRequest
from foundry.labeling.projects import invalid
from foundry.runtime.uploads import Gate

MAX_CHUNK_BYTES = 1024 * 1024
MAX_IMPORT_BYTES = 512 * 1024 * 1024


@dataclass
class AnnotationUpload:
    annotating: Annotating
    request: ImportRequest
    size_bytes: int
    sha256: str = ""
    data: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        if not 0 < self.size_bytes <= MAX_IMPORT_BYTES:
            raise invalid("header.size_bytes", f"size_bytes must be in (0, {MAX_IMPORT_BYTES}]")

    def write(self, chunk: bytes) -> None:
        if len(chunk) > MAX_CHUNK_BYTES:
            raise invalid("chunk", f"chunks are at most {MAX_CHUNK_BYTES} bytes")
        self.data.extend(chunk)
        if len(self.data) > self.size_bytes:
            raise invalid("header.size_bytes", "the file is larger than declared")

    def finish(self, gate: Gate) -> ImportOutcome:
        """Verify the file and import it; `gate` (the commit point) runs right before anything is
        stored, and raises if the call has ended meanwhile."""
        if len(self.data) != self.size_bytes:
            raise invalid("header.size_bytes", f"declared {self.size_bytes} bytes, received {len(self.data)}")
        if self.sha256 and hashlib.sha256(self.data).hexdigest() != self.sha256.lower():
            raise invalid("header.sha256", "the file's sha256 does not match")
        gate()
        return self.annotating.import_annotations(self.request, bytes(self.data))

    def abort(self) -> None:
        self.data = bytearray()
