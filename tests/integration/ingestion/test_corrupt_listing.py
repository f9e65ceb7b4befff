"""One corrupt dataset manifest (bad JSON, a sha256 mismatch, or missing) no longer makes
ListDatasets fail: the corrupt versions are named in `corrupt`, the rest is listed, `foundry
datasets ls` marks them, and reading one directly still answers DATA_LOSS."""

from __future__ import annotations

import asyncio
import io

import grpc
import pytest
from minio import Minio
from typer.testing import CliRunner

from foundry.api.common.v1 import refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.cli.main import app
from foundry.runtime.datasets import list_versions, write_dataset_version
from foundry.runtime.errors import CorruptionError
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.listing import CorruptEntry
from foundry.runtime.manifest import DatasetManifest, manifest_key, versions_prefix
from foundry.runtime.objectinfo import SHA256_METADATA
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings


def rows(tag: str, count: int = 3) -> list[Example]:
    return [
        Example(id=f"{tag}-{i}", text=f"{tag} text {i}", label="pos", split=Split.TRAIN) for i in range(count)
    ]


def write(store: ObjectStore, name: str, tag: str) -> DatasetManifest:
    return write_dataset_version(
        store, name, Task.TEXT_CLASSIFICATION, rows(tag), label_set=["pos"], recipe={"t": tag}
    )


@pytest.fixture
def corrupted(store: ObjectStore, settings: Settings, plain_s3: Minio) -> dict[str, DatasetManifest]:
    """Five versions: two intact, one with bad JSON (stored with its own sha256), one whose
    bytes no longer match the recorded sha256, one whose manifest is missing."""
    versions = {
        "good": write(store, "good", "g"),
        "mixed-ok": write(store, "mixed", "m1"),
        "bad-json": write(store, "mixed", "m2"),
        "mismatch": write(store, "tampered", "t"),
        "missing": write(store, "missing", "x"),
    }
    bad = versions["bad-json"]
    store.put_bytes(manifest_key(bad.name, bad.version_id), b"{not json", content_type="application/json")
    tampered = versions["mismatch"]
    key = manifest_key(tampered.name, tampered.version_id)
    recorded = store.stat(key).sha256
    changed = tampered.to_json().replace('"pos"', '"neg"').encode()
    plain_s3.put_object(
        settings.s3_bucket, key, io.BytesIO(changed), len(changed), metadata={SHA256_METADATA: str(recorded)}
    )
    gone = versions["missing"]
    prefix = f"{versions_prefix(gone.name)}{gone.version_id}/"
    store.put_bytes(prefix + "notes.txt", b"left behind")
    store.delete(manifest_key(gone.name, gone.version_id))
    return versions


def test_the_store_level_listing_reports_and_skips(
    store: ObjectStore, corrupted: dict[str, DatasetManifest]
) -> None:
    with pytest.raises(CorruptionError):
        list_versions(store, "mixed")  # strict without a list to report into
    corrupt: list[CorruptEntry] = []
    listed = list_versions(store, "mixed", corrupt=corrupt)
    assert [m.version_id for m in listed] == [corrupted["mixed-ok"].version_id]
    assert [(c.kind, c.name, c.version_id) for c in corrupt] == [
        ("dataset_version", "mixed", corrupted["bad-json"].version_id)
    ]
    assert "malformed" in corrupt[0].message


async def test_list_datasets_lists_the_rest_and_names_the_corrupt(
    stub: pb_grpc.IngestionServiceStub, corrupted: dict[str, DatasetManifest]
) -> None:
    listed = await stub.ListDatasets(pb.ListDatasetsRequest())
    assert sorted((v.name, v.version_id) for v in listed.dataset_versions) == sorted(
        [("good", corrupted["good"].version_id), ("mixed", corrupted["mixed-ok"].version_id)]
    )
    reasons = {(c.name, c.version_id): c.reason for c in listed.corrupt}
    assert reasons == {
        ("mixed", corrupted["bad-json"].version_id): "DATA_LOSS",
        ("tampered", corrupted["mismatch"].version_id): "OBJECT_HASH_MISMATCH",
        ("missing", corrupted["missing"].version_id): "MANIFEST_MISSING",
    }
    assert all(
        c.kind == "dataset_version" and c.key.endswith("/manifest.json") and c.message for c in listed.corrupt
    )

    first = await stub.ListDatasets(pb.ListDatasetsRequest(page_size=1))
    second = await stub.ListDatasets(pb.ListDatasetsRequest(page_size=1, page_token=first.next_page_token))
    assert len(first.corrupt) == 3 and len(second.dataset_versions) == 1 and not second.corrupt

    one = await stub.ListDatasets(pb.ListDatasetsRequest(name="mixed", page_size=1))
    assert [v.version_id for v in one.dataset_versions] == [corrupted["mixed-ok"].version_id]
    assert [c.version_id for c in one.corrupt] == [corrupted["bad-json"].version_id]
    assert one.next_page_token == ""

    for which in ("bad-json", "mismatch"):
        version = corrupted[which]
        ref = refs_pb2.DatasetRef(name=version.name, version_id=version.version_id)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetDataset(pb.GetDatasetRequest(dataset=ref))
        assert caught.value.code() == grpc.StatusCode.DATA_LOSS


@pytest.mark.usefixtures("wide_console")
async def test_the_cli_marks_corrupt_versions(
    stub: pb_grpc.IngestionServiceStub, corrupted: dict[str, DatasetManifest]
) -> None:
    result = await asyncio.to_thread(CliRunner().invoke, app, ["datasets", "ls"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "good" in out and corrupted["good"].version_id[:12] in out
    assert out.count("CORRUPT") == 3
    assert corrupted["missing"].version_id[:12] in out and "MANIFEST_MISSING" in out
