"""Dataset versions against a real SeaweedFS S3 server: round trips, identity, failure, integrity."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from minio import Minio

from foundry.runtime.datasets import (
    get_manifest,
    iter_batches,
    iter_examples,
    list_datasets,
    list_versions,
    write_dataset_version,
)
from foundry.runtime.errors import CorruptionError, InvalidArgumentError, NotFoundError
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span, Split, Task
from foundry.runtime.manifest import DatasetManifest, VersionRef, manifest_key
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings

NER_LABELS = ["O", "B-location", "I-location", "B-person", "I-person"]


def ner_examples(count: int) -> list[Example]:
    splits = [Split.TRAIN, Split.TRAIN, Split.VALIDATION, Split.TEST]
    return [
        Example(
            id=f"ner-{i}",
            split=splits[i % 4],
            meta={"doc": str(i // 10)},
            provenance=Provenance("wnut17.conll", 1 + 4 * i),
            text=f"Ann visited Paris {i}",
            tokens=["Ann", "visited", "Paris", str(i)],
            tags=["B-person", "O", "B-location", "O"],
            spans=[Span(0, 3, "person"), Span(12, 17, "location")],
        )
        for i in range(count)
    ]


def chat_examples(count: int) -> list[Example]:
    return [
        Example(
            id=f"chat-{i}",
            split=Split.TRAIN if i % 5 else Split.TEST,
            provenance=Provenance(parent_ids=[f"src-{i}"], operation="augment.template"),
            messages=[
                ChatMessage("user", f"Summarise item {i} 🙂"),
                ChatMessage("assistant", f"Item {i}, briefly."),
            ],
        )
        for i in range(count)
    ]


def test_ner_version_round_trip(store: ObjectStore) -> None:
    rows = ner_examples(250)
    manifest = write_dataset_version(
        store,
        "wnut17",
        Task.TOKEN_CLASSIFICATION,
        rows,
        label_set=NER_LABELS,
        recipe={"op": "ingest", "format": "conll"},
        statistics={"tokens": 1000},
        shard_rows=100,
    )
    assert [s.rows for s in manifest.shards] == [100, 100, 50]
    assert manifest.num_rows == 250
    assert manifest.split_counts == {"train": 126, "validation": 62, "test": 62, "unassigned": 0}
    assert all(s.key == f"datasets/wnut17/shards/{s.sha256}.parquet" for s in manifest.shards)
    again = get_manifest(store, "wnut17", manifest.version_id)
    assert again == manifest
    assert DatasetManifest.from_json(manifest.to_json()) == manifest
    assert list(iter_examples(store, again)) == rows
    assert list(iter_examples(store, again, splits=[Split.VALIDATION])) == [
        r for r in rows if r.split == Split.VALIDATION
    ]
    batches = list(iter_batches(store, again, batch_rows=32))
    assert max(b.num_rows for b in batches) == 32 and sum(b.num_rows for b in batches) == 250
    assert list_datasets(store) == ["wnut17"]
    assert [m.version_id for m in list_versions(store, "wnut17")] == [manifest.version_id]


def test_chat_version_round_trip_with_parent(store: ObjectStore) -> None:
    base = write_dataset_version(store, "dolly", Task.CHAT, chat_examples(10), recipe={"op": "ingest"})
    child = write_dataset_version(
        store, "dolly-aug", Task.CHAT, chat_examples(30), parents=[base.ref], recipe={"op": "augment", "n": 3}
    )
    assert child.parents == [VersionRef("dolly", base.version_id)]
    assert child.version_id != base.version_id
    assert list(iter_examples(store, get_manifest(store, "dolly-aug", child.version_id))) == chat_examples(30)
    assert list(iter_examples(store, child, splits=[Split.TEST])) == [
        e for e in chat_examples(30) if e.split == Split.TEST
    ]
    assert list_datasets(store) == ["dolly", "dolly-aug"]
    newer = write_dataset_version(store, "dolly", Task.CHAT, chat_examples(12), recipe={"op": "ingest"})
    assert [m.version_id for m in list_versions(store, "dolly")] == [newer.version_id, base.version_id]


def test_same_content_gives_the_same_version_and_writes_nothing(store: ObjectStore) -> None:
    first = write_dataset_version(
        store,
        "same",
        Task.TOKEN_CLASSIFICATION,
        ner_examples(120),
        label_set=NER_LABELS,
        recipe={"r": 1},
        shard_rows=50,
    )
    keys_before = [(i.key, i.etag, i.last_modified) for i in store.list()]
    second = write_dataset_version(
        store,
        "same",
        Task.TOKEN_CLASSIFICATION,
        ner_examples(120),
        label_set=NER_LABELS,
        recipe={"r": 1},
        shard_rows=50,
        statistics={"other": True},
    )
    assert second == first  # the stored manifest, unchanged (its created_at and statistics too)
    assert [(i.key, i.etag, i.last_modified) for i in store.list()] == keys_before
    assert store.count() == 3 + 1
    other_recipe = write_dataset_version(
        store,
        "same",
        Task.TOKEN_CLASSIFICATION,
        ner_examples(120),
        label_set=NER_LABELS,
        recipe={"r": 2},
        shard_rows=50,
    )
    assert other_recipe.version_id != first.version_id
    assert [s.sha256 for s in other_recipe.shards] == [s.sha256 for s in first.shards]
    assert store.count() == 3 + 2  # shards shared, one more manifest


def test_a_writer_whose_iterator_raises_leaves_no_manifest(store: ObjectStore) -> None:
    def broken() -> Iterator[Example]:
        yield from ner_examples(150)
        raise RuntimeError("source went away")

    with pytest.raises(RuntimeError, match="source went away"):
        write_dataset_version(store, "broken", Task.TOKEN_CLASSIFICATION, broken(), shard_rows=100)
    assert store.keys("datasets/broken/versions/") == []
    assert len(store.keys("datasets/broken/shards/")) == 1  # the orphan first shard
    assert list_datasets(store) == []
    assert list_versions(store, "broken") == []


def test_a_tampered_shard_is_detected_on_read(
    store: ObjectStore, settings: Settings, plain_s3: Minio
) -> None:
    manifest = write_dataset_version(store, "tamper", Task.TOKEN_CLASSIFICATION, ner_examples(20))
    shard = manifest.shards[0]
    other = write_dataset_version(store, "tamper-src", Task.TOKEN_CLASSIFICATION, ner_examples(21))
    forged = store.get_bytes(other.shards[0].key)
    plain_s3.put_object(
        settings.s3_bucket, shard.key, io.BytesIO(forged), len(forged), metadata={"sha256": shard.sha256}
    )
    with pytest.raises(CorruptionError, match=shard.key):
        list(iter_examples(store, manifest))


def test_a_shard_rewritten_with_its_own_hash_still_disagrees_with_the_manifest(store: ObjectStore) -> None:
    manifest = write_dataset_version(store, "swap", Task.CHAT, chat_examples(5))
    shard = manifest.shards[0]
    store.put_bytes(shard.key, b"not parquet")  # a correct sha256 record of the wrong bytes
    with pytest.raises(CorruptionError, match=shard.key):
        list(iter_examples(store, manifest))


def test_a_tampered_manifest_is_detected(store: ObjectStore) -> None:
    manifest = write_dataset_version(store, "m", Task.CHAT, chat_examples(5), recipe={"a": 1})
    key = manifest_key("m", manifest.version_id)
    edited = manifest.to_json().replace('"a": 1', '"a": 2').replace(manifest.recipe_hash, "0" * 64)
    store.put_bytes(key, edited.encode())
    with pytest.raises(CorruptionError, match="does not match"):
        get_manifest(store, "m", manifest.version_id)


def test_names_and_missing_versions(store: ObjectStore) -> None:
    for bad in ("", "Upper", "-dash", "a/b", "x" * 129, "sp ace"):
        with pytest.raises(InvalidArgumentError):
            write_dataset_version(store, bad, Task.CHAT, [])
    with pytest.raises(NotFoundError, match="nope@"):
        get_manifest(store, "nope", "0" * 64)
    with pytest.raises(InvalidArgumentError):
        get_manifest(store, "nope", "not-an-id")
    empty = write_dataset_version(store, "empty", Task.CHAT, [])
    assert empty.shards == [] and list(iter_examples(store, empty)) == []


def test_the_same_rows_batched_differently_give_the_same_version(store: ObjectStore) -> None:
    from foundry.runtime.datasets import write_dataset_version_batches
    from foundry.runtime.examples import examples_to_batch

    rows = ner_examples(250)
    first = write_dataset_version(store, "batching", Task.TOKEN_CLASSIFICATION, rows, shard_rows=100)
    uneven = [examples_to_batch(rows[i : i + n]) for i, n in ((0, 7), (7, 150), (157, 93))]
    second = write_dataset_version_batches(
        store, "batching", Task.TOKEN_CLASSIFICATION, uneven, shard_rows=100
    )
    assert second.version_id == first.version_id
    assert [s.rows for s in first.shards] == [100, 100, 50]
    assert [s.sha256 for s in second.shards] == [s.sha256 for s in first.shards]
