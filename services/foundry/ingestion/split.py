"""Train/validation/test assignment: seeded, stratified, group-aware, keeping existing splits.

    splitter = Splitter(options)
    for batch in spool:
        splitter.add_batch(row_ids, strata, splits, groups)   # stratum_key per row, ...
    result = splitter.finish(dedup_result)                    # clusters from de-duplication

or, for rows numbered 0..n-1 held in arrays, `assign_splits(options, existing=..., strata=...,
groups=..., clusters=dedup_result.cluster_id, keep=dedup_result.keep)`.

Units (`splitunits`). Rows in the same duplicate cluster (`cluster_id` of a `DedupResult`, or anything with
`row_ids` and `cluster_id`) or with the same non-empty group key are one unit (union-find over
both), and a unit never straddles two splits unless the data itself put its rows in different
splits (that is leakage, reported, and kept as it is).

Existing splits (`keep_existing`, the default): a row that comes with a split keeps it; the
unassigned rows of a unit that has existing splits take the unit's most common one (ties: the
one its first row carries). Only units with no existing split are assigned. With
`keep_existing=False` every unit is assigned afresh.

Assignment, per stratum (`stratify`): a unit's stratum is the most common stratum of its rows
(ties: its first row's); strata with fewer than `rare_min_units` free units are merged into one.
Each stratum's free rows are shared out so that the stratum as a whole (its rows already placed
included) comes as close to the fractions as it can: a split's target is
`max(0, fraction * stratum rows - rows already there)`, the targets normalised into shares
(the plain fractions when every target is 0). The stratum's units are ordered by a seeded hash
of their first row id (stable: adding rows elsewhere does not move them) and each goes to the
split whose cumulative share its row midpoint falls in, which keeps every split within one unit
of its share.

The result gives the split of every row, and a report: rows per split, per stratum and split,
units, and the leakage of the existing splits (units whose rows carry several).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.domain.dedup.shingles import fmix64
from foundry.domain.steps import StepReport
from foundry.ingestion.dedup.leakage import SPLITS, UNASSIGNED_CODE, cluster_leakage, split_codes
from foundry.ingestion.options import SplitOptions
from foundry.ingestion.splitunits import (
    ASSIGNABLE,
    I64,
    U8,
    U64,
    RowClusters,
    cluster_of,
    group_hash,
    unit_majority,
    unit_majority_stratum,
    units_of,
)
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Split

F64 = npt.NDArray[np.float64]

#: the stratum of rows without a label, and of the merged rare strata
UNLABELED_STRATUM = "(none)"
RARE_STRATUM = "(rare)"


def stratum_key(example: Example) -> str:
    """What a row is stratified by: its label, its sorted labels joined by "|", or for token
    classification the sorted entity types present ("O"-only rows: "(none)"); chat rows have none."""
    if example.tags is not None:
        types = sorted({tag[2:] for tag in example.tags if tag.startswith(("B-", "I-"))})
        return "|".join(types) or UNLABELED_STRATUM
    if example.labels is not None:
        return "|".join(sorted(set(example.labels))) or UNLABELED_STRATUM
    return example.label or UNLABELED_STRATUM


#: the name the pipeline knows `stratum_key` by
stratum_of = stratum_key


@dataclass(frozen=True)
class SplitResult:
    """The split of every row (`splits[i]` codes `SPLITS` for row `row_ids[i]`) and the report."""

    row_ids: I64
    splits: U8
    report: StepReport
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row_ids)

    def split_of(self, row: int) -> Split:
        """The split of one row; raises `KeyError` for an unknown row."""
        at = int(np.searchsorted(self.row_ids, row))
        if at >= len(self.row_ids) or self.row_ids[at] != row:
            raise KeyError(row)
        return SPLITS[int(self.splits[at])]

    def to_dict(self) -> dict[str, Any]:
        return {"report": self.report.to_dict(), **self.stats}


@dataclass(frozen=True)
class AssignedSplits:
    """`assign_splits`' answer: the split name of every row 0..n-1 ("unassigned" for rows left
    out by `keep`) and the splitter's result."""

    split: npt.NDArray[np.object_]
    result: SplitResult

    @property
    def report(self) -> StepReport:
        return self.result.report

    @property
    def leakage(self) -> dict[str, Any]:
        leak: dict[str, Any] = self.result.stats["leakage"]
        return leak


def assign_splits(
    options: SplitOptions,
    *,
    existing: Sequence[str] | npt.NDArray[np.object_],
    strata: Sequence[str] | npt.NDArray[np.object_],
    groups: Sequence[str] | npt.NDArray[np.object_] | None = None,
    clusters: I64 | None = None,
    keep: npt.NDArray[np.bool_] | None = None,
) -> AssignedSplits:
    """Split rows numbered 0..n-1 in one call: per row its existing split, stratum, group key,
    duplicate cluster (-1 none) and whether it is kept (only kept rows are split)."""
    count = len(existing)
    rows = np.arange(count, dtype=np.int64) if keep is None else np.flatnonzero(keep).astype(np.int64)
    pick = rows.tolist()
    splitter = Splitter(options)
    splitter.add_batch(
        rows,
        [str(strata[i]) for i in pick],
        [str(existing[i]) for i in pick],
        None if groups is None else [str(groups[i]) for i in pick],
    )
    cluster_rows = (
        _DenseClusters(np.arange(count, dtype=np.int64), clusters) if clusters is not None else None
    )
    result = splitter.finish(cluster_rows)
    names = np.full(count, Split.UNASSIGNED.value, dtype=object)
    names[result.row_ids] = [SPLITS[code].value for code in result.splits.tolist()]
    return AssignedSplits(names, result)


@dataclass(frozen=True)
class _DenseClusters:
    row_ids: I64
    cluster_id: I64


def check_options(options: SplitOptions) -> None:
    """Raise `InvalidArgumentError` unless the fractions are >= 0 and sum to 1."""
    fractions = (options.train_fraction, options.validation_fraction, options.test_fraction)
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise InvalidArgumentError(
            "invalid split options",
            reason="INVALID_OPTIONS",
            violations=[FieldViolation("split", f"fractions must be >= 0 and sum to 1, got {fractions}")],
        )


class Splitter:
    """Seeded, stratified, group-aware split assignment over batches of rows (module docstring)."""

    name = "split"

    def __init__(
        self, options: SplitOptions, *, rare_min_units: int | None = None, max_listed: int = 100
    ) -> None:
        check_options(options)
        self.options = options
        self.fractions = np.array(
            [options.train_fraction, options.validation_fraction, options.test_fraction]
        )
        smallest = min((f for f in self.fractions if f > 0), default=1.0)
        self.rare_min_units = (
            rare_min_units if rare_min_units is not None else max(10, math.ceil(2 / smallest))
        )
        self.max_listed = max_listed
        self._rows: list[I64] = []
        self._strata: list[I64] = []
        self._splits: list[U8] = []
        self._groups: list[U64] = []
        self._stratum_ids: dict[str, int] = {}
        self._wall_s = 0.0

    def add_batch(
        self,
        row_ids: I64 | Sequence[int],
        strata: Sequence[str],
        splits: Sequence[str | Split],
        groups: Sequence[str] | None = None,
    ) -> None:
        """Add rows: ids, strata (`stratum_key`), existing splits ("unassigned" for none) and group
        keys ("" for none)."""
        started = time.perf_counter()
        rows = np.asarray(row_ids, dtype=np.int64)
        groups = groups if groups is not None else [""] * len(rows)
        if not len(rows) == len(strata) == len(splits) == len(groups):
            raise ValueError("row_ids, strata, splits and groups must have the same length")
        ids = self._stratum_ids
        self._rows.append(rows)
        self._strata.append(np.fromiter((ids.setdefault(s, len(ids)) for s in strata), np.int64, len(rows)))
        self._splits.append(split_codes(splits))
        self._groups.append(np.fromiter(map(group_hash, groups), np.uint64, len(rows)))
        self._wall_s += time.perf_counter() - started

    def finish(self, clusters: RowClusters | None = None) -> SplitResult:
        """Assign every row added (see the module docstring)."""
        started = time.perf_counter()
        rows = _joined(self._rows, np.int64)
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        if len(rows) > 1 and not (np.diff(rows) > 0).all():
            raise ValueError("row ids must be unique")
        strata = _joined(self._strata, np.int64)[order]
        existing = _joined(self._splits, np.uint8)[order]
        groups = _joined(self._groups, np.uint64)[order]
        self._rows, self._strata, self._splits, self._groups = [], [], [], []

        unit = units_of(rows, groups, cluster_of(rows, clusters))
        kept = existing if self.options.keep_existing else np.full(len(rows), UNASSIGNED_CODE, np.uint8)
        result = kept.copy()
        unit_split = unit_majority(unit, kept)
        inherit = (kept == UNASSIGNED_CODE) & (unit_split[unit] != UNASSIGNED_CODE)
        result[inherit] = unit_split[unit[inherit]]
        free = result == UNASSIGNED_CODE
        unit_stratum = unit_majority_stratum(unit, strata, free)
        if not self.options.stratify:
            unit_stratum[:] = 0
        self._assign(
            rows, unit, unit_stratum, result, free, strata if self.options.stratify else np.zeros_like(strata)
        )
        self._wall_s += time.perf_counter() - started
        return self._result(rows, unit, strata, existing, result, int(inherit.sum()), int(free.sum()))

    def _assign(
        self, rows: I64, unit: I64, unit_stratum: I64, result: U8, free: npt.NDArray[np.bool_], strata: I64
    ) -> None:
        """Assign the free units, stratum by stratum, writing `result`."""
        heads = np.unique(unit[free])  # a unit is named by its first row
        if not len(heads):
            return
        sizes = np.bincount(unit[free], minlength=len(rows))[heads]
        head_strata = unit_stratum[heads]
        units_per_stratum = np.bincount(head_strata)
        rare = units_per_stratum < self.rare_min_units
        rare_id = len(units_per_stratum)
        head_strata = np.where(rare[head_strata], rare_id, head_strata)
        row_strata = np.where(rare[strata], rare_id, strata)
        seed = np.uint64(self.options.seed & 0xFFFFFFFFFFFFFFFF)
        keys = fmix64(rows[heads].astype(np.uint64) ^ fmix64(np.array([seed], dtype=np.uint64))[0])
        order = np.lexsort((keys, head_strata))
        placed_cells = np.bincount(
            row_strata[~free] * (UNASSIGNED_CODE + 1) + result[~free],
            minlength=(rare_id + 1) * (UNASSIGNED_CODE + 1),
        ).reshape(rare_id + 1, UNASSIGNED_CODE + 1)
        head_split = np.empty(len(heads), dtype=np.uint8)
        bounds = np.flatnonzero(np.r_[True, head_strata[order][1:] != head_strata[order][:-1]])
        for start, end in zip(bounds.tolist(), np.append(bounds[1:], len(order)).tolist(), strict=True):
            members = order[start:end]
            stratum = int(head_strata[members[0]])
            placed = placed_cells[stratum, :ASSIGNABLE].astype(np.float64)
            shares = self._shares(placed, float(sizes[members].sum()))
            ends = np.cumsum(sizes[members])
            midpoints = (ends - sizes[members] / 2) / ends[-1]
            head_split[members] = np.minimum(
                np.searchsorted(np.cumsum(shares), midpoints, side="right"), ASSIGNABLE - 1
            )
        split_of_unit = np.full(len(rows), UNASSIGNED_CODE, dtype=np.uint8)
        split_of_unit[heads] = head_split
        result[free] = split_of_unit[unit[free]]

    def _shares(self, placed: F64, free_rows: float) -> F64:
        """How to share a stratum's free rows out: each split's deficit towards its fraction."""
        deficit = np.maximum(self.fractions * (placed.sum() + free_rows) - placed, 0.0)
        total = float(deficit.sum())
        shares: F64 = deficit / total if total > 0 else self.fractions.astype(np.float64)
        return shares

    def _result(
        self, rows: I64, unit: I64, strata: I64, existing: U8, result: U8, inherited: int, assigned: int
    ) -> SplitResult:
        names = sorted(self._stratum_ids, key=self._stratum_ids.__getitem__)
        per_split = np.bincount(result, minlength=len(SPLITS))
        per_stratum: dict[str, dict[str, int]] = {}
        cells = np.bincount(strata * len(SPLITS) + result, minlength=len(names) * len(SPLITS))
        for index, name in enumerate(names):
            counts = cells[index * len(SPLITS) : (index + 1) * len(SPLITS)]
            per_stratum[name] = {SPLITS[c].value: int(n) for c, n in enumerate(counts.tolist()) if n}
        unit_ids = np.unique(unit, return_inverse=True)[1].astype(np.int64)
        unit_sizes = np.bincount(unit_ids)
        shared_unit = np.where(unit_sizes[unit_ids] >= 2, unit_ids, -1)
        leaks, leak_rows, by_splits, samples = cluster_leakage(
            shared_unit, existing, rows, max_listed=self.max_listed
        )
        report = StepReport(self.name, rows_in=len(rows), rows_out=len(rows), wall_time_s=self._wall_s)
        report.rows_modified = int((result != existing).sum())
        report.counters.update(
            {
                "assigned": assigned,
                "inherited_from_unit": inherited,
                "kept_existing": int(((existing != UNASSIGNED_CODE) & (result == existing)).sum()),
                "units": len(unit_sizes),
                "multi_row_units": int((unit_sizes >= 2).sum()),
                "leaking_units": leaks,
                **{f"rows.{SPLITS[c].value}": int(n) for c, n in enumerate(per_split.tolist()) if n},
            }
        )
        stats = {
            "rows_per_split": {SPLITS[c].value: int(n) for c, n in enumerate(per_split.tolist()) if n},
            "rows_per_stratum": per_stratum,
            "units": len(unit_sizes),
            "largest_unit": int(unit_sizes.max(initial=0)),
            "leakage": {
                "units": leaks,
                "rows": leak_rows,
                "by_splits": by_splits,
                "samples": [[{"row": r, "split": s} for r, s in sample] for sample in samples],
            },
            "params": {
                "seed": self.options.seed,
                "fractions": self.fractions.tolist(),
                "stratify": self.options.stratify,
                "keep_existing": self.options.keep_existing,
                "rare_min_units": self.rare_min_units,
            },
        }
        return SplitResult(rows, result, report, stats)


def _joined(parts: Sequence[npt.NDArray[Any]], dtype: type[np.generic]) -> npt.NDArray[Any]:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
