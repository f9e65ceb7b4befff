"""The de-duplication result in the manifest's shape (`DuplicateSummary`, `SplitLeak` of
foundry.common.v1), with example ids in place of row numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from foundry.domain.stats import SPLIT_ENUM
from foundry.ingestion.dedup import DedupResult
from foundry.runtime.examples import Split


def sample_rows(result: DedupResult) -> set[int]:
    """The rows whose example ids the summaries name."""
    rows: set[int] = set()
    for cluster in (*result.exact_samples, *result.near_samples):
        rows.add(cluster.representative)
        rows.update(cluster.members)
    for sample in result.leakage.samples:
        rows.update(row for row, _ in sample)
    return rows


def duplicate_summary(result: DedupResult, names: Mapping[int, str]) -> dict[str, Any]:
    drops = result.report.drop_reasons
    near_rows = np.unique(np.concatenate([result.near_pairs.left, result.near_pairs.right]))
    clusters = [
        {"cluster_id": f"{kind}-{i}", "example_ids": [names.get(r, str(r)) for r in cluster.members]}
        for kind, samples in (("exact", result.exact_samples), ("near", result.near_samples))
        for i, cluster in enumerate(samples)
    ]
    return {
        "exact_duplicates_removed": drops.get("exact_duplicate", 0),
        "near_duplicate_clusters": result.near_clusters,
        "rows_in_near_duplicate_clusters": len(near_rows),
        "near_duplicates_removed": drops.get("near_duplicate", 0),
        "clusters": clusters,
        "clusters_truncated": result.exact_groups > len(result.exact_samples)
        or result.near_clusters > len(result.near_samples),
        "near_duplicate_params": dict(result.params),
        "label_conflict_groups": result.conflicts,
        "label_conflict_rows_dropped": drops.get("label_conflict", 0),
        "eval_duplicates_removed": drops.get("eval_duplicate", 0),
        "eval_duplicates_kept": result.report.counters.get("eval_duplicates_kept", 0),
    }


def leakage_summary(result: DedupResult, names: Mapping[int, str]) -> list[dict[str, Any]]:
    """One `SplitLeak` per pair of existing splits that share a duplicate cluster."""
    out = []
    for pair, clusters in sorted(result.leakage.by_splits.items()):
        first, second = (Split(s) for s in pair.split("~"))
        samples = [
            names.get(row, str(row))
            for sample in result.leakage.samples
            if {first.value, second.value} <= {split for _, split in sample}
            for row, _ in sample
        ]
        out.append(
            {
                "split_a": SPLIT_ENUM[first],
                "split_b": SPLIT_ENUM[second],
                "clusters": clusters,
                "rows": result.leakage.rows_by_splits.get(pair, 0),
                "sample_example_ids": samples[:20],
            }
        )
    return out
