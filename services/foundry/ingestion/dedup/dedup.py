"""`Deduplicator`: exact and near-duplicate de-duplication of a stream of row batches.

    dedup = Deduplicator(options, task)
    for batch in spool:
        dedup.add_batch(row_ids, keys, labels, splits)   # content_key / label_signature per row
    result = dedup.finish()                              # DedupResult: a decision per row

Nothing of a row is kept but its id, its content digest (16 bytes), its label hash (8), its
existing split (1) and, for near-duplicates, its band keys (8 per band) and shingle hashes (4 per
distinct shingle, on disk with `spill_dir`); label texts are kept for the first
`max_label_texts` distinct labels only (later ones are reported by hash).

`finish` decides in this order, rows taken in row-id order, within scopes (`scopes.py`: the
training pool, and each supplied evaluation split on its own):

1. exact groups (same content digest) and label conflicts within each scope, per `exact.py`;
   the rows of an evaluation split are frozen (reported, kept) unless `dedup_eval_splits`;
2. near duplicates among the contents still kept: one row per exact group of a scope goes
   through MinHash LSH (`near.py`), every candidate pair is verified by exact Jaccard, and the
   verified pairs join exact groups into near clusters (union-find). With `remove_near` only
   the first group of each cluster within a scope keeps its rows; the rows of the others are
   dropped as near duplicates (frozen rows never are);
3. clusters for the split step: each exact group (across scopes) joined with its near cluster;
   a row without any duplicate has cluster -1;
4. decontamination (`decontaminate`): every row of the training pool in a cluster with a kept
   validation/test row is dropped as an eval duplicate;
5. leakage over the existing splits among the rows kept, and the step report ("dedup", with drop
   reasons exact_duplicate, near_duplicate, label_conflict and eval_duplicate).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from foundry.domain.dedup.clusters import components, dense_labels
from foundry.domain.dedup.content import DIGEST_BYTES, content_digest
from foundry.domain.dedup.near import NearDuplicateIndex
from foundry.domain.steps import RowViolation, StepReport
from foundry.ingestion.dedup import exact as exact_step
from foundry.ingestion.dedup.leakage import leakage, split_codes
from foundry.ingestion.dedup.result import (
    NEAR_DUPLICATE,
    REASON_CODES,
    REASONS,
    Cluster,
    DedupResult,
    LabelConflict,
    RowPairs,
)
from foundry.ingestion.dedup.scopes import decontaminate, frozen_duplicates, is_eval, scopes
from foundry.ingestion.options import DedupOptions
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split, Task

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]

#: MinHash permutation seed (datasketch's default seed, so its permutations are ours)
MINHASH_SEED = 1
_NEAR = REASON_CODES[NEAR_DUPLICATE]
_MAX_MEMBERS = 20


def check_options(options: DedupOptions) -> None:
    """Raise `InvalidArgumentError` for options the de-duplication cannot run with."""
    bad: list[FieldViolation] = []
    if options.shingle_size <= 0:
        bad.append(FieldViolation("dedup.shingle_size", "must be > 0"))
    if not 0 < options.num_permutations <= 1 << 16:
        bad.append(FieldViolation("dedup.num_permutations", "must be within [1, 65536]"))
    if not 0.0 < options.threshold <= 1.0:
        bad.append(FieldViolation("dedup.threshold", "must be within (0, 1]"))
    if bad:
        raise InvalidArgumentError("invalid de-duplication options", reason="INVALID_OPTIONS", violations=bad)


class Deduplicator:
    """Exact and near-duplicate de-duplication with label conflicts and leakage (module docstring)."""

    name = "dedup"

    def __init__(
        self,
        options: DedupOptions,
        task: Task,
        *,
        spill_dir: str | Path | None = None,
        max_listed: int = 100,
        max_label_texts: int = 65_536,
    ) -> None:
        check_options(options)
        self.options = options
        self.task = task
        self.max_listed = max_listed
        self.max_label_texts = max_label_texts
        self._rows: list[I64] = []
        self._digests: list[U64] = []
        self._labels: list[U64] = []
        self._splits: list[U8] = []
        self._label_texts: dict[int, str] = {}
        self._near: NearDuplicateIndex | None = None
        if options.near:
            self._near = NearDuplicateIndex(
                shingle_size=options.shingle_size,
                num_perm=options.num_permutations,
                threshold=options.threshold,
                seed=MINHASH_SEED,
                spill_dir=spill_dir,
            )
        self._wall_s = 0.0

    def add_batch(
        self,
        row_ids: I64 | Sequence[int],
        keys: Sequence[str],
        labels: Sequence[str],
        splits: Sequence[str | Split],
    ) -> None:
        """Add rows: their ids, content keys (`content_key`), label signatures
        (`label_signature`, "" when unlabeled) and existing splits ("unassigned" when none)."""
        started = time.perf_counter()
        rows = np.asarray(row_ids, dtype=np.int64)
        if not len(rows) == len(keys) == len(labels) == len(splits):
            raise ValueError("row_ids, keys, labels and splits must have the same length")
        digests = b"".join(content_digest(key) for key in keys)
        self._rows.append(rows)
        self._digests.append(np.frombuffer(digests, dtype=np.uint64).reshape(len(rows), DIGEST_BYTES // 8))
        self._labels.append(np.fromiter(map(self._label_hash, labels), dtype=np.uint64, count=len(labels)))
        self._splits.append(split_codes(splits))
        if self._near is not None:
            self._near.add(keys)
        self._wall_s += time.perf_counter() - started

    def _label_hash(self, label: str) -> int:
        """A label's 64-bit hash (0 for ""), keeping its text while under the budget."""
        if not label:
            return 0
        value = int.from_bytes(
            hashlib.blake2b(label.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
        )
        value = value or 1
        if len(self._label_texts) < self.max_label_texts:
            self._label_texts.setdefault(value, label)
        return value

    def _label_text(self, value: int) -> str:
        return self._label_texts.get(value, f"#{value:016x}")

    def finish(self) -> DedupResult:
        """Decide every row added (see the module docstring)."""
        started = time.perf_counter()
        rows = np.concatenate(self._rows) if self._rows else np.zeros(0, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        if len(rows) > 1 and not (np.diff(rows) > 0).all():
            raise ValueError("row ids must be unique")
        digests = np.concatenate(self._digests)[order] if self._digests else np.zeros((0, 2), np.uint64)
        labels = np.concatenate(self._labels)[order] if self._labels else np.zeros(0, np.uint64)
        splits = np.concatenate(self._splits)[order] if self._splits else np.zeros(0, np.uint8)
        self._rows, self._digests, self._labels, self._splits = [], [], [], []

        high, low = digests[:, 0].copy(), digests[:, 1].copy()
        group = exact_step.exact_groups(high, low)
        scope = scopes(splits)
        scoped = exact_step.exact_groups(high, low, scope)
        frozen = is_eval(splits) & (not self.options.dedup_eval_splits)
        decision = exact_step.decide(
            scoped,
            labels,
            self.options.conflict_policy,
            exact=self.options.exact,
            max_listed=self.max_listed,
            frozen=frozen,
        )
        reason, duplicate_of = decision.reason, decision.duplicate_of
        near = self._near_pass(group, scoped, scope, frozen, reason, duplicate_of, order)
        roots, left, right, jaccard, near_stats = near.roots, near.left, near.right, near.jaccard, near.stats
        cluster_id = _cluster_ids(roots[group])
        near_stats["eval_duplicates_kept"] = frozen_duplicates(scoped, frozen, near.scoped_roots)
        near_stats["decontaminated"] = (
            decontaminate(cluster_id, splits, reason, duplicate_of) if self.options.decontaminate else 0
        )
        keep = reason == 0
        result = DedupResult(
            row_ids=rows,
            keep=keep,
            reason=reason,
            duplicate_of=np.where(duplicate_of >= 0, rows[np.maximum(duplicate_of, 0)], -1),
            cluster_id=cluster_id,
            exact_groups=int((np.bincount(group, minlength=len(rows)) >= 2).sum()),
            exact_samples=self._exact_samples(group, reason, duplicate_of, rows),
            near_clusters=near_stats.pop("near_clusters"),
            near_samples=self._near_samples(roots, group, reason, rows),
            near_pairs=RowPairs(rows[left], rows[right], jaccard),
            conflicts=decision.conflicts,
            conflict_samples=tuple(self._conflict(c, rows) for c in decision.conflict_samples),
            leakage=leakage(
                cluster_id, group, splits, left, right, rows, keep=keep, max_listed=self.max_listed
            ),
            report=StepReport(self.name),
            params=self._params(),
        )
        self._wall_s += time.perf_counter() - started
        self._fill_report(result, near_stats)
        return result

    def _near_pass(
        self, group: I64, scoped: I64, scope: U8, frozen: Bools, reason: U8, duplicate_of: I64, order: I64
    ) -> _NearPass:
        """Near clusters of the exact groups still kept (one probe row per group of a scope):
        the root group of each exact group over every verified pair, and of each scoped group
        over the pairs within a scope; drops near duplicates within a scope when `remove_near`
        (never rows that are `frozen`)."""
        count = len(group)
        empty = np.zeros(0, dtype=np.int64)
        if self._near is None or count == 0:
            identity = np.arange(count)
            return _NearPass(identity, identity, empty, empty, np.zeros(0), {"near_clusters": 0})
        positions = np.arange(count, dtype=np.int64)
        alive = reason == 0
        probe = np.full(count, count, dtype=np.int64)  # per scoped group: its first kept row
        np.minimum.at(probe, scoped[alive], positions[alive])
        probes = probe[probe < count]
        include = np.zeros(count, dtype=np.bool_)
        include[order[probes]] = True  # the index numbers rows in the order they were added
        pairs = self._near.pairs(include)
        self._near.close()
        rank = np.empty(count, dtype=np.int64)
        rank[order] = positions
        left, right = rank[pairs.left], rank[pairs.right]
        left, right = np.minimum(left, right), np.maximum(left, right)
        distinct = group[left] != group[right]  # same content in two scopes is an exact pair
        left, right, jaccard = left[distinct], right[distinct], pairs.jaccard[distinct]
        by_rows = np.lexsort((right, left))
        left, right, jaccard = left[by_rows], right[by_rows], jaccard[by_rows]
        roots = components(count, group[left], group[right])
        within = scope[left] == scope[right]
        scoped_roots = components(count, scoped[left[within]], scoped[right[within]])
        live_groups = np.unique(group[probes])
        groups_per_root = np.bincount(roots[live_groups], minlength=count)
        if self.options.remove_near:
            moved = alive & ~frozen & (scoped_roots[scoped] != scoped)
            reason[moved] = _NEAR
            duplicate_of[moved] = probe[scoped_roots[scoped[moved]]]
        stats = {
            "near_clusters": int((groups_per_root >= 2).sum()),
            "near_pairs": len(left),
            "near_candidates": pairs.candidates,
            "near_size_rejected": pairs.size_rejected,
        }
        return _NearPass(roots, scoped_roots, left, right, jaccard, stats)

    def _exact_samples(self, group: I64, reason: U8, duplicate_of: I64, rows: I64) -> tuple[Cluster, ...]:
        """The largest exact groups: their kept row, first rows and size."""
        out = []
        for members in _largest_runs(group, np.arange(len(group)), self.max_listed):
            kept = members[reason[members] == 0]
            representative = int(kept[0]) if len(kept) else int(members[0])
            out.append(
                Cluster(int(rows[representative]), tuple(rows[members[:_MAX_MEMBERS]].tolist()), len(members))
            )
        return tuple(out)

    def _near_samples(self, roots: I64, group: I64, reason: U8, rows: I64) -> tuple[Cluster, ...]:
        """The largest near clusters: the first row of each exact group in them, their number."""
        heads = np.flatnonzero(group == np.arange(len(group)))  # each exact group's first row
        out = []
        for members in _largest_runs(roots[heads], heads, self.max_listed):
            out.append(
                Cluster(int(rows[members[0]]), tuple(rows[members[:_MAX_MEMBERS]].tolist()), len(members))
            )
        return tuple(out)

    def _conflict(self, conflict: exact_step.ConflictGroup, rows: I64) -> LabelConflict:
        return LabelConflict(
            first_row=int(rows[conflict.first_row]),
            rows=conflict.rows,
            labels=tuple((self._label_text(label), count) for label, count in conflict.labels),
            kept_rows=tuple(int(rows[row]) for row in conflict.kept),
        )

    def _params(self) -> dict[str, object]:
        options = self.options
        params: dict[str, object] = {
            "exact": options.exact,
            "near": options.near,
            "remove_near": options.remove_near,
            "conflict_policy": options.conflict_policy.value,
            "chat_scope": options.chat_scope.value,
            "dedup_eval_splits": options.dedup_eval_splits,
            "decontaminate": options.decontaminate,
        }
        if self._near is not None:
            params |= {
                "shingle_size": options.shingle_size,
                "num_permutations": options.num_permutations,
                "threshold": options.threshold,
                "bands": self._near.bands,
                "rows_per_band": self._near.rows,
                "seed": MINHASH_SEED,
            }
        return params

    def _fill_report(self, result: DedupResult, near_stats: dict[str, int]) -> None:
        report = result.report
        report.rows_in = len(result)
        report.rows_out = int(result.keep.sum())
        for code, dropped in enumerate(np.bincount(result.reason, minlength=len(REASONS)).tolist()):
            if code and dropped:
                report.drop_reasons[REASONS[code]] = dropped
        for position in np.flatnonzero(~result.keep)[: report.max_violations].tolist():
            row, reason, original = (
                int(result.row_ids[position]),
                REASONS[result.reason[position]],
                int(result.duplicate_of[position]),
            )
            report.violations.append(RowViolation(reason, _describe(row, reason, original)))
        report.counters.update(
            {
                "exact_groups": result.exact_groups,
                "label_conflicts": result.conflicts,
                "clusters": int(result.cluster_id.max(initial=-1)) + 1,
                "leaking_clusters": result.leakage.clusters,
                **near_stats,
            }
        )
        report.wall_time_s = self._wall_s


@dataclass(frozen=True, slots=True)
class _NearPass:
    """What the near pass found: root group per exact group (all pairs) and per scoped group
    (pairs within a scope), the verified pairs as row positions, their Jaccard, counts."""

    roots: I64
    scoped_roots: I64
    left: I64
    right: I64
    jaccard: npt.NDArray[np.float64]
    stats: dict[str, int]


def _describe(row: int, reason: str, original: int) -> str:
    kind = reason.replace("_", " ")
    return f"row {row}: {kind}" + (f" of row {original}" if original >= 0 else "")


def _largest_runs(keys: I64, items: I64, limit: int) -> list[I64]:
    """The `items` sharing a key, for the `limit` largest keys shared by two or more items
    (ties: the smallest first item), each run ascending."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        if len(keys)
        else np.zeros(0, np.int64)
    )
    ends = np.append(starts[1:], len(keys))
    sizes = ends - starts
    shared = np.flatnonzero(sizes >= 2)
    ranked = shared[np.lexsort((items[order[starts[shared]]], -sizes[shared]))][:limit]
    return [items[order[starts[run] : ends[run]]] for run in ranked.tolist()]


def _cluster_ids(root: I64) -> I64:
    """Dense cluster numbers (in order of first row) for roots shared by two or more rows, else -1."""
    labels, sizes = dense_labels(root)
    shared = sizes[labels] >= 2
    out = np.full(len(root), -1, dtype=np.int64)
    if shared.any():
        renumber = np.cumsum(sizes >= 2) - 1
        out[shared] = renumber[labels[shared]]
    return out
