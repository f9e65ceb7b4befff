"""Split assignment: invariants (units never straddle splits, stratification within a tolerance,
determinism by seed, existing splits kept, leakage reported)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from foundry.ingestion.options import SplitOptions
from foundry.ingestion.split import (
    RARE_STRATUM,
    UNLABELED_STRATUM,
    SplitResult,
    Splitter,
    assign_splits,
    stratum_key,
    stratum_of,
)
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example, Split

LABELS = ["a", "b", "c", "d", "e"]
WEIGHTS = [0.45, 0.3, 0.15, 0.08, 0.02]


@dataclass(frozen=True)
class Clusters:
    row_ids: npt.NDArray[np.int64]
    cluster_id: npt.NDArray[np.int64]


def dataset(count: int, seed: int = 0) -> tuple[list[str], list[str], Clusters]:
    """Labels, group keys (a third of rows in groups of 2-5) and clusters (a fifth in 2-4)."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(LABELS, size=count, p=WEIGHTS).tolist()
    groups = [f"user-{rng.integers(count // 8)}" if rng.random() < 0.33 else "" for _ in range(count)]
    cluster = np.full(count, -1, dtype=np.int64)
    members = rng.choice(count, size=count // 5, replace=False)
    cluster[members] = rng.integers(0, count // 15, size=len(members))
    return labels, groups, Clusters(np.arange(count, dtype=np.int64), cluster)


def split(
    labels: list[str],
    groups: list[str],
    clusters: Clusters | None,
    options: SplitOptions | None = None,
    existing: list[str] | None = None,
) -> SplitResult:
    splitter = Splitter(options or SplitOptions())
    existing = existing or ["unassigned"] * len(labels)
    for start in range(0, len(labels), 997):
        end = min(start + 997, len(labels))
        splitter.add_batch(range(start, end), labels[start:end], existing[start:end], groups[start:end])
    return splitter.finish(clusters)


def assert_units_whole(result: SplitResult, groups: list[str], clusters: Clusters) -> None:
    by_key: dict[tuple[str, object], set[int]] = {}
    for row, code in enumerate(result.splits.tolist()):
        if groups[row]:
            by_key.setdefault(("group", groups[row]), set()).add(code)
        if clusters.cluster_id[row] >= 0:
            by_key.setdefault(("cluster", int(clusters.cluster_id[row])), set()).add(code)
    assert by_key and all(len(codes) == 1 for codes in by_key.values())


def test_no_cluster_or_group_across_splits() -> None:
    labels, groups, clusters = dataset(6000)
    result = split(labels, groups, clusters)
    assert_units_whole(result, groups, clusters)
    assert result.stats["leakage"]["units"] == 0
    assert set(result.splits.tolist()) == {0, 1, 2}


def test_fractions_and_stratification_within_tolerance() -> None:
    labels, groups, clusters = dataset(20_000, seed=1)
    result = split(labels, groups, clusters)
    counts = result.stats["rows_per_split"]
    assert counts["train"] / 20_000 == pytest.approx(0.8, abs=0.01)
    assert counts["validation"] / 20_000 == pytest.approx(0.1, abs=0.01)
    for label, per_split in result.stats["rows_per_stratum"].items():
        total = sum(per_split.values())
        for name, fraction in (("train", 0.8), ("validation", 0.1), ("test", 0.1)):
            assert per_split.get(name, 0) / total == pytest.approx(fraction, abs=0.05), (label, name)


def test_deterministic_by_seed() -> None:
    labels, groups, clusters = dataset(3000, seed=2)
    first = split(labels, groups, clusters, SplitOptions(seed=7))
    again = split(labels, groups, clusters, SplitOptions(seed=7))
    other = split(labels, groups, clusters, SplitOptions(seed=8))
    assert first.splits.tolist() == again.splits.tolist()
    assert first.splits.tolist() != other.splits.tolist()


def test_existing_splits_are_kept_and_win_for_their_unit() -> None:
    labels = ["a"] * 200
    groups = [""] * 200
    existing = ["unassigned"] * 200
    existing[0], existing[1] = "test", "test"
    groups[0] = groups[2] = groups[3] = "g"  # rows 2 and 3 join row 0's unit
    cluster = np.full(200, -1, dtype=np.int64)
    cluster[[1, 4]] = 0  # row 4 is a near duplicate of row 1
    clusters = Clusters(np.arange(200, dtype=np.int64), cluster)
    result = split(labels, groups, clusters, existing=existing)
    assert [result.split_of(row) for row in range(5)] == [Split.TEST] * 5
    assert result.report.counters["inherited_from_unit"] == 3
    assert result.report.counters["kept_existing"] == 2


def test_unassigned_rows_fill_the_deficit_of_existing_ones() -> None:
    labels = ["a"] * 1000
    existing = ["train"] * 800 + ["unassigned"] * 200
    result = split(labels, [""] * 1000, None, existing=existing)
    counts = result.stats["rows_per_split"]
    assert counts["train"] == 800
    assert counts["validation"] == pytest.approx(100, abs=2) and counts["test"] == pytest.approx(100, abs=2)


def test_leakage_of_existing_splits_is_reported_not_moved() -> None:
    labels = ["a"] * 50
    existing = ["unassigned"] * 50
    existing[0], existing[1], existing[2] = "train", "test", "validation"
    cluster = np.full(50, -1, dtype=np.int64)
    cluster[[0, 1, 2]] = 0
    result = split(labels, [""] * 50, Clusters(np.arange(50, dtype=np.int64), cluster), existing=existing)
    assert [result.split_of(r) for r in range(3)] == [Split.TRAIN, Split.TEST, Split.VALIDATION]
    leak = result.stats["leakage"]
    assert leak["units"] == 1 and leak["rows"] == 3
    assert leak["by_splits"] == {"test~train": 1, "test~validation": 1, "train~validation": 1}


def test_keep_existing_off_reassigns_whole_units() -> None:
    labels, groups, clusters = dataset(2000, seed=3)
    existing = ["train", "test"] * 1000
    result = split(labels, groups, clusters, SplitOptions(keep_existing=False), existing=existing)
    assert_units_whole(result, groups, clusters)
    assert result.report.counters["assigned"] == 2000
    assert result.stats["leakage"]["units"] > 0  # of the splits the data came with


def test_rare_strata_are_merged_and_stratify_off() -> None:
    labels = ["a"] * 900 + ["rare1"] * 5 + ["rare2"] * 5
    result = split(labels, [""] * len(labels), None)
    assert result.stats["params"]["rare_min_units"] == 20
    assert sum(result.stats["rows_per_stratum"]["rare1"].values()) == 5
    plain = split(labels, [""] * len(labels), None, SplitOptions(stratify=False))
    assert plain.stats["rows_per_split"]["train"] == pytest.approx(728, abs=2)
    assert RARE_STRATUM not in result.stats["rows_per_stratum"]


def test_stratum_keys() -> None:
    assert stratum_key(Example("1", tokens=["a", "b"], tags=["B-loc", "B-per"])) == "loc|per"
    assert stratum_key(Example("2", tokens=["a"], tags=["O"])) == UNLABELED_STRATUM
    assert stratum_key(Example("3", text="x", labels=["z", "y"])) == "y|z"
    assert stratum_key(Example("4", text="x", label="pos")) == "pos"
    assert stratum_key(Example("5", text="x")) == UNLABELED_STRATUM


def test_bad_options_and_rows() -> None:
    with pytest.raises(InvalidArgumentError):
        Splitter(SplitOptions(train_fraction=0.9))
    splitter = Splitter(SplitOptions())
    splitter.add_batch([1, 1], ["a", "a"], ["unassigned", "unassigned"])
    with pytest.raises(ValueError, match="unique"):
        splitter.finish()
    assert len(Splitter(SplitOptions()).finish()) == 0


def test_assign_splits_over_dense_rows() -> None:
    labels, groups, clusters = dataset(1000, seed=4)
    keep = np.ones(1000, dtype=np.bool_)
    keep[::10] = False
    assigned = assign_splits(
        SplitOptions(),
        existing=np.asarray(["unassigned"] * 1000, dtype=object),
        strata=np.asarray(labels, dtype=object),
        groups=np.asarray(groups, dtype=object),
        clusters=clusters.cluster_id,
        keep=keep,
    )
    assert set(assigned.split[~keep].tolist()) == {"unassigned"}
    assert set(assigned.split[keep].tolist()) == {"train", "validation", "test"}
    assert assigned.report.rows_in == 900 and assigned.leakage["units"] == 0
    assert stratum_of is stratum_key
