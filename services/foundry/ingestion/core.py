"""The ingestion service's core: uploads and imports become dataset versions; versions are
listed, described and read back. It knows nothing of gRPC (the servicer converts)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from foundry.domain.formats import Format, SourceSpec
from foundry.domain.steps import RowViolation, StepReport
from foundry.domain.tokencount import TokenCounter, load_token_counter
from foundry.ingestion.accounting import FileAccount
from foundry.ingestion.options import IngestRecipe
from foundry.ingestion.pipeline import IngestPipeline, PipelineResult, SourceFile
from foundry.ingestion.settings import IngestionSettings
from foundry.ingestion.spool import Spool
from foundry.runtime import datasets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Split, Task, batch_to_examples
from foundry.runtime.hashing import file_sha256
from foundry.runtime.manifest import DatasetManifest, validate_dataset_name
from foundry.runtime.objectstore import ObjectStore

#: the most bytes one upload chunk may carry (ARCHITECTURE.md: chunks of at most 1 MiB)
MAX_CHUNK_BYTES = 1024 * 1024
MAX_PREVIEW_BYTES = 1024 * 1024
PRODUCER = "ingestion"


@dataclass(frozen=True)
class UploadFileSpec:
    file_name: str
    split: Split = Split.UNASSIGNED
    size_bytes: int = 0
    sha256: str = ""


@dataclass(frozen=True)
class IngestSpec:
    """What to make: the dataset, its task, how to parse the source and the recipe to apply."""

    dataset_name: str
    task: Task
    source: SourceSpec
    recipe: IngestRecipe
    files: tuple[UploadFileSpec, ...] = ()
    #: a one-file upload's declared size and sha256
    single: UploadFileSpec | None = None

    def check(self) -> None:
        validate_dataset_name(self.dataset_name)
        self.source.check("source.")
        self.recipe.check("recipe.")

    def recipe_record(self) -> dict[str, Any]:
        """The recipe as stored in the manifest: everything that shapes the rows, defaults filled in
        (the same rows from the same recipe give the same version id). No secret is in it."""
        source = asdict(self.source)
        source.pop("file_name")
        return {
            "producer": PRODUCER,
            "task": self.task.value,
            "source": source,
            "ingest": asdict(self.recipe),
        }


@dataclass
class IngestOutcome:
    manifest: DatasetManifest
    reports: list[StepReport]
    created: bool
    bytes_read: int
    wall_time_s: float
    files: list[FileAccount] = field(default_factory=list)


@dataclass(frozen=True)
class PreviewOutcome:
    examples: list[Example]
    reports: list[StepReport]
    violations: list[RowViolation]


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

    def finish(self) -> IngestOutcome:
        try:
            sources = self._verified_sources()
            return self.core.ingest(self.spec, sources, bytes_read=self._total)
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


class IngestionCore:
    def __init__(self, store: ObjectStore, settings: IngestionSettings) -> None:
        self.store = store
        self.settings = settings

    def _scratch(self) -> Path:
        base = self.settings.ingest_work_dir
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="upload-", dir=base))

    # --- writes ----------------------------------------------------------------------------------

    def _token_counter(self, recipe: IngestRecipe) -> TokenCounter | None:
        """The tokenizer the recipe's statistics count in, read from the base-model store."""
        name = recipe.statistics.tokenizer
        return load_token_counter(self.store, name) if name else None

    def begin_upload(self, spec: IngestSpec) -> UploadSession:
        spec.check()
        self._token_counter(spec.recipe)  # an unknown tokenizer fails before any byte is sent
        return UploadSession(self, spec, self._scratch())

    def import_object(self, spec: IngestSpec, bucket: str, key: str, sha256: str = "") -> IngestOutcome:
        """Ingest an object already in S3 (any bucket the service can read)."""
        spec.check()
        scratch = self._scratch()
        try:
            path = scratch / "object"
            with path.open("wb") as sink:
                info = self.store.fetch_foreign(
                    bucket or self.store.bucket, key, sink, expected_sha256=sha256 or None
                )
            name = spec.source.file_name or key.rsplit("/", 1)[-1]
            return self.ingest(
                spec, [SourceFile(path, name, spec.source.default_split)], bytes_read=info.size_bytes
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def ingest(self, spec: IngestSpec, sources: Sequence[SourceFile], *, bytes_read: int) -> IngestOutcome:
        started = time.perf_counter()
        pipeline = IngestPipeline(
            spec.task,
            spec.source,
            spec.recipe,
            pii_secret=self.settings.pii_secret.get_secret_value().encode(),
            work_dir=self.settings.ingest_work_dir,
            token_counter=self._token_counter(spec.recipe),
        )
        result = pipeline.run(sources)
        try:
            existed = self._existing(spec.dataset_name)
            manifest = self._write(spec, result)
        finally:
            result.cleanup()
        return IngestOutcome(
            manifest=manifest,
            reports=result.reports,
            created=manifest.version_id not in existed,
            bytes_read=bytes_read,
            wall_time_s=time.perf_counter() - started,
            files=result.files,
        )

    def _existing(self, name: str) -> set[str]:
        prefix = f"datasets/{name}/versions/"
        return {p[len(prefix) : -1] for p in self.store.list_prefixes(prefix)}

    def _write(self, spec: IngestSpec, result: PipelineResult) -> DatasetManifest:
        if result.rows == 0:
            raise InvalidArgumentError(
                "no rows survived ingestion; nothing was stored",
                reason="NO_ROWS",
                violations=[FieldViolation("recipe", "every row was dropped (see the step counts)")],
            )
        return datasets.write_dataset_version_batches(
            self.store,
            spec.dataset_name,
            spec.task,
            result.batches(),
            label_set=result.label_set,
            recipe=spec.recipe_record(),
            statistics=result.statistics,
            normalization=spec.recipe.normalization.to_dict(),
        )

    def preview(self, spec: IngestSpec, data: bytes, limit: int) -> PreviewOutcome:
        """Run the recipe on a sample of at most `MAX_PREVIEW_BYTES`; store nothing."""
        if len(data) > MAX_PREVIEW_BYTES:
            raise InvalidArgumentError(
                f"preview samples are at most {MAX_PREVIEW_BYTES} bytes",
                violations=[FieldViolation("data", "too large")],
            )
        spec.source.check("source.")
        spec.recipe.check("recipe.")
        scratch = self._scratch()
        try:
            path = scratch / "sample"
            path.write_bytes(data)
            name = spec.source.file_name or "sample"
            result = IngestPipeline(
                spec.task,
                spec.source,
                spec.recipe,
                pii_secret=self.settings.pii_secret.get_secret_value().encode(),
                work_dir=scratch,
            ).run([SourceFile(path, name, spec.source.default_split)])
            examples: list[Example] = []
            for example in result.examples():
                if len(examples) >= limit:
                    break
                examples.append(example)
            result.cleanup()
            return PreviewOutcome(examples, result.reports, result.violations)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    # --- reads -------------------------------------------------------------------------------------

    def get(self, name: str, version_id: str = "") -> DatasetManifest:
        return datasets.resolve_version(self.store, name, version_id)

    def list_versions(self, name: str = "", task: Task | None = None) -> list[DatasetManifest]:
        """Every version of `name`, newest first; without a name, the newest version of each dataset."""
        if name:
            manifests = datasets.list_versions(self.store, validate_dataset_name(name))
        else:
            manifests = [
                v[0]
                for n in datasets.list_datasets(self.store)
                if (v := datasets.list_versions(self.store, n))
            ]
        return [m for m in manifests if task is None or m.task is task]

    def read(
        self, name: str, version_id: str, splits: Sequence[Split] = (), offset: int = 0, limit: int = 0
    ) -> Iterator[tuple[int, list[Example]]]:
        """(offset of the first, examples) in batches, from `offset`, at most `limit` rows (0: all)."""
        if offset < 0 or limit < 0:
            raise InvalidArgumentError(
                "offset and limit must be >= 0", violations=[FieldViolation("offset", "must be >= 0")]
            )
        manifest = self.get(name, version_id)
        position, sent = 0, 0
        for record_batch in datasets.iter_batches(self.store, manifest, splits=splits or None):
            batch = batch_to_examples(record_batch)
            if position + len(batch) <= offset:
                position += len(batch)
                continue
            rows = batch[max(offset - position, 0) :]
            start = position + len(batch) - len(rows)
            if limit:
                rows = rows[: limit - sent]
            if rows:
                yield start, rows
                sent += len(rows)
            position += len(batch)
            if limit and sent >= limit:
                return
