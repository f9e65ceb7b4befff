"""The ingestion service end to end: a real grpc.aio server on 127.0.0.1 with every interceptor,
the real S3 server, real files (WNUT-17 slices and broken fixtures)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from minio import Minio

from foundry.api.common.v1 import example_pb2, refs_pb2, task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as recipe_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.ingestion.core import MAX_READ_BATCH
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

ROOT = Path(__file__).resolve().parents[3]
WNUT = ROOT / "examples" / "data" / "wnut17"
CHUNK = 64 * 1024


def conll_slice(path: Path, sentences: int) -> bytes:
    blocks = re.split(r"\n\s*\n", path.read_text(encoding="utf-8").strip())
    return ("\n\n".join(blocks[:sentences]) + "\n").encode()


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[tuple[pb_grpc.IngestionServiceStub, ObjectStore]]:
    async with (
        ingestion_server(settings) as (server, local),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield pb_grpc.IngestionServiceStub(channel), ObjectStore.from_settings(local)


def upload_requests(
    name: str,
    files: list[tuple[str, bytes, int]],
    *,
    task: int = task_pb2.TASK_TOKEN_CLASSIFICATION,
    fmt: int = recipe_pb2.FORMAT_CONLL,
    recipe: recipe_pb2.IngestRecipe | None = None,
    declared_size: Callable[[bytes], int] = len,
) -> Iterator[pb.UploadRequest]:
    header = pb.UploadHeader(
        dataset_name=name, task=task, source=recipe_pb2.SourceSpec(format=fmt), recipe=recipe
    )
    for file_name, data, split in files:
        header.files.add(
            file_name=file_name,
            split=split,
            size_bytes=declared_size(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    yield pb.UploadRequest(header=header)
    for index, (_, data, _) in enumerate(files):
        yield pb.UploadRequest(file_start=pb.UploadFileStart(index=index))
        for start in range(0, len(data), CHUNK):
            yield pb.UploadRequest(chunk=data[start : start + CHUNK])


def bad_request(err: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [(v.field, v.description) for v in bad.field_violations]
    return []


async def test_upload_wnut17_files_with_their_splits_then_read_back(service: tuple) -> None:
    stub, store = service
    files = [
        ("wnut17train.conll", conll_slice(WNUT / "wnut17train.conll", 300), example_pb2.SPLIT_TRAIN),
        ("emerging.dev.conll", conll_slice(WNUT / "emerging.dev.conll", 100), example_pb2.SPLIT_VALIDATION),
        (
            "emerging.test.annotated",
            conll_slice(WNUT / "emerging.test.annotated", 100),
            example_pb2.SPLIT_TEST,
        ),
    ]
    response = await stub.Upload(upload_requests("wnut17", files))
    version = response.dataset_version
    assert response.report.created
    assert version.task == task_pb2.TASK_TOKEN_CLASSIFICATION
    assert len(version.version_id) == 64
    assert (
        0 < version.counts.train <= 300
        and 0 < version.counts.validation <= 100
        and 0 < version.counts.test <= 100
    )
    assert version.counts.unassigned == 0
    # the default normalization is recorded: NFC (not NFKC), whitespace and controls cleaned
    assert version.HasField("normalization")
    assert not version.normalization.unicode_nfkc and not version.normalization.fullwidth_to_halfwidth
    assert version.normalization.collapse_whitespace and version.normalization.strip_control_chars
    assert set(version.label_set) <= {
        "person",
        "location",
        "corporation",
        "group",
        "creative-work",
        "product",
    }
    assert [s.step for s in version.statistics.steps][:2] == ["read", "default_split"]
    read = next(s for s in version.statistics.steps if s.step == "read")
    assert read.rows_out == 500
    train_stats = next(s for s in version.statistics.splits if s.split == example_pb2.SPLIT_TRAIN)
    assert sum(train_stats.entity_type_counts.values()) > 0

    rows = []
    async for part in stub.ReadExamples(
        pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name="wnut17"), batch_size=64)
    ):
        assert part.version_id == version.version_id
        rows.extend(part.examples)
    assert len(rows) == version.counts.total
    first = rows[0]
    assert first.provenance.source == "wnut17train.conll" and first.provenance.line >= 1
    assert len(first.tokens) == len(first.tags) and first.split == example_pb2.SPLIT_TRAIN
    test_rows = [
        r
        async for part in stub.ReadExamples(
            pb.ReadExamplesRequest(
                dataset=refs_pb2.DatasetRef(name="wnut17", version_id=version.version_id),
                splits=[example_pb2.SPLIT_TEST],
                offset=5,
                limit=10,
            )
        )
        for r in part.examples
    ]
    assert len(test_rows) == 10 and all(r.split == example_pb2.SPLIT_TEST for r in test_rows)

    # a batch size out of [0, MAX_READ_BATCH] is refused before any read, naming the field
    for bad in (-1, MAX_READ_BATCH + 1):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in stub.ReadExamples(
                pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name="wnut17"), batch_size=bad)
            ):
                pass
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "batch_size" in (refused.value.details() or "")
        assert str(MAX_READ_BATCH) in (refused.value.details() or "")

    # the same content and recipe: the same version, and no new objects
    objects = store.count()
    again = await stub.Upload(upload_requests("wnut17", files))
    assert again.dataset_version.version_id == version.version_id and not again.report.created
    assert store.count() == objects

    got = await stub.GetDataset(pb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name="wnut17")))
    assert got.dataset_version.version_id == version.version_id
    listed = await stub.ListDatasets(pb.ListDatasetsRequest())
    assert [v.name for v in listed.dataset_versions] == ["wnut17"]


async def test_malformed_rows_reject_the_upload_with_line_numbers(service: tuple) -> None:
    stub, store = service
    lines = [
        json.dumps({"text": "fine", "label": "pos"}),
        "{not json",
        json.dumps({"text": "no label"}),
        json.dumps({"text": "ok too", "label": "neg"}),
    ]
    data = ("\n".join(lines) + "\n").encode()
    requests = upload_requests(
        "reviews",
        [("reviews.jsonl", data, 0)],
        task=task_pb2.TASK_TEXT_CLASSIFICATION,
        fmt=recipe_pb2.FORMAT_JSONL,
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Upload(requests)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in bad_request(err.value)]
    assert any(f.startswith("line[2].") for f in fields) and any(f.startswith("line[3].") for f in fields)
    assert store.count("datasets/") == 0

    drop = recipe_pb2.IngestRecipe(
        validation=recipe_pb2.ValidationOptions(policy=recipe_pb2.VALIDATION_POLICY_DROP_ROW)
    )
    response = await stub.Upload(
        upload_requests(
            "reviews",
            [("reviews.jsonl", data, 0)],
            task=task_pb2.TASK_TEXT_CLASSIFICATION,
            fmt=recipe_pb2.FORMAT_JSONL,
            recipe=drop,
        )
    )
    assert response.dataset_version.counts.total == 2
    dropped = {v.line for v in response.report.violations}
    assert {2, 3} <= dropped


async def test_a_short_stream_stores_nothing(service: tuple, settings: Settings) -> None:
    stub, store = service
    work_dir = settings.home_dir / "ingest-work"  # the service fixture's scratch
    data = conll_slice(WNUT / "wnut17train.conll", 50)
    requests = upload_requests("short", [("a.conll", data, 0)], declared_size=lambda d: len(d) + 10)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Upload(requests)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "declared" in (err.value.details() or "")
    assert store.count("datasets/") == 0

    # the client goes away in the middle of the stream
    call = stub.Upload()
    header = next(upload_requests("short", [("a.conll", data, 0)]))
    await call.write(header)
    await call.write(pb.UploadRequest(file_start=pb.UploadFileStart(index=0)))
    await call.write(pb.UploadRequest(chunk=data[:100]))
    call.cancel()
    with pytest.raises((grpc.aio.AioRpcError, asyncio.CancelledError)):
        await call
    for _ in range(200):  # the server sees the cancellation and drops the spooled bytes
        if not any(work_dir.iterdir()):
            break
        await asyncio.sleep(0.05)
    assert not any(work_dir.iterdir())
    assert store.count("datasets/") == 0


async def test_import_object_and_preview(service: tuple, settings: Settings) -> None:
    stub, store = service
    data = conll_slice(WNUT / "emerging.dev.conll", 40)
    plain = Minio(
        settings.s3_endpoint or "",
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=False,
    )
    plain.put_object(settings.s3_bucket, "incoming/dev.conll", io.BytesIO(data), len(data))
    request = pb.ImportObjectRequest(
        dataset_name="dev",
        task=task_pb2.TASK_TOKEN_CLASSIFICATION,
        object=pb.ObjectLocation(bucket=settings.s3_bucket, key="incoming/dev.conll"),
        source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CONLL),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    response = await stub.ImportObject(request)
    assert response.dataset_version.counts.total > 0
    rows = [
        r
        async for p in stub.ReadExamples(
            pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name="dev"), limit=1)
        )
        for r in p.examples
    ]
    row = rows[0]
    assert row.provenance.source == "dev.conll"

    wrong = pb.ImportObjectRequest()
    wrong.CopyFrom(request)
    wrong.sha256 = "0" * 64
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ImportObject(wrong)
    assert err.value.code() == grpc.StatusCode.DATA_LOSS

    before = store.count()
    preview = await stub.Preview(
        pb.PreviewRequest(
            task=task_pb2.TASK_TOKEN_CLASSIFICATION,
            source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CONLL),
            data=data,
            limit=5,
        )
    )
    assert len(preview.examples) == 5 and preview.steps[0].step == "read"
    assert store.count() == before


async def test_bad_requests(service: tuple) -> None:
    stub, _ = service
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetDataset(pb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name="nothing-here")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetDataset(pb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name="Bad Name")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    header = pb.UploadHeader(dataset_name="x", source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CONLL))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Upload(iter([pb.UploadRequest(header=header)]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "task" in (err.value.details() or "")
    bad_recipe = recipe_pb2.IngestRecipe(split=recipe_pb2.SplitOptions(train_fraction=0.9, test_fraction=0.5))
    requests = upload_requests("x", [("a.conll", b"a\tO\n", 0)], recipe=bad_recipe)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Upload(requests)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(f.startswith("recipe.split") for f, _ in bad_request(err.value))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Upload(
            iter(
                [
                    next(upload_requests("x", [("a.conll", b"a\tO\n", 0)])),
                    pb.UploadRequest(chunk=b"x" * (1024 * 1024 + 1)),
                ]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_examples_upload_goes_through_the_same_steps(service: tuple) -> None:
    stub, _ = service
    header = pb.UploadHeader(
        dataset_name="reviews",
        task=task_pb2.TASK_TEXT_CLASSIFICATION,
        source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_EXAMPLES, file_name="from-labeling"),
        recipe=recipe_pb2.IngestRecipe(split=recipe_pb2.SplitOptions(seed=3)),
    )
    texts = [f"review number {i} was {'great' if i % 2 else 'awful'}" for i in range(60)]
    batch = example_pb2.ExampleBatch(
        examples=[
            example_pb2.Example(id=f"r{i}", text=t, label="pos" if i % 2 else "neg")
            for i, t in enumerate(texts)
        ]
        + [example_pb2.Example(id="dup", text=texts[0], label="neg")]  # an exact duplicate
    )
    commit = pb.UploadRequest(commit=pb.UploadCommit())
    response = await stub.Upload(
        iter([pb.UploadRequest(header=header), pb.UploadRequest(examples=batch), commit])
    )
    version = response.dataset_version
    assert version.counts.total == 60 and version.counts.train > version.counts.test > 0
    assert sorted(version.label_set) == ["neg", "pos"]
    dedup = next(s for s in version.statistics.steps if s.step == "dedup")
    assert dedup.drop_reasons["exact_duplicate"] == 1
    rows = [
        r
        async for p in stub.ReadExamples(pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name="reviews")))
        for r in p.examples
    ]
    assert {r.id for r in rows} == {f"r{i}" for i in range(60)}
    assert all(r.split != example_pb2.SPLIT_UNASSIGNED for r in rows)
