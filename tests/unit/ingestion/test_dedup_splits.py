"""De-duplication of data that comes with splits: evaluation splits kept as supplied,
decontamination of training, label conflicts reported by default, leakage rows counted."""

from __future__ import annotations

from foundry.ingestion.dedup import Deduplicator, DedupResult
from foundry.ingestion.options import ConflictPolicy, DedupOptions
from foundry.runtime.examples import Task

A = "Pretty bad storm here last evening , the power went out twice"
B = "The new phone launched today and the queues went around the block"
C = "We watched the final at the pub and nobody could hear a thing"
D = "She planted tomatoes in the spring and picked them all in August"
E = "Traffic on the bridge was stopped for an hour after the accident"
NEAR_B = B + " !"

#: (text, label, split): 6 train, 4 validation, 5 test rows
ROWS: list[tuple[str, str, str]] = [
    (A, "x", "train"),  # 0  duplicates test row 10 → decontaminated
    (C, "x", "train"),  # 1  kept
    (C, "x", "train"),  # 2  exact duplicate of row 1 inside train
    (D, "x", "train"),  # 3  label conflict with row 4 (train only)
    (D, "y", "train"),  # 4
    (NEAR_B, "x", "train"),  # 5  near duplicate of validation row 6 → decontaminated
    (B, "x", "validation"),  # 6
    (B, "x", "validation"),  # 7  exact duplicate inside validation: kept
    (E, "x", "validation"),  # 8  duplicates test row 13: validation~test leak
    ("Completely different words about cooking pasta at home tonight", "x", "validation"),  # 9
    (A, "x", "test"),  # 10
    (A, "y", "test"),  # 11 label conflict inside test: kept
    ("A quiet morning at the lake with coffee and a good book to read", "x", "test"),  # 12
    (E, "x", "test"),  # 13
    ("An unrelated remark about trains being late in the winter again", "x", "test"),  # 14
]


def run(options: DedupOptions | None = None, rows: list[tuple[str, str, str]] = ROWS) -> DedupResult:
    dedup = Deduplicator(options or DedupOptions(), Task.TEXT_CLASSIFICATION)
    dedup.add_batch(range(len(rows)), [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    return dedup.finish()


def dropped(result: DedupResult) -> dict[int, str]:
    from foundry.ingestion.dedup.result import REASONS

    return {int(r): REASONS[int(result.reason[r])] for r in result.row_ids[~result.keep]}


def test_defaults_keep_eval_splits_and_decontaminate_train() -> None:
    result = run()
    assert dropped(result) == {0: "eval_duplicate", 2: "exact_duplicate", 5: "eval_duplicate"}
    assert result.keep[6:].all()  # every validation and test row stays
    assert dict(result.report.drop_reasons) == {"exact_duplicate": 1, "eval_duplicate": 2}
    assert result.duplicate_of[[0, 5]].tolist() == [10, 6]  # the evaluation row each duplicates
    counters = result.report.counters
    assert counters["decontaminated"] == 2
    assert counters["eval_duplicates_kept"] == 2  # row 7 (exact of 6), row 11 (exact text of 10)
    assert result.conflicts == 2  # rows 3/4 in train, rows 10/11 in test: both reported, none dropped
    test_conflict = next(c for c in result.conflict_samples if c.first_row == 10)
    assert test_conflict.kept_rows == (10, 11)
    leak = result.leakage  # what remains: validation row 8 and test row 13
    assert (leak.clusters, leak.rows) == (1, 2)
    assert leak.by_splits == {"test~validation": 1} and leak.rows_by_splits == {"test~validation": 2}
    assert leak.exact_pairs == 1 and leak.near_pairs == 0


def test_no_decontamination_keeps_train_and_reports_every_leaking_row() -> None:
    result = run(DedupOptions(decontaminate=False))
    assert dropped(result) == {2: "exact_duplicate"}
    leak = result.leakage
    # clusters: {0,10,11} test~train, {5,6,7} train~validation, {8,13} test~validation
    assert leak.clusters == 3 and leak.rows == 8
    assert leak.by_splits == {"test~train": 1, "train~validation": 1, "test~validation": 1}
    assert leak.rows_by_splits == {"test~train": 3, "train~validation": 3, "test~validation": 2}
    assert leak.exact_pairs == 2 + 1  # (0,10), (0,11), (8,13)
    assert leak.near_pairs == 1  # (5, 6)


def test_dedup_eval_splits_removes_duplicates_within_each_split_only() -> None:
    result = run(DedupOptions(dedup_eval_splits=True))
    assert dropped(result) == {
        0: "eval_duplicate",
        2: "exact_duplicate",
        5: "eval_duplicate",
        7: "exact_duplicate",
    }
    assert result.keep[[8, 13]].all()  # across validation and test: reported, never removed
    assert result.report.counters["eval_duplicates_kept"] == 0


def test_label_conflicts_dropped_only_when_asked() -> None:
    off = run(DedupOptions(exact=False, near=False, decontaminate=False))
    assert off.keep.all() and off.conflicts == 2
    asked = run(DedupOptions(conflict_policy=ConflictPolicy.KEEP_FIRST))
    assert dropped(asked) == {
        0: "eval_duplicate",
        2: "exact_duplicate",
        4: "label_conflict",
        5: "eval_duplicate",
    }
    assert asked.keep[6:].all()  # the test conflict (10, 11) stays: evaluation rows are frozen
    both = run(DedupOptions(conflict_policy=ConflictPolicy.DROP_ALL, dedup_eval_splits=True))
    assert {r: why for r, why in dropped(both).items() if why == "label_conflict"} == {
        3: "label_conflict",
        4: "label_conflict",
        10: "label_conflict",
        11: "label_conflict",
    }
    assert both.keep[0]  # its test duplicates are gone, so nothing to decontaminate it against


def test_rows_without_a_split_are_decontaminated_like_train() -> None:
    rows = [(A, "x", "unassigned"), (A, "x", "test"), (B, "x", "unassigned"), (B, "x", "unassigned")]
    result = run(rows=rows)
    assert dropped(result) == {0: "eval_duplicate", 3: "exact_duplicate"}


def test_near_duplicates_inside_an_eval_split_are_reported() -> None:
    rows = [(B, "x", "test"), (NEAR_B, "x", "test"), (B, "x", "train"), (NEAR_B, "x", "train")]
    result = run(rows=rows)
    assert dropped(result) == {2: "eval_duplicate", 3: "eval_duplicate"}
    assert result.report.counters["eval_duplicates_kept"] == 1
    removed = run(DedupOptions(dedup_eval_splits=True, decontaminate=False), rows=rows)
    assert dropped(removed) == {1: "near_duplicate", 3: "near_duplicate"}
