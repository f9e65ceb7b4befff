"""The ingestion service's core: uploads and imports become dataset versions; versions are
listed, described and read back. It knows nothing of gRPC (the servicer converts)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from foundry.domain.formats import SourceSpec
from foundry.domain.retention import deletion, gc
from foundry.domain.retention.tombstones import DATASET, Tombstone, get_tombstone
from foundry.domain.steps import RowViolation, StepReport
from foundry.domain.tokencount import TokenCounter, load_token_counter
from foundry.ingestion import erasure
from foundry.ingestion.accounting import FileAccount
from foundry.ingestion.options import IngestRecipe, PiiType
from foundry.ingestion.pipeline import IngestPipeline, PipelineResult, SourceFile
from foundry.ingestion.settings import IngestionSettings
from foundry.ingestion.upload import UploadFileSpec, UploadSession
from foundry.runtime import datasets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Split, Task, batch_to_examples
from foundry.runtime.limits import Limits
from foundry.runtime.listing import CorruptEntry
from foundry.runtime.manifest import DatasetManifest, validate_dataset_name
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.uploads import Gate

MAX_PREVIEW_BYTES = 1024 * 1024
#: the most examples a Preview answers with (limit)
MAX_PREVIEW_EXAMPLES = 1000
#: examples per ReadExamples message: the default and the maximum (batch_size)
DEFAULT_READ_BATCH = 256
MAX_READ_BATCH = 10_000
PRODUCER = "ingestion"


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

    def ingest(
        self,
        spec: IngestSpec,
        sources: Sequence[SourceFile],
        *,
        bytes_read: int,
        before_store: Gate = lambda: None,
    ) -> IngestOutcome:
        """Run the pipeline on `sources` and store the version; `before_store` runs right before
        the first write (an upload's commit point: it raises if the call has ended)."""
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
            before_store()
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
        Limits().whole("limit", limit, MAX_PREVIEW_EXAMPLES).check()
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

    def list_versions(
        self, name: str = "", task: Task | None = None, *, corrupt: list[CorruptEntry] | None = None
    ) -> list[DatasetManifest]:
        """Every version of `name`, newest first; without a name, the newest version of each dataset.
        Versions with a corrupt manifest go to `corrupt` when given (else DATA_LOSS)."""
        if name:
            manifests = datasets.list_versions(self.store, validate_dataset_name(name), corrupt=corrupt)
        else:
            manifests = [
                v[0]
                for n in datasets.list_datasets(self.store)
                if (v := datasets.list_versions(self.store, n, corrupt=corrupt))
            ]
        return [m for m in manifests if task is None or m.task is task]

    def read_batch_size(self, requested: int) -> int:
        """The examples per ReadExamples message: `requested` (0: the default) up to the maximum."""
        Limits().whole("batch_size", requested, MAX_READ_BATCH).check()
        return requested or DEFAULT_READ_BATCH

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

    def deleted_parents(self, manifest: DatasetManifest) -> list[Tombstone]:
        """The tombstones of the parents of `manifest` that have been deleted."""
        found = (get_tombstone(self.store, DATASET, p.name, p.version_id) for p in manifest.parents)
        return [t for t in found if t is not None]

    # --- deletion and retention --------------------------------------------------------------------

    def delete_version(
        self, name: str, version_id: str, *, force: bool, deleted_by: str, reason: str
    ) -> Tombstone:
        """Delete `name@version_id` (see `foundry.domain.retention.deletion`)."""
        if not version_id:
            raise InvalidArgumentError(
                "name the version to delete",
                violations=[FieldViolation("dataset.version_id", "required")],
            )
        return deletion.delete_dataset_version(
            self.store, name, version_id, force=force, deleted_by=deleted_by, reason=reason
        ).tombstone

    def erase_subject(
        self,
        pii_type: PiiType | None,
        value: str,
        pseudonym: str,
        *,
        requested_by: str,
        reason: str,
        dry_run: bool,
    ) -> erasure.ErasureLog:
        """Erase the subject's examples from every dataset version (see `foundry.ingestion.erasure`)."""
        secret = self.settings.pii_secret.get_secret_value().encode()
        subject = erasure.subject_from(secret, pii_type, value, pseudonym)
        return erasure.erase_subject(
            self.store, subject, requested_by=requested_by, reason=reason, dry_run=dry_run
        )

    def collect_garbage(self, *, apply: bool, grace_s: float | None) -> gc.GcReport:
        """Orphan shards and model files (see `foundry.domain.retention.gc`)."""
        return gc.collect_garbage(
            self.store, grace_s=gc.DEFAULT_GRACE_S if grace_s is None else grace_s, apply=apply
        )
