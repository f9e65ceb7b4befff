"""ListModels and ListBaseModels survive a corrupt manifest: it is named in `corrupt`, the rest
is listed, and reading it directly still answers DATA_LOSS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from foundry.api.common.v1 import refs_pb2
from foundry.api.training.v1 import training_service_pb2 as pb
from foundry.api.training.v1 import training_service_pb2_grpc as pb_grpc
from foundry.domain import base_models
from foundry.domain.modelversions import (
    PROMOTED,
    ModelArtifact,
    ModelVersion,
    artifact_key,
    compute_model_version_id,
    manifest_key,
    write_model_version,
)
from foundry.runtime.examples import Task
from foundry.runtime.hashing import content_sha256
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.training.__main__ import build
from foundry.training.settings import TrainingSettings
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec
from helpers.training_models import tiny_bert, vocab_from_texts


def model_version(store: ObjectStore, name: str, payload: bytes) -> ModelVersion:
    """A promoted model version with one stored artifact."""
    sha = content_sha256(payload)
    spec = (
        JobSpec(
            task=Task.TEXT_CLASSIFICATION,
            base_model=BaseModelRef("imported", "tiny-bert"),
            dataset=DatasetRef("d", "ab" * 32),
        )
        .resolved()
        .to_dict()
    )
    dataset = {"name": "d", "version_id": "ab" * 32}
    draft = [ModelArtifact("other", "notes.txt", "", sha, len(payload))]
    version_id = compute_model_version_id(draft, spec, dataset)
    key = artifact_key(name, version_id, "notes.txt")
    store.put_bytes(key, payload)
    artifact = ModelArtifact("other", "notes.txt", key, sha, len(payload))
    version = ModelVersion(
        name=name,
        version_id=version_id,
        task="text_classification",
        id_to_label=["neg", "pos"],
        base_model={"name": "tiny", "version_id": "1" * 64},
        dataset=dataset,
        spec=spec,
        job_id="job-1",
        metrics={},
        parity=None,
        artifacts=[artifact],
        status=PROMOTED,
    )
    return write_model_version(store, version)


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[pb_grpc.TrainingServiceStub]:
    local = TrainingSettings(
        **{**settings.model_dump(), "grpc_port": 0, "metrics_port": 0, "log_json": False}
    )
    server = FoundryServer(local, build(local))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield pb_grpc.TrainingServiceStub(channel)
    finally:
        await server.drain(0)


async def test_list_models_skips_and_names_a_corrupt_manifest(
    stub: pb_grpc.TrainingServiceStub, store: ObjectStore
) -> None:
    good = model_version(store, "good-model", b"good")
    bad = model_version(store, "bad-model", b"bad")
    store.put_bytes(manifest_key(bad.name, bad.version_id), b"[]", content_type="application/json")

    listed = await stub.ListModels(pb.ListModelsRequest(include_rejected=True))
    assert [(m.name, m.version_id) for m in listed.model_versions] == [(good.name, good.version_id)]
    assert [(c.kind, c.name, c.version_id, c.reason) for c in listed.corrupt] == [
        ("model_version", bad.name, bad.version_id, "MODEL_CORRUPT")
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetModel(
            pb.GetModelRequest(model=refs_pb2.ModelRef(name=bad.name, version_id=bad.version_id))
        )
    assert caught.value.code() == grpc.StatusCode.DATA_LOSS


async def test_list_base_models_skips_and_names_a_corrupt_manifest(
    stub: pb_grpc.TrainingServiceStub, store: ObjectStore, tmp_path: Path
) -> None:
    folder = tiny_bert(tmp_path / "tiny", vocab_from_texts(["Alice flew to Paris"]))
    good = base_models.import_base_model(store, "tiny-good", folder)
    bad = base_models.import_base_model(store, "tiny-bad", folder)
    key = base_models.manifest_key(bad.name, bad.version_id)
    store.put_bytes(
        key, bad.to_json().replace("tiny-bad", "tiny-evil").encode(), content_type="application/json"
    )

    listed = await stub.ListBaseModels(pb.ListBaseModelsRequest())
    assert [(m.name, m.version_id) for m in listed.base_models] == [(good.name, good.version_id)]
    assert [(c.kind, c.name, c.version_id, c.key, c.reason) for c in listed.corrupt] == [
        ("base_model", bad.name, bad.version_id, key, "MANIFEST_CORRUPT")
    ]
