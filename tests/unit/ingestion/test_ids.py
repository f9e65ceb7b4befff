"""Example ids: unique within a version, the same for the same files, given ids kept as given."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from foundry.domain.formats import FieldMapping, Format, SourceSpec, ValidationOptions, ValidationPolicy
from foundry.ingestion.ids import UniqueIds, check_unique
from foundry.ingestion.options import DedupOptions, IngestRecipe
from foundry.ingestion.pipeline import IngestPipeline, SourceFile
from foundry.runtime.errors import CorruptionError, InvalidArgumentError
from foundry.runtime.examples import Example, Split, Task

SHARED = "the same sentence sits in the training file and in the test file"


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def ingest(
    tmp_path: Path,
    files: list[tuple[str, list[dict[str, str]], Split]],
    *,
    id_field: str = "",
    policy: ValidationPolicy = ValidationPolicy.DROP_ROW,
) -> tuple[list[Example], dict[str, object]]:
    source = SourceSpec(format=Format.JSONL, field_mapping=FieldMapping(id_field=id_field))
    recipe = IngestRecipe(
        validation=ValidationOptions(policy=policy),
        dedup=DedupOptions(exact=False, near=False, decontaminate=False),
    )
    pipeline = IngestPipeline(Task.TEXT_CLASSIFICATION, source, recipe, pii_secret=b"k", work_dir=tmp_path)
    sources = [SourceFile(write(tmp_path / name, rows), name, split) for name, rows, split in files]
    result = pipeline.run(sources)
    try:
        ids_step = next(r for r in result.reports if r.step == "unique_ids")
        return list(result.examples()), ids_step.to_dict()
    finally:
        result.cleanup()


TRAIN = [
    {"text": SHARED, "label": "a"},
    {"text": "only in train", "label": "b"},
    {"text": SHARED, "label": "a"},
]
TEST = [{"text": SHARED, "label": "a"}, {"text": "only in test", "label": "b"}]


def test_the_same_content_in_two_files_gets_two_ids_the_same_each_time(tmp_path: Path) -> None:
    files = [("train.jsonl", TRAIN, Split.TRAIN), ("test.jsonl", TEST, Split.TEST)]
    examples, report = ingest(tmp_path, files)
    ids = [e.id for e in examples]
    assert len(ids) == len(set(ids)) == 5
    shared = [e.id for e in examples if e.text == SHARED]
    base = shared[0]
    assert len(base) == 16 and shared == [base, f"{base}-1", f"{base}-2"]  # train, train, test
    assert [e.split for e in examples if e.text == SHARED] == [Split.TRAIN, Split.TRAIN, Split.TEST]
    assert report["counters"] == {"renamed": 1} and report["rows_modified"] == 1
    (tmp_path / "again").mkdir()
    again, _ = ingest(tmp_path / "again", files)
    assert [e.id for e in again] == ids


def test_given_ids_are_kept_and_a_repeat_across_files_is_a_violation(tmp_path: Path) -> None:
    train = [{"id": "s1", "text": "one", "label": "a"}, {"id": "s2", "text": "two", "label": "a"}]
    test = [{"id": "s2", "text": "three", "label": "a"}, {"id": "s3", "text": "four", "label": "a"}]
    files = [("train.jsonl", train, Split.TRAIN), ("test.jsonl", test, Split.TEST)]
    examples, report = ingest(tmp_path, files, id_field="id")
    assert [e.id for e in examples] == ["s1", "s2", "s3"]
    assert report["drop_reasons"] == {"duplicate_id": 1}
    [violation] = report["violations"]
    assert (
        violation["line"] == 1 and violation["example_id"] == "s2" and violation["reason"] == "duplicate_id"
    )
    with pytest.raises(InvalidArgumentError, match="1 invalid row"):
        ingest(tmp_path, files, id_field="id", policy=ValidationPolicy.REJECT_FILE)


def test_renaming_skips_ids_already_taken() -> None:
    step = UniqueIds()
    rows = [Example(id=i, text="x", label="a") for i in ("abc", "abc-1", "abc", "abc-1", "abc")]
    assert [e.id for e in step.run(rows)] == ["abc", "abc-1", "abc-2", "abc-3", "abc-4"]
    given = UniqueIds()
    given.given = True
    assert [e.id for e in given.run(rows)] == ["abc", "abc-1"]
    assert given.report.drop_reasons == {"duplicate_id": 3}


def test_check_unique_fails_loudly() -> None:
    check_unique([pa.array(["a", "b"]), pa.chunked_array([["c"]])])
    with pytest.raises(CorruptionError, match="1 duplicate example id"):
        check_unique([pa.array(["a", "b"]), pa.array(["b"])])
