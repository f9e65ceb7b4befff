"""Deletion and retention against the real ingestion service and the real S3 server: a version
that something depends on is refused unless forced (the error names the dependents); a deletion
removes the manifest and the shards no other version names and leaves a tombstone that the
dependents' lineage shows; erasing a subject (by raw value or pseudonym) writes new versions
without their rows, deletes the old ones and logs it without the value; garbage collection finds
orphan shards only past the grace period and deletes them only when told."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from foundry.api.common.v1 import dataset_pb2, refs_pb2, task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as recipe_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.runtime import datasets
from foundry.runtime.examples import Example, Task
from foundry.runtime.manifest import DatasetManifest, VersionRef, shard_key
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

ALICE = "alice.smith@example.com"
BOB = "bob@example.org"


@dataclass
class Service:
    stub: pb_grpc.IngestionServiceStub
    store: ObjectStore


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    async with ingestion_server(settings) as (server, local):  # noqa: SIM117 - the channel needs the port
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Service(pb_grpc.IngestionServiceStub(channel), ObjectStore.from_settings(local))


def rows() -> bytes:
    lines = []
    for i in range(40):
        who = ALICE if i % 10 == 0 else BOB if i % 10 == 1 else None
        text = f"ticket {i}: please call back" + (f" at {who}" if who else " soon")
        lines.append(json.dumps({"text": text, "label": "pos" if i % 2 else "neg"}))
    return ("\n".join(lines) + "\n").encode()


async def upload_people(service: Service) -> dataset_pb2.DatasetVersion:
    recipe = recipe_pb2.IngestRecipe(
        pii=recipe_pb2.PiiOptions(enabled=True, mode=recipe_pb2.PII_MODE_PSEUDONYMIZE),
        dedup=recipe_pb2.DedupOptions(near=False),
    )
    header = pb.UploadHeader(
        dataset_name="people",
        task=task_pb2.TASK_TEXT_CLASSIFICATION,
        source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_JSONL, file_name="people.jsonl"),
        recipe=recipe,
    )

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header)
        yield pb.UploadRequest(chunk=rows())
        yield pb.UploadRequest(commit=pb.UploadCommit())

    response = await service.stub.Upload(requests())
    return response.dataset_version


def derive(store: ObjectStore, parent: DatasetManifest, name: str) -> DatasetManifest:
    """A version derived from `parent` (as augmentation writes one): its rows, twice."""
    examples = list(datasets.iter_examples(store, parent))
    twice = [*examples, *(dataclasses.replace(e, id=e.id + "-copy") for e in examples)]
    return datasets.write_dataset_version(
        store, name, Task.TEXT_CLASSIFICATION, twice, label_set=parent.label_set, parents=[parent.ref]
    )


def texts(store: ObjectStore, manifest: DatasetManifest) -> list[str]:
    return [e.text or "" for e in datasets.iter_examples(store, manifest)]


async def test_delete_is_refused_while_depended_on_and_leaves_a_tombstone(service: Service) -> None:
    uploaded = await upload_people(service)
    people = datasets.get_manifest(service.store, "people", uploaded.version_id)
    derived = derive(service.store, people, "people-aug")
    ref = refs_pb2.DatasetRef(name="people", version_id=people.version_id)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.DeleteDatasetVersion(pb.DeleteDatasetVersionRequest(dataset=ref))
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert f"dataset_version people-aug@{derived.version_id}" in (refused.value.details() or "")
    assert service.store.exists(f"datasets/people/versions/{people.version_id}/manifest.json")

    with pytest.raises(grpc.aio.AioRpcError) as unnamed:
        await service.stub.DeleteDatasetVersion(
            pb.DeleteDatasetVersionRequest(dataset=refs_pb2.DatasetRef(name="people"))
        )
    assert unnamed.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    deleted = await service.stub.DeleteDatasetVersion(
        pb.DeleteDatasetVersionRequest(dataset=ref, force=True, reason="test")
    )
    tombstone = deleted.tombstone
    assert tombstone.forced and tombstone.reason == "test" and tombstone.deleted_by
    assert list(tombstone.dependents) == [f"dataset_version people-aug@{derived.version_id}"]
    assert service.store.keys("datasets/people/") == []  # manifest and its only shard gone
    listed = await service.stub.ListDatasets(pb.ListDatasetsRequest())
    assert [v.name for v in listed.dataset_versions] == ["people-aug"]
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await service.stub.GetDataset(pb.GetDatasetRequest(dataset=ref))
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND

    child = await service.stub.GetDataset(
        pb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name="people-aug"))
    )
    assert [p.version_id for p in child.dataset_version.parents] == [people.version_id]
    assert [t.version_id for t in child.deleted_parents] == [people.version_id]
    assert texts(service.store, derived)  # the dependent still reads in full


async def test_shards_shared_with_another_version_are_kept(service: Service) -> None:
    store = service.store
    rows_ = [Example(id=f"r{i}", text=f"row {i}", label="a") for i in range(6)]
    first = datasets.write_dataset_version(store, "shared", Task.TEXT_CLASSIFICATION, rows_, shard_rows=3)
    second = datasets.write_dataset_version(
        store, "shared", Task.TEXT_CLASSIFICATION, rows_[:3], shard_rows=3, recipe={"other": True}
    )
    assert second.shards[0].key == first.shards[0].key
    await service.stub.DeleteDatasetVersion(
        pb.DeleteDatasetVersionRequest(
            dataset=refs_pb2.DatasetRef(name="shared", version_id=first.version_id)
        )
    )
    assert store.exists(first.shards[0].key) and not store.exists(first.shards[1].key)
    assert texts(store, datasets.get_manifest(store, "shared", second.version_id)) == [
        "row 0",
        "row 1",
        "row 2",
    ]


async def test_erase_subject_by_value_and_by_pseudonym(service: Service) -> None:
    store = service.store
    uploaded = await upload_people(service)
    people = datasets.get_manifest(store, "people", uploaded.version_id)
    derived = derive(store, people, "people-aug")
    stored = texts(store, people)
    assert not any(ALICE in t for t in stored)  # pseudonymised at ingest
    bob_pseudonym = next(t for t in stored if "ticket 1:" in t).rsplit(" ", 1)[-1]
    assert bob_pseudonym.startswith("<EMAIL_")

    cached = f"{datasets.derived_prefix(people.version_id)}k/train.npz"  # tokens of its rows
    store.put_bytes(cached, b"encoded rows, alice's among them")

    dry = await service.stub.EraseSubject(pb.EraseSubjectRequest(pseudonym=bob_pseudonym, dry_run=True))
    assert dry.dry_run and dry.examples_removed == 4 + 8 and len(dry.versions) == 2
    assert store.keys("erasures/") == [] and texts(store, people) == stored and store.exists(cached)

    erased = await service.stub.EraseSubject(
        pb.EraseSubjectRequest(pii_type=recipe_pb2.PII_TYPE_EMAIL, value=ALICE, reason="GDPR art. 17")
    )
    assert erased.examples_removed == 4 + 8 and erased.versions_scanned == 2
    replaced = {v.old_version: v.new_version for v in erased.versions}
    assert set(replaced) == {str(people.ref), str(derived.ref)}
    for old, new in replaced.items():
        name, _, old_id = old.partition("@")
        assert not store.exists(f"datasets/{name}/versions/{old_id}/manifest.json")
        manifest = datasets.get_manifest(store, *new.split("@"))
        assert manifest.parents == [VersionRef(name, old_id)]
        kept = texts(store, manifest)
        assert len(kept) == (36 if name == "people" else 72)
        assert not any("ticket 0:" in t or "ticket 10:" in t for t in kept)
    assert not store.exists(cached)  # what was derived from the erased rows went with them
    log = store.get_bytes(f"erasures/{erased.erasure_id}.json").decode()
    assert "GDPR art. 17" in log and ALICE not in log and "alice" not in log
    assert json.loads(log)["examples_removed"] == 12

    # Bob's rows are still there; erasing him by pseudonym removes them from the new versions.
    again = await service.stub.EraseSubject(pb.EraseSubjectRequest(pseudonym=bob_pseudonym))
    assert again.examples_removed == 4 + 8

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await service.stub.EraseSubject(pb.EraseSubjectRequest(value=ALICE))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_gc_collects_orphan_shards_past_the_grace_period_only_when_applied(service: Service) -> None:
    store = service.store
    kept = datasets.write_dataset_version(
        store, "logs", Task.TEXT_CLASSIFICATION, [Example(id="a", text="kept", label="x")]
    )
    orphan = shard_key("logs", "0" * 64)
    store.put_bytes(orphan, b"half a write")
    store.put_bytes("models/m/" + "1" * 64 + "/hf/model.safetensors", b"weights of a dead job")
    stale_cache = f"{datasets.derived_prefix('2' * 64)}k/train.npz"  # of a version no dataset holds
    live_cache = f"{datasets.derived_prefix(kept.version_id)}k/train.npz"
    store.put_bytes(stale_cache, b"stale")
    store.put_bytes(live_cache, b"live")

    young = await service.stub.CollectGarbage(pb.CollectGarbageRequest())
    assert not young.applied and young.orphan_objects == 0

    dry = await service.stub.CollectGarbage(pb.CollectGarbageRequest(grace_s=0))
    assert dry.orphan_objects == 3 and dry.deleted_objects == 0 and store.exists(orphan)
    assert sorted(dry.keys) == sorted([orphan, "models/m/" + "1" * 64 + "/hf/model.safetensors", stale_cache])

    applied = await service.stub.CollectGarbage(pb.CollectGarbageRequest(grace_s=0, apply=True))
    assert applied.deleted_objects == 3 and applied.deleted_bytes == len(b"half a write") + 21 + 5
    assert not store.exists(orphan) and not store.exists(stale_cache) and store.exists(live_cache)
    assert texts(store, datasets.get_manifest(store, "logs", kept.version_id)) == ["kept"]


async def test_gc_refuses_a_grace_period_that_is_not_a_finite_number_in_range(service: Service) -> None:
    for grace_s in [-1.0, math.nan, math.inf, 1e300]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service.stub.CollectGarbage(pb.CollectGarbageRequest(grace_s=grace_s))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT, grace_s
        assert "grace_s" in (refused.value.details() or "")
