"""The ingestion pipeline: source files → per-row steps → de-duplication → split → final rows.

    read → default split → normalize → validate → unique ids → quality → pii   (streaming, per row)
         → spool on local disk + compact keys per row              (memory stays flat)
         → de-duplicate (exact, near) → split (seeded, stratified, group-aware)
         → final rows, ordered by split, with statistics (ids checked unique: `ids.py`)

Every step counts what it did (`StepReport`). Under the REJECT_FILE policy, any row that fails
to parse or validate rejects the whole upload with its line numbers, before anything is stored.
The pipeline knows nothing of gRPC or of the object store: the core writes its output.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from foundry.domain.dedup import content_key, label_signature
from foundry.domain.dedup.content import ChatDedupScope
from foundry.domain.formats import SourceSpec, ValidationPolicy
from foundry.domain.readers import open_reader
from foundry.domain.stats import StatisticsCollector
from foundry.domain.steps import RowViolation, Step, StepReport
from foundry.domain.tokencount import TokenCounter
from foundry.ingestion.accounting import FileAccount, FileLedger
from foundry.ingestion.dedup import Deduplicator, DedupResult
from foundry.ingestion.dedup.leakage import SPLITS
from foundry.ingestion.ids import UniqueIds, check_unique
from foundry.ingestion.normalize import NormalizeStep
from foundry.ingestion.options import IngestRecipe
from foundry.ingestion.pii import PiiStep
from foundry.ingestion.quality import QualityStep
from foundry.ingestion.split import SplitResult, Splitter, stratum_key
from foundry.ingestion.spool import Spool
from foundry.ingestion.summaries import duplicate_summary, leakage_summary, sample_rows
from foundry.ingestion.validate import ValidateStep
from foundry.runtime import cancel
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import EXAMPLE_SCHEMA, Example, Split, Task

#: how often (rows) the REJECT_FILE policy looks at the violations so far
REJECT_CHECK_EVERY_ROWS = 512
#: the order of splits in a stored version
SPLIT_ORDER = (Split.TRAIN, Split.VALIDATION, Split.TEST, Split.UNASSIGNED)


@dataclass(frozen=True)
class SourceFile:
    """One input: a local file (or examples already parsed), its name for provenance, and the
    split of its rows that carry none."""

    path: Path
    file_name: str
    split: Split = Split.UNASSIGNED
    examples: Spool | None = None


@dataclass
class PipelineResult:
    """What the pipeline made: the rows (by split), their labels, statistics and step reports."""

    reports: list[StepReport]
    label_set: list[str]
    statistics: dict[str, Any]
    rows: int
    _spools: list[Spool] = field(repr=False)

    work_dir: Path | None = None
    #: what became of each source file's records
    files: list[FileAccount] = field(default_factory=list)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The final rows as Arrow batches, train first, then validation, test, unassigned."""
        for spool in self._spools:
            yield from spool.record_batches()

    def examples(self) -> Iterator[Example]:
        for spool in self._spools:
            yield from spool

    def cleanup(self) -> None:
        """Remove the local spools."""
        if self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def violations(self) -> list[RowViolation]:
        return [v for report in self.reports for v in report.violations]


class _RowKeys:
    """The compact per-row keys the global steps need; memory: a few bytes and shared strings a row."""

    def __init__(self) -> None:
        self._content: list[str] = []
        self._labels: list[str] = []
        self._splits: list[str] = []
        self._strata: list[str] = []
        self._groups: list[str] = []

    def add(self, row: int, example: Example, scope: ChatDedupScope) -> None:
        self._content.append(content_key(example, scope))
        self._labels.append(sys.intern(label_signature(example, scope)))
        self._splits.append(example.split.value)
        self._strata.append(sys.intern(stratum_key(example)))
        self._groups.append(example.meta.get("group", ""))

    def flush_to(self, dedup: Deduplicator, start: int, end: int) -> None:
        """Hand rows [start, end) to de-duplication; their content keys are not needed after."""
        if end > start:
            dedup.add_batch(
                np.arange(start, end), self._content, self._labels[start:end], self._splits[start:end]
            )
        self._content = []

    def strata(self, rows: np.ndarray) -> list[str]:
        return [self._strata[i] for i in rows.tolist()]

    def splits(self, rows: np.ndarray) -> list[str]:
        return [self._splits[i] for i in rows.tolist()]

    def groups(self, rows: np.ndarray) -> list[str]:
        return [self._groups[i] for i in rows.tolist()]


class _DefaultSplit(Step):
    """Rows that carry no split of their own take their file's split."""

    name = "default_split"

    def __init__(self) -> None:
        super().__init__()
        self.split = Split.UNASSIGNED

    def apply(self, example: Example) -> Example | None:
        if example.split is Split.UNASSIGNED and self.split is not Split.UNASSIGNED:
            return dataclasses.replace(example, split=self.split)
        return example


class _Passthrough(Step):
    """The "read" step of examples that arrive already parsed (FORMAT_EXAMPLES)."""

    name = "read"


def _merge(name: str, reports: Sequence[StepReport]) -> StepReport:
    merged = StepReport(name)
    for report in reports:
        merged.rows_in += report.rows_in
        merged.rows_out += report.rows_out
        merged.rows_modified += report.rows_modified
        merged.rows_created += report.rows_created
        merged.drop_reasons.update(report.drop_reasons)
        merged.counters.update(report.counters)
        merged.violations.extend(report.violations[: max(merged.max_violations - len(merged.violations), 0)])
        merged.wall_time_s += report.wall_time_s
    return merged


class IngestPipeline:
    """One ingestion: construct with the task, source spec and recipe, then `run(files)`."""

    def __init__(
        self,
        task: Task,
        source: SourceSpec,
        recipe: IngestRecipe,
        *,
        pii_secret: bytes,
        work_dir: Path | None = None,
        on_rows: Callable[[int], None] | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        source.check("source.")
        recipe.check("recipe.")
        self.task, self.source, self.recipe = task, source, recipe
        self._token_counter = token_counter
        self._work_dir = work_dir
        self._on_rows = on_rows
        self._default_split = _DefaultSplit()
        self._unique_ids = UniqueIds()
        self._steps: list[Step] = [
            self._default_split,
            NormalizeStep(recipe.normalization, task),
            ValidateStep(task, recipe.validation),
            self._unique_ids,
        ]
        self._steps.append(QualityStep(recipe.quality))
        if recipe.pii.enabled:
            self._steps.append(PiiStep(recipe.pii, secret=pii_secret))
        self._read_reports: list[StepReport] = []
        self._ledger = FileLedger(
            [step.report for step in self._steps], recipe.validation.max_violations_reported
        )

    # --- phase 1: stream rows through the per-row steps into a spool ------------------------------

    def _rows(self, files: Sequence[SourceFile]) -> Iterator[Example]:
        for source_file in files:
            spec = dataclasses.replace(self.source, file_name=source_file.file_name)
            self._default_split.split = source_file.split
            self._unique_ids.given = source_file.examples is not None or bool(spec.field_mapping.id_field)
            if source_file.examples is not None:
                passed = _Passthrough()
                self._read_reports.append(passed.report)
                self._ledger.begin(source_file.file_name, passed.report)
                yield from self._through_steps(passed.run(iter(source_file.examples)))
                self._ledger.end()
                continue
            with source_file.path.open("rb") as handle:
                reader = open_reader(handle, spec, self.task, self.recipe.validation)
                self._read_reports.append(reader.report)
                self._ledger.begin(source_file.file_name, reader.report)
                yield from self._through_steps(iter(reader))
                self._ledger.end()

    def _through_steps(self, stream: Iterator[Example]) -> Iterator[Example]:
        for step in self._steps:
            stream = step.run(stream)
        return stream

    def _check_rejection(self) -> None:
        if self.recipe.validation.policy is not ValidationPolicy.REJECT_FILE:
            return
        invalid = [*self._read_reports, self._steps[2].report, self._unique_ids.report]
        count = sum(r.rows_dropped for r in invalid)
        if count:
            shown = [v for r in invalid for v in r.violations][
                : self.recipe.validation.max_violations_reported
            ]
            raise InvalidArgumentError(
                f"{count} invalid row(s); nothing was stored (policy REJECT_FILE)",
                reason="INVALID_ROWS",
                violations=[
                    FieldViolation(v.field or "row", f"{v.reason}: {v.description}", line=v.line)
                    for v in shown
                ],
            )

    # --- the whole run -------------------------------------------------------------------------------

    def run(self, files: Sequence[SourceFile]) -> PipelineResult:
        work = Path(tempfile.mkdtemp(prefix="ingest-", dir=self._work_dir))
        try:
            return self._run(files, work)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def _run(self, files: Sequence[SourceFile], work: Path) -> PipelineResult:
        dedup = Deduplicator(self.recipe.dedup, self.task, spill_dir=work)
        scope = self.recipe.dedup.chat_scope
        keys = _RowKeys()
        batch_start = 0
        spool = Spool(work / "rows.arrows")
        with spool:
            for example in self._rows(files):
                keys.add(spool.rows, example, scope)
                spool.append(example)
                if spool.rows - batch_start >= REJECT_CHECK_EVERY_ROWS:
                    cancel.check()
                    self._check_rejection()
                    keys.flush_to(dedup, batch_start, spool.rows)
                    batch_start = spool.rows
                    if self._on_rows:
                        self._on_rows(spool.rows)
            keys.flush_to(dedup, batch_start, spool.rows)
        self._check_rejection()
        deduped = dedup.finish()
        kept = deduped.kept_rows()
        splitter = Splitter(self.recipe.split)
        splitter.add_batch(kept, keys.strata(kept), keys.splits(kept), keys.groups(kept))
        splits = splitter.finish(deduped)
        return self._finish(spool, work, deduped, splits)

    def _finish(self, spool: Spool, work: Path, deduped: DedupResult, splits: SplitResult) -> PipelineResult:
        keep = deduped.keep
        split_of = np.full(len(keep), len(SPLITS), dtype=np.int64)
        split_of[splits.row_ids] = splits.splits
        stats = StatisticsCollector(self._token_counter)
        wanted = np.array(sorted(sample_rows(deduped)), dtype=np.int64)
        names: dict[int, str] = {}
        outputs = {split: Spool(work / f"{split.value}.arrows") for split in SPLIT_ORDER}
        split_field = EXAMPLE_SCHEMA.field("split")
        split_index = EXAMPLE_SCHEMA.get_field_index("split")
        stored_ids: list[pa.Array] = []
        row = 0
        for batch in spool.record_batches():  # column-wise: no Python object per row
            end = row + batch.num_rows
            named = wanted[(wanted >= row) & (wanted < end)]
            if len(named):
                ids = batch.column("id").take(pa.array(named - row)).to_pylist()
                names.update(zip(named.tolist(), ids, strict=True))
            mask, codes = keep[row:end], split_of[row:end]
            for code in np.unique(codes[mask]).tolist():
                split = SPLITS[code]
                part = batch.filter(pa.array(mask & (codes == code)))
                part = part.set_column(
                    split_index, split_field, pa.array([split.value] * part.num_rows, pa.string())
                )
                outputs[split].append_batch(part)
                stored_ids.append(part.column("id"))
                stats.add_batch(part, split)
            row = end
        for output in outputs.values():
            output.close()
        check_unique(stored_ids)
        spool.path.unlink(missing_ok=True)
        per_split = stats.per_split()
        reports = [
            _merge("read", self._read_reports),
            *(step.report for step in self._steps),
            deduped.report,
            splits.report,
        ]
        label_set = sorted(
            set(self.recipe.validation.label_set)
            or {name for s in per_split for name in (*s["label_counts"], *s["entity_type_counts"])}
        )
        files = self._ledger.settle(deduped)
        pii_step = next((s for s in self._steps if isinstance(s, PiiStep)), None)
        statistics: dict[str, Any] = {
            "steps": [r.to_dict() for r in reports],
            "splits": per_split,
            "duplicates": duplicate_summary(deduped, names),
            "leakage": leakage_summary(deduped, names),
            "pii": {
                "counts_by_type": pii_step.counts_by_type() if pii_step else {},
                "rows_affected": pii_step.report.rows_modified if pii_step else 0,
            },
            "files": [account.to_dict() for account in files],
        }
        kept = [outputs[s] for s in SPLIT_ORDER if outputs[s].rows]
        return PipelineResult(
            reports, label_set, statistics, sum(s.rows for s in kept), kept, work, files=files
        )
