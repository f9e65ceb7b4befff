"""What de-duplication decided, per row and in summary (`DedupResult` and its parts).

Rows are named by the row ids the caller gave (`Deduplicator.add_batch`). The per-row arrays are
aligned with `DedupResult.row_ids`, which is sorted; when rows are numbered 0..n-1, as a spooling
pipeline numbers them, `keep[row]` is the decision for `row`. Listings kept for the manifest
(`*_samples`) are capped; the counts beside them are complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.domain.steps import StepReport

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: drop reasons, by code (`DedupResult.reason`); 0 is "kept"
KEPT = 0
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
LABEL_CONFLICT = "label_conflict"
#: a training row (or one without a split) that duplicates a supplied validation/test row
EVAL_DUPLICATE = "eval_duplicate"
REASONS: tuple[str, ...] = ("", EXACT_DUPLICATE, NEAR_DUPLICATE, LABEL_CONFLICT, EVAL_DUPLICATE)
REASON_CODES = {reason: code for code, reason in enumerate(REASONS) if reason}

RowName = Callable[[int], str]


def _row_name(name: RowName | None) -> RowName:
    return name or str


@dataclass(frozen=True, slots=True)
class Cluster:
    """A group of duplicate rows: exact (same content digest) or near (MinHash LSH, verified).

    `representative` is the row kept for the group (its first row, unless a conflict policy chose
    another); `members` lists the first rows of the group (all of them up to the listing cap),
    `size` counts them all.
    """

    representative: int
    members: tuple[int, ...]
    size: int

    def to_dict(self, name: RowName | None = None) -> dict[str, Any]:
        label = _row_name(name)
        return {
            "representative": label(self.representative),
            "members": [label(row) for row in self.members],
            "size": self.size,
        }


@dataclass(frozen=True, slots=True)
class LabelConflict:
    """Rows with the same content and different labels, and what the conflict policy kept.

    `labels` holds (label, rows carrying it) in order of first appearance; a label whose text was
    not kept (see `Deduplicator`) reads "#<hash>".
    """

    first_row: int
    rows: int
    labels: tuple[tuple[str, int], ...]
    kept_rows: tuple[int, ...]

    def to_dict(self, name: RowName | None = None) -> dict[str, Any]:
        label = _row_name(name)
        return {
            "first": label(self.first_row),
            "rows": self.rows,
            "labels": [{"label": text, "rows": count} for text, count in self.labels],
            "kept": [label(row) for row in self.kept_rows],
        }


@dataclass(frozen=True, slots=True)
class Leakage:
    """Duplicates across the splits the data came with (train, validation, test), among the rows
    that stay (after de-duplication and decontamination).

    `clusters` counts duplicate clusters (exact groups joined with near clusters) whose kept rows
    carry two or more different existing splits, and `rows` their kept rows; `by_splits` counts
    them per pair of splits ("test~train"), `rows_by_splits` the kept rows of the two splits in
    them; `exact_pairs` and `near_pairs` count pairs of kept rows across two existing splits.
    """

    clusters: int = 0
    rows: int = 0
    by_splits: dict[str, int] = field(default_factory=dict)
    rows_by_splits: dict[str, int] = field(default_factory=dict)
    exact_pairs: int = 0
    near_pairs: int = 0
    samples: tuple[tuple[tuple[int, str], ...], ...] = ()

    def to_dict(self, name: RowName | None = None) -> dict[str, Any]:
        label = _row_name(name)
        return {
            "clusters": self.clusters,
            "rows": self.rows,
            "by_splits": dict(sorted(self.by_splits.items())),
            "rows_by_splits": dict(sorted(self.rows_by_splits.items())),
            "exact_pairs": self.exact_pairs,
            "near_pairs": self.near_pairs,
            "samples": [
                [{"row": label(row), "split": split} for row, split in sample] for sample in self.samples
            ],
        }


@dataclass(frozen=True, slots=True)
class RowPairs:
    """Verified near-duplicate pairs of rows (`left < right` by row id) and their Jaccard."""

    left: I64
    right: I64
    jaccard: F64

    def __len__(self) -> int:
        return len(self.left)


@dataclass(frozen=True)
class DedupResult:
    """Per-row decisions and the summary of one de-duplication run."""

    row_ids: I64
    #: whether each row stays
    keep: Bools
    #: the reason code a row was dropped for (`REASONS`), 0 when kept
    reason: U8
    #: the row kept in a dropped row's place (-1 for kept rows and rows dropped by DROP_ALL)
    duplicate_of: I64
    #: the duplicate cluster of each row (exact group joined with its near cluster), numbered
    #: 0, 1, ... in order of first row; -1 for a row without duplicates
    cluster_id: I64
    exact_groups: int
    exact_samples: tuple[Cluster, ...]
    near_clusters: int
    near_samples: tuple[Cluster, ...]
    near_pairs: RowPairs
    conflicts: int
    conflict_samples: tuple[LabelConflict, ...]
    leakage: Leakage
    report: StepReport
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row_ids)

    def positions(self, rows: I64 | list[int]) -> I64:
        """Where `rows` sit in the per-row arrays; raises `KeyError` for an unknown row."""
        rows = np.asarray(rows, dtype=np.int64)
        at = np.searchsorted(self.row_ids, rows)
        known = (at < len(self.row_ids)) & (self.row_ids[np.minimum(at, len(self.row_ids) - 1)] == rows)
        if not known.all():
            raise KeyError(f"unknown rows: {rows[~known][:5].tolist()}")
        return at

    def kept_rows(self) -> I64:
        """The row ids that stay, ascending."""
        return self.row_ids[self.keep]

    def summary(self, name: RowName | None = None) -> dict[str, Any]:
        """The manifest summary (`to_dict` without pair samples)."""
        return self.to_dict(name)

    def to_dict(self, name: RowName | None = None, *, max_pairs: int = 0) -> dict[str, Any]:
        """The JSON-able summary for a manifest; `name` turns a row id into an example id."""
        out: dict[str, Any] = {
            "rows_in": len(self.row_ids),
            "rows_out": int(self.keep.sum()),
            "exact_groups": self.exact_groups,
            "exact_samples": [c.to_dict(name) for c in self.exact_samples],
            "near_clusters": self.near_clusters,
            "near_pairs": len(self.near_pairs),
            "near_samples": [c.to_dict(name) for c in self.near_samples],
            "conflicts": self.conflicts,
            "conflict_samples": [c.to_dict(name) for c in self.conflict_samples],
            "leakage": self.leakage.to_dict(name),
            "params": dict(self.params),
        }
        if max_pairs:
            label = _row_name(name)
            pairs = self.near_pairs
            out["near_pair_samples"] = [
                [label(int(a)), label(int(b)), round(float(j), 4)]
                for a, b, j in zip(
                    pairs.left[:max_pairs], pairs.right[:max_pairs], pairs.jaccard[:max_pairs], strict=True
                )
            ]
        return out
