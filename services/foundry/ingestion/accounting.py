"""Per-file accounting of an ingestion: every record a reader read is kept in the version or
dropped by some step, with its reason (and, for the first drops, its line).

Files are read one after the other through the streaming steps, so a file's drops in those
steps are the growth of each step's counts while the file was read (`FileLedger.begin`/`end`
take the snapshots), and the rows it left in the spool are a contiguous range. The global steps
(de-duplication) decide per spool row, so their drops are counted over each file's range.
`rows_read == rows_kept + rows_dropped` for every file (`SourceFileReport` in the manifest's
statistics and the ingest report).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foundry.domain.steps import RowViolation, StepReport
from foundry.ingestion.dedup import DedupResult
from foundry.ingestion.dedup.result import REASONS


@dataclass
class FileAccount:
    """What became of one file's records."""

    file_name: str
    rows_read: int = 0
    rows_kept: int = 0
    drop_reasons: Counter[str] = field(default_factory=Counter)
    violations: list[RowViolation] = field(default_factory=list)
    #: the file's rows in the spool: [first_row, end_row)
    first_row: int = 0
    end_row: int = 0

    @property
    def rows_dropped(self) -> int:
        return sum(self.drop_reasons.values())

    def to_dict(self) -> dict[str, Any]:
        """The `SourceFileReport` of the manifest's statistics."""
        return {
            "file_name": self.file_name,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "drop_reasons": dict(sorted(self.drop_reasons.items())),
            "violations": [
                {
                    "reason": v.reason,
                    "description": v.description,
                    "line": v.line,
                    "field": v.field,
                    "example_id": v.example_id,
                }
                for v in self.violations
            ],
        }


class FileLedger:
    """Accounts file by file for the records read and the rows the streaming `steps` drop."""

    def __init__(self, steps: Sequence[StepReport], max_violations: int) -> None:
        self._steps = steps
        self._max_violations = max_violations
        self.files: list[FileAccount] = []
        self._read: StepReport | None = None
        self._before: list[tuple[Counter[str], int]] = []
        self._spooled = 0

    def begin(self, file_name: str, read: StepReport) -> None:
        """File `file_name` is about to be read, with `read` as its reader's report."""
        self._read = read
        self._before = [(report.drop_reasons.copy(), len(report.violations)) for report in self._steps]
        self.files.append(FileAccount(file_name, first_row=self._spooled))

    def end(self) -> None:
        """The file begun last has gone through every streaming step."""
        account, read = self.files[-1], self._read
        assert read is not None
        account.rows_read = read.rows_in
        violations = list(read.violations)
        step_drops: Counter[str] = Counter()
        for report, (drops, seen) in zip(self._steps, self._before, strict=True):
            step_drops.update(report.drop_reasons - drops)
            violations.extend(report.violations[seen:])
        account.drop_reasons = read.drop_reasons + step_drops
        account.violations = violations[: self._max_violations]
        self._spooled += read.rows_out - sum(step_drops.values())
        account.end_row = self._spooled

    def settle(self, deduped: DedupResult) -> list[FileAccount]:
        """The accounts, with the drops of de-duplication and the rows kept in the version."""
        keep, reason = deduped.keep, deduped.reason
        for account in self.files:
            kept = keep[account.first_row : account.end_row]
            account.rows_kept = int(kept.sum())
            codes = np.bincount(reason[account.first_row : account.end_row][~kept], minlength=len(REASONS))
            for code, count in enumerate(codes.tolist()):
                if count:
                    account.drop_reasons[REASONS[code] or "dropped"] += count
        return self.files
