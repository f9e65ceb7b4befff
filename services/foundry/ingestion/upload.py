"""One Upload stream on the ingestion side: the files it declares (`UploadFileSpec`) and the session
(`UploadSession`) that spools their chunks, or example batches, into local scratch, verifies them
against the header's declared sizes and sha256, and hands them to `IngestionCore.ingest`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from foundry.domain.formats import Format
from foundry.ingestion.pipeline import SourceFile
from foundry.ingestion.spool import Spool
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Split
from foundry.runtime.hashing import file_sha256
from foundry.runtime.uploads import Gate

if TYPE_CHECKING:
    from foundry.ingestion.core import IngestionCore, IngestOutcome, IngestSpec

#: the most bytes one upload chunk may carry (ARCHITECTURE.md: chunks of at most 1 MiB)
MAX_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class UploadFileSpec:
    file_name: str
    split: Split = Split.UNASSIGNED
    size_bytes: int = 0
    sha256: str = ""


@dataclass
class _ReceivedFile:
    spec: UploadFileSpec
    path: Path
    handle: IO[bytes] | None = None
    size: int = 0


@dataclass
class UploadSession:
    """One Upload stream: files arrive as chunks into local scratch; `finish` ingests them.

    Nothing reaches the object store before `finish`, and nothing does if the stream breaks off:
    `abort` (or a failed `finish`) removes the scratch.
    """

    core: IngestionCore
    spec: IngestSpec
    scratch: Path
    files: list[_ReceivedFile] = field(default_factory=list)
    examples: Spool | None = None
    _current: _ReceivedFile | None = None
    _next_index: int = 0
    _total: int = 0

    def start_file(self, index: int) -> None:
        if not self.spec.files:
            raise InvalidArgumentError(
                "file_start needs header.files",
                violations=[FieldViolation("file_start", "no files declared")],
            )
        if index != self._next_index or index >= len(self.spec.files):
            raise InvalidArgumentError(
                f"file_start {index} out of order (expected {self._next_index} of {len(self.spec.files)})",
                violations=[FieldViolation("file_start.index", "files must be sent in order, each once")],
            )
        self._close_current()
        spec = self.spec.files[index]
        self._open(spec)
        self._next_index += 1

    def _open(self, spec: UploadFileSpec) -> None:
        path = self.scratch / f"file-{len(self.files)}"
        received = _ReceivedFile(spec, path, path.open("wb"))
        self.files.append(received)
        self._current = received

    def write(self, chunk: bytes) -> None:
        if len(chunk) > MAX_CHUNK_BYTES:
            raise InvalidArgumentError(
                f"chunk of {len(chunk)} bytes exceeds {MAX_CHUNK_BYTES}",
                violations=[FieldViolation("chunk", f"at most {MAX_CHUNK_BYTES} bytes")],
            )
        if self.spec.source.format is Format.EXAMPLES:
            raise InvalidArgumentError(
                "FORMAT_EXAMPLES uploads send examples, not chunks",
                violations=[FieldViolation("chunk", "not allowed for FORMAT_EXAMPLES")],
            )
        if self._current is None:
            if self.spec.files:
                raise InvalidArgumentError(
                    "chunk before file_start", violations=[FieldViolation("chunk", "send file_start first")]
                )
            source = self.spec.source
            self._open(self.spec.single or UploadFileSpec(source.file_name, source.default_split))
        assert self._current is not None and self._current.handle is not None
        self._total += len(chunk)
        if self._total > self.core.settings.ingest_max_upload_bytes:
            raise InvalidArgumentError(
                f"upload exceeds {self.core.settings.ingest_max_upload_bytes} bytes",
                reason="UPLOAD_TOO_LARGE",
                violations=[
                    FieldViolation("chunk", "the upload is larger than FOUNDRY_INGEST_MAX_UPLOAD_BYTES")
                ],
            )
        self._current.handle.write(chunk)
        self._current.handle.flush()  # the scratch holds every received byte (chunks are up to 1 MiB)
        self._current.size += len(chunk)

    def add_examples(self, examples: Sequence[Example]) -> None:
        if self.spec.source.format is not Format.EXAMPLES:
            raise InvalidArgumentError(
                "examples need source.format FORMAT_EXAMPLES",
                violations=[FieldViolation("examples", "format is not FORMAT_EXAMPLES")],
            )
        if self.examples is None:
            self.examples = Spool(self.scratch / "examples.arrows")
        for example in examples:
            self.examples.append(example)

    def _close_current(self) -> None:
        if self._current is not None and self._current.handle is not None:
            self._current.handle.close()
            self._current.handle = None
        self._current = None

    def _verified_sources(self) -> list[SourceFile]:
        self._close_current()
        if self.spec.source.format is Format.EXAMPLES:
            name = self.spec.source.file_name or "examples"
            return [SourceFile(Path(), name, self.spec.source.default_split, examples=self.examples)]
        if self.spec.files and len(self.files) != len(self.spec.files):
            raise InvalidArgumentError(
                f"{len(self.files)} of {len(self.spec.files)} declared files were sent",
                reason="UPLOAD_INCOMPLETE",
                violations=[FieldViolation("files", "every declared file must be sent")],
            )
        if not self.files:
            raise InvalidArgumentError(
                "the upload carried no data",
                reason="UPLOAD_EMPTY",
                violations=[FieldViolation("chunk", "no bytes received")],
            )
        sources = []
        for i, received in enumerate(self.files):
            _verify(
                received.path, received.size, received.spec, f"files[{i}]" if self.spec.files else "header"
            )
            sources.append(SourceFile(received.path, received.spec.file_name, received.spec.split))
        return sources

    def finish(self, gate: Gate) -> IngestOutcome:
        """Verify and ingest what was received; `gate` (the commit point) runs before storing."""
        try:
            sources = self._verified_sources()
            return self.core.ingest(self.spec, sources, bytes_read=self._total, before_store=gate)
        finally:
            self.abort()

    def abort(self) -> None:
        self._close_current()
        if self.examples is not None:
            self.examples.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _verify(path: Path, size: int, spec: UploadFileSpec, where: str) -> None:
    if spec.size_bytes and spec.size_bytes != size:
        raise InvalidArgumentError(
            f"{spec.file_name or where}: received {size} bytes, {spec.size_bytes} were declared; nothing was stored",
            reason="UPLOAD_SIZE_MISMATCH",
            violations=[
                FieldViolation(f"{where}.size_bytes", f"declared {spec.size_bytes}, received {size}")
            ],
        )
    if spec.sha256 and spec.sha256 != file_sha256(path):
        raise InvalidArgumentError(
            f"{spec.file_name or where}: the received bytes do not match the declared sha256; nothing was stored",
            reason="UPLOAD_SHA256_MISMATCH",
            violations=[FieldViolation(f"{where}.sha256", "does not match the received bytes")],
        )
