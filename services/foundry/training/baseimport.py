"""One `ImportBaseModel` stream: the files arrive in chunks into a local scratch folder, are
checked against the declared sizes and sha256s, then imported with `import_base_model`.

Nothing reaches the object store before `finish`, and nothing does if the stream breaks off:
`abort` (or a failed `finish`) removes the scratch folder.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from foundry.domain.base_models import (
    BaseModelManifest,
    compute_version_id,
    import_base_model,
    manifest_key,
    validate_base_model_name,
)
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.uploads import Gate

#: the most bytes one chunk may carry (ARCHITECTURE.md: chunks of at most 1 MiB)
MAX_CHUNK_BYTES = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class DeclaredFile:
    path: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ImportHeader:
    name: str
    source: str
    files: tuple[DeclaredFile, ...]

    def check(self) -> None:
        validate_base_model_name(self.name)
        bad: list[FieldViolation] = []
        seen: set[str] = set()
        if not self.files:
            bad.append(FieldViolation("files", "at least one file is required"))
        for i, f in enumerate(self.files):
            pure = PurePosixPath(f.path)
            if not f.path or pure.is_absolute() or ".." in pure.parts or "\\" in f.path:
                bad.append(FieldViolation(f"files[{i}].path", "a relative path without '..'"))
            if f.path in seen:
                bad.append(FieldViolation(f"files[{i}].path", "listed twice"))
            seen.add(f.path)
            if f.size_bytes < 0:
                bad.append(FieldViolation(f"files[{i}].size_bytes", "must not be negative"))
            if not _SHA256.fullmatch(f.sha256):
                bad.append(FieldViolation(f"files[{i}].sha256", "64 lowercase hex digits"))
        if bad:
            raise InvalidArgumentError("the import header is not valid", violations=bad)


@dataclass
class ImportOutcome:
    manifest: BaseModelManifest
    created: bool


@dataclass
class ImportSession:
    store: ObjectStore
    header: ImportHeader
    scratch: Path
    _index: int = -1
    _received: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)
    _handle: IO[bytes] | None = None
    _done: list[bool] = field(default_factory=list)

    def write(self, path: str, offset: int, data: bytes) -> None:
        if len(data) > MAX_CHUNK_BYTES:
            raise InvalidArgumentError(
                f"chunk of {len(data)} bytes exceeds {MAX_CHUNK_BYTES}",
                violations=[FieldViolation("chunk.data", f"at most {MAX_CHUNK_BYTES} bytes")],
            )
        current = self.header.files[self._index].path if self._index >= 0 else None
        if path != current:
            self._close_file()
            self._index += 1
            while self._index < len(self.header.files) - 1 and self.header.files[self._index].path != path:
                self._empty_file(self._index)  # an empty file sends no chunk
                self._index += 1
            if self._index >= len(self.header.files) or self.header.files[self._index].path != path:
                raise InvalidArgumentError(
                    f"chunk of {path!r} out of order",
                    violations=[FieldViolation("chunk.path", "files are sent in header order, each once")],
                )
            target = self.scratch / path
            target.parent.mkdir(parents=True, exist_ok=True)
            self._handle = target.open("wb")
            self._received = 0
            self._hash = hashlib.sha256()
        if offset != self._received:
            raise InvalidArgumentError(
                f"chunk of {path!r} at offset {offset}, expected {self._received}",
                violations=[FieldViolation("chunk.offset", "chunks of a file arrive in order")],
            )
        declared = self.header.files[self._index]
        if self._received + len(data) > declared.size_bytes:
            raise InvalidArgumentError(
                f"{path!r} is larger than its declared {declared.size_bytes} bytes",
                violations=[FieldViolation(f"files[{self._index}].size_bytes", "more bytes were sent")],
            )
        assert self._handle is not None
        self._handle.write(data)
        self._hash.update(data)
        self._received += len(data)

    def _close_file(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        declared = self.header.files[self._index]
        i = self._index
        if self._received != declared.size_bytes:
            raise InvalidArgumentError(
                f"{declared.path!r}: {self._received} bytes received, {declared.size_bytes} declared",
                violations=[FieldViolation(f"files[{i}].size_bytes", "does not match the bytes sent")],
            )
        if self._hash.hexdigest() != declared.sha256:
            raise InvalidArgumentError(
                f"{declared.path!r}: sha256 {self._hash.hexdigest()} does not match the declared one",
                violations=[FieldViolation(f"files[{i}].sha256", "does not match the bytes sent")],
            )

    def _finish_files(self) -> None:
        self._close_file()
        # files of size 0 send no chunk: create them; any other missing file is an error
        for i in range(self._index + 1, len(self.header.files)):
            self._empty_file(i)
        self._index = len(self.header.files) - 1

    def _empty_file(self, i: int) -> None:
        """File `i` got no chunk: fine for an empty file, an error for any other."""
        declared = self.header.files[i]
        if declared.size_bytes != 0 or declared.sha256 != hashlib.sha256(b"").hexdigest():
            raise InvalidArgumentError(
                f"{declared.path!r} was declared but not sent",
                violations=[FieldViolation(f"files[{i}]", "every declared file must be sent")],
            )
        target = self.scratch / declared.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()

    def finish(self, gate: Gate) -> ImportOutcome:
        """Verify the files and store the base model; `gate` (the commit point) runs right before
        anything is stored, and raises if the call has ended meanwhile."""
        try:
            self._finish_files()
            gate()
            version_id = compute_version_id([(f.path, f.sha256) for f in self.header.files])
            existed = self.store.exists(manifest_key(self.header.name, version_id))
            manifest = import_base_model(
                self.store, self.header.name, self.scratch, source=self.header.source
            )
            return ImportOutcome(manifest, created=not existed)
        finally:
            self.abort()

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        shutil.rmtree(self.scratch, ignore_errors=True)
