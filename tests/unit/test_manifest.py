"""Dataset manifests: names, the content-derived version id, the JSON form."""

from __future__ import annotations

import json

import pytest

from foundry import __version__
from foundry.runtime.convert import manifest_to_pb
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.runtime.manifest import (
    DatasetManifest,
    ShardInfo,
    VersionRef,
    compute_version_id,
    manifest_key,
    shard_key,
    validate_dataset_name,
)

SHA = "ab" * 32


def manifest(**overrides: object) -> DatasetManifest:
    values: dict[str, object] = {
        "name": "wnut17",
        "version_id": "",
        "task": Task.TOKEN_CLASSIFICATION,
        "label_set": ["O", "B-person"],
        "schema_version": 1,
        "shards": [ShardInfo(shard_key("wnut17", SHA), SHA, 10, 1234)],
        "split_counts": {"train": 10, "validation": 0, "test": 0, "unassigned": 0},
        "statistics": {"tokens": 40, "note": "ünï"},
        "parents": [VersionRef("raw", "cd" * 32)],
        "recipe": {"op": "ingest"},
        "recipe_hash": "ef" * 32,
    }
    values.update(overrides)
    draft = DatasetManifest(**values)  # type: ignore[arg-type]
    return DatasetManifest(**{**values, "version_id": draft.content_version_id()})  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a", "wnut17", "my.data_set-2", "0" * 128])
def test_good_names(name: str) -> None:
    assert validate_dataset_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "_x", ".x", "a/b", "a b", "é", "0" * 129])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid dataset name"):
        validate_dataset_name(name)


def test_version_id_depends_on_content_only() -> None:
    base = manifest()
    assert base.version_id == base.content_version_id()
    assert manifest(statistics={}, created_at="2020-01-01T00:00:00.000Z").version_id == base.version_id
    changes: list[dict[str, object]] = [
        {"label_set": ["B-person", "O"]},
        {"task": Task.CHAT},
        {"schema_version": 2},
        {"parents": []},
        {"recipe_hash": "00" * 32},
        {"shards": []},
    ]
    for change in changes:
        assert manifest(**change).version_id != base.version_id, change


def test_version_id_is_the_canonical_hash() -> None:
    assert compute_version_id(
        schema_version=1, task=Task.CHAT, label_set=[], shard_sha256s=[], parents=[], recipe_hash="x"
    ) == compute_version_id(
        schema_version=1, task=Task.CHAT, label_set=[], shard_sha256s=[], parents=[], recipe_hash="x"
    )


def test_json_round_trip_and_fields() -> None:
    m = manifest()
    assert DatasetManifest.from_json(m.to_json()) == m
    assert DatasetManifest.from_json(m.to_json().encode()) == m
    assert m.code_version == __version__
    assert m.created_at.endswith("Z") and "T" in m.created_at
    assert m.num_rows == 10 and str(m.ref) == f"wnut17@{m.version_id}"
    assert manifest_key("wnut17", m.version_id) == f"datasets/wnut17/versions/{m.version_id}/manifest.json"
    with pytest.raises(InvalidArgumentError):
        manifest_key("wnut17", "../x")
    with pytest.raises(ValueError):
        DatasetManifest.from_json("[]")


def test_normalization_is_recorded_but_not_part_of_the_id() -> None:
    recorded = {"unicode_nfkc": True, "collapse_whitespace": True, "lowercase": False}
    m = manifest(normalization=recorded)
    assert m.version_id == manifest().version_id
    assert DatasetManifest.from_json(m.to_json()) == m and m.normalization == recorded
    pb = manifest_to_pb(m)
    assert pb.HasField("normalization") and pb.normalization.unicode_nfkc
    older = json.loads(manifest().to_json())
    del older["normalization"]  # a manifest written before normalization was recorded
    assert DatasetManifest.from_json(json.dumps(older)).normalization is None
    assert not manifest_to_pb(manifest()).HasField("normalization")
