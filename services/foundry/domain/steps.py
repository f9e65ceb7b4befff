"""The one contract every ingestion step follows, and the report each keeps of its own work (the
form augmentation reports in too).

A step takes a stream of `Example`s and yields a stream: it may rewrite rows (counted as
modified), drop them (counted by reason, with the source line of the first ones), or, rarely,
create them. Steps know nothing of gRPC, storage or where they run (datatrove's `PipelineStep`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from foundry.runtime.examples import Example

#: how many row violations a report keeps (the counts are always complete)
DEFAULT_MAX_VIOLATIONS = 20


@dataclass(frozen=True, slots=True)
class RowViolation:
    """Why one row was dropped or rejected, and where it came from."""

    reason: str  # stable, machine-readable: "empty_text", "invalid_tag_sequence", ...
    description: str  # for people
    line: int | None = None  # 1-based line of the source file
    field: str = ""
    example_id: str = ""


@dataclass
class StepReport:
    """Counts in and out of one step, with reasons."""

    step: str
    rows_in: int = 0
    rows_out: int = 0
    rows_modified: int = 0
    rows_created: int = 0
    drop_reasons: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    violations: list[RowViolation] = field(default_factory=list)
    max_violations: int = DEFAULT_MAX_VIOLATIONS
    wall_time_s: float = 0.0

    def drop(self, violation: RowViolation) -> None:
        """Count a dropped row under its reason; keep the first violations for the report."""
        self.drop_reasons[violation.reason] += 1
        if len(self.violations) < self.max_violations:
            self.violations.append(violation)

    @property
    def rows_dropped(self) -> int:
        return sum(self.drop_reasons.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "rows_modified": self.rows_modified,
            "rows_created": self.rows_created,
            "drop_reasons": dict(sorted(self.drop_reasons.items())),
            "counters": dict(sorted(self.counters.items())),
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
            "wall_time_s": round(self.wall_time_s, 6),
        }


class Step:
    """Base of a streaming step: override `apply` (one row in, the row, a new row or None out).

    Steps that need to see every row first (de-duplication, splitting) override `run` instead.
    """

    name: str = "step"

    def __init__(self) -> None:
        self.report = StepReport(self.name)

    def apply(self, example: Example) -> Example | None:
        """The row as it leaves this step, or None to drop it (after calling `self.report.drop`)."""
        return example

    def run(self, rows: Iterable[Example]) -> Iterator[Example]:
        report = self.report
        for example in rows:
            report.rows_in += 1
            started = time.perf_counter()
            out = self.apply(example)
            report.wall_time_s += time.perf_counter() - started
            if out is None:
                continue
            if out is not example:
                report.rows_modified += 1
            report.rows_out += 1
            yield out
