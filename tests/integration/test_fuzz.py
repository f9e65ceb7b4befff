"""Every RPC of every service, run for real in this process against the session's S3 server,
answers malformed and random requests with a status other than UNKNOWN or INTERNAL, within a
deadline, and health still says SERVING afterwards. A huge name is answered with a short error
and a short log line."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.api.augmentation.v1 import augmentation_service_pb2 as apb
from foundry.api.augmentation.v1 import recipe_pb2
from foundry.api.common.v1 import refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as ipb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as ipb_grpc
from foundry.api.labeling.v1 import labeling_service_pb2 as lpb
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as lpb_grpc
from foundry.augmentation.__main__ import build as build_augmentation
from foundry.augmentation.settings import AugmentationSettings
from foundry.inference.__main__ import build as build_inference
from foundry.inference.settings import InferenceSettings
from foundry.ingestion.__main__ import build as build_ingestion
from foundry.ingestion.settings import IngestionSettings
from foundry.labeling.__main__ import build as build_labeling
from foundry.labeling.settings import LabelingSettings
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.logs import JsonFormatter
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.training.__main__ import build as build_training
from foundry.training.settings import TrainingSettings
from helpers.fuzz import all_services, fuzz_rpcs
from helpers.training_models import synthetic_ner_examples


@asynccontextmanager
async def all_servers(settings: Settings) -> AsyncIterator[dict[str, grpc.aio.Channel]]:
    """The five services as their `__main__` wires them (no model loaded), each on a free port:
    a channel per gRPC service name they serve (health included, under `<service>/health`)."""
    home = settings.home_dir
    common = {**settings.model_dump(), "grpc_port": 0, "metrics_port": 0, "log_json": False}
    channels: dict[str, grpc.aio.Channel] = {}
    async with AsyncExitStack() as stack:

        async def start(name: str, server: FoundryServer) -> int:
            port = await server.start()
            stack.push_async_callback(server.drain, 0)
            channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
            stack.push_async_callback(channel.close)
            for service in server.definition.grpc_services:
                channels[service] = channel
            channels[f"{name}/health"] = channel
            channels.setdefault("grpc.health.v1.Health", channel)
            return port

        inference = InferenceSettings(**{**common, "inference_cache_dir": home / "models"})
        inference_port = await start("inference", FoundryServer(inference, build_inference(inference)))
        inference_address = f"127.0.0.1:{inference_port}"
        ingestion = IngestionSettings(**{**common, "ingest_work_dir": home / "ingest-work"})
        augmentation = AugmentationSettings(**common)
        labeling = LabelingSettings(**{**common, "inference_address": inference_address})
        training = TrainingSettings(**{**common, "training_poll_interval_s": 0.1})
        await start("ingestion", FoundryServer(ingestion, build_ingestion(ingestion)))
        await start("augmentation", FoundryServer(augmentation, build_augmentation(augmentation)))
        await start("labeling", FoundryServer(labeling, build_labeling(labeling)))
        await start("training", FoundryServer(training, build_training(training)))
        yield channels


def stored_datasets(settings: Settings) -> list[str]:
    """Two small dataset versions (NER and text classification): the names and version ids the
    fuzzer uses for half its strings, so that random requests get past their lookups."""
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    ner = synthetic_ner_examples(
        24, people=["alice", "bob"], places=[["paris"], ["new", "york"]], templates=[["{P}", "in", "{L}"]]
    )
    texts = [
        Example(id=f"t{i}", split=Split.TRAIN if i % 4 else Split.TEST, text=f"text {i}", label="ab"[i % 2])
        for i in range(24)
    ]
    first = write_dataset_version(store, "fuzz-ner", Task.TOKEN_CLASSIFICATION, ner, label_set=["LOC", "PER"])
    second = write_dataset_version(store, "fuzz-cls", Task.TEXT_CLASSIFICATION, texts, label_set=["a", "b"])
    return ["fuzz-ner", "fuzz-cls", first.version_id, second.version_id, "PER", "LOC", "a", "train"]


async def valid_requests(channels: dict[str, grpc.aio.Channel]) -> dict[str, list[Message]]:
    """A valid request for the RPCs that do real work over the stored datasets (and a labeling
    project made for it): the fuzzer mutates them a field or a few at a time."""
    labeling = lpb_grpc.LabelingServiceStub(
        channels[lpb.DESCRIPTOR.services_by_name["LabelingService"].full_name]
    )
    ner = refs_pb2.DatasetRef(name="fuzz-ner")
    created = await labeling.CreateProject(
        lpb.CreateProjectRequest(name="fuzz-project", dataset=ner, annotators=["ann", "bob"], overlap=2)
    )
    project = created.project.project_id
    recipe = recipe_pb2.Recipe(
        operators=[recipe_pb2.OperatorStep(operator="mention_replacement")], multiplier=2, seed=3
    )
    return {
        "/foundry.ingestion.v1.IngestionService/ReadExamples": [
            ipb.ReadExamplesRequest(dataset=ner, limit=5)
        ],
        "/foundry.ingestion.v1.IngestionService/GetDataset": [ipb.GetDatasetRequest(dataset=ner)],
        "/foundry.augmentation.v1.AugmentationService/PreviewAugment": [
            apb.PreviewAugmentRequest(dataset=ner, recipe=recipe, limit=3)
        ],
        "/foundry.labeling.v1.LabelingService/CreateProject": [
            lpb.CreateProjectRequest(name="fuzz-other", dataset=ner, annotators=["ann"])
        ],
        "/foundry.labeling.v1.LabelingService/NextTasks": [
            lpb.NextTasksRequest(project_id=project, annotator="ann", limit=3)
        ],
        "/foundry.labeling.v1.LabelingService/Aggregate": [lpb.AggregateRequest(project_id=project)],
        "/foundry.labeling.v1.LabelingService/Agreement": [lpb.AgreementRequest(project_id=project)],
        "/foundry.labeling.v1.LabelingService/ExportProject": [lpb.ExportProjectRequest(project_id=project)],
        "/foundry.labeling.v1.LabelingService/FindLabelIssues": [
            lpb.FindLabelIssuesRequest(project_id=project)
        ],
        "/foundry.labeling.v1.LabelingService/SelectForLabeling": [
            lpb.SelectForLabelingRequest(project_id=project)
        ],
    }


async def test_every_rpc_answers_fuzzed_requests_without_unknown_internal_or_hanging(
    settings: Settings,
) -> None:
    known = stored_datasets(settings)
    async with all_servers(settings) as channels:
        templates = await valid_requests(channels)
        report = await fuzz_rpcs(
            channels, seed=15, random_cases=6, deadline_s=20.0, known=known, templates=templates
        )
        problems = [*report.unknown_or_internal, *report.hung_calls]
        assert not problems, "\n".join(map(str, problems))
        assert {s.full_name for s in all_services()} <= set(channels), "a service is not started here"
        assert report.rpcs_fuzzed >= 44 and report.fuzz_cases > 400
        assert report.codes["INVALID_ARGUMENT"] > 100
        for name, channel in channels.items():
            if name.endswith("/health"):
                answer: Any = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                assert answer.status == health_pb2.HealthCheckResponse.SERVING, name


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("ingestion"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


async def test_a_3mb_name_gets_a_short_invalid_argument_and_a_short_log_line(settings: Settings) -> None:
    lines = _Lines()
    rpc_log = logging.getLogger("foundry.rpc")
    level = rpc_log.level
    rpc_log.addHandler(lines)
    rpc_log.setLevel(logging.INFO)
    try:
        async with all_servers(settings) as channels:
            stub = ipb_grpc.IngestionServiceStub(channels["foundry.ingestion.v1.IngestionService"])
            name = "n" * 3_000_000
            try:
                await stub.GetDataset(
                    ipb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name=name)), timeout=30
                )
                raise AssertionError("a 3 MB dataset name was accepted")
            except grpc.aio.AioRpcError as err:
                assert err.code() is grpc.StatusCode.INVALID_ARGUMENT, err
                assert len(err.details() or "") < 1000
                assert "chars)" in (err.details() or "")
    finally:
        rpc_log.removeHandler(lines)
        rpc_log.setLevel(level)
    mine = [json.loads(line) for line in lines.lines if "GetDataset" in line]
    assert mine and mine[-1]["code"] == "INVALID_ARGUMENT"
    assert max(len(line) for line in lines.lines) < 4000
