"""The five services started in one process against a real S3 server, with stored data and valid
requests for the fuzzer (`helpers.fuzz`) to mutate: used by tests/integration/test_fuzz.py and
bench/hardening.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import grpc
from google.protobuf.message import Message

from foundry.api.augmentation.v1 import augmentation_service_pb2 as apb
from foundry.api.augmentation.v1 import recipe_pb2
from foundry.api.common.v1 import refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as ipb
from foundry.api.labeling.v1 import labeling_service_pb2 as lpb
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as lpb_grpc
from foundry.api.labeling.v1 import project_pb2
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
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.training.__main__ import build as build_training
from foundry.training.settings import TrainingSettings
from helpers.training_models import synthetic_ner_examples

LABELING = lpb.DESCRIPTOR.services_by_name["LabelingService"].full_name


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


async def annotated_project(labeling: Any) -> str:  # an aio stub (the generated ones type sync calls)
    """A text-classification project over "fuzz-cls" whose two annotators have labelled every item
    they were given (disagreeing on every third): Aggregate and Agreement have votes to work on."""
    created = await labeling.CreateProject(
        lpb.CreateProjectRequest(
            name="fuzz-annotated",
            dataset=refs_pb2.DatasetRef(name="fuzz-cls"),
            annotators=["ann", "bob"],
            overlap=2,
        )
    )
    project: str = created.project.project_id
    for person in ["ann", "bob"]:
        tasks = await labeling.NextTasks(
            lpb.NextTasksRequest(project_id=project, annotator=person, limit=500)
        )
        annotations = [
            project_pb2.Annotation(
                item_id=t.item_id,
                annotator=person,
                revision=1,
                label="b" if person == "bob" and n % 3 == 0 else "a",
            )
            for n, t in enumerate(tasks.tasks)
        ]
        await labeling.SubmitAnnotations(
            lpb.SubmitAnnotationsRequest(project_id=project, annotations=annotations)
        )
    return project


async def valid_requests(channels: dict[str, grpc.aio.Channel]) -> dict[str, list[Message]]:
    """A valid request for the RPCs that do real work over the stored datasets (and a labeling
    project made for it): the fuzzer mutates them a field or a few at a time."""
    labeling = lpb_grpc.LabelingServiceStub(channels[LABELING])
    ner = refs_pb2.DatasetRef(name="fuzz-ner")
    created = await labeling.CreateProject(
        lpb.CreateProjectRequest(name="fuzz-project", dataset=ner, annotators=["ann", "bob"], overlap=2)
    )
    project = created.project.project_id
    annotated = await annotated_project(labeling)
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
        "/foundry.labeling.v1.LabelingService/Aggregate": [
            lpb.AggregateRequest(project_id=project),
            # Dawid-Skene over real votes: mutations reach max_iterations, tolerance and min_votes
            lpb.AggregateRequest(
                project_id=annotated,
                method=lpb.AGGREGATION_METHOD_DAWID_SKENE,
                max_iterations=50,
                tolerance=0.0,
            ),
        ],
        "/foundry.labeling.v1.LabelingService/Agreement": [
            lpb.AgreementRequest(project_id=project),
            lpb.AgreementRequest(project_id=annotated),
        ],
        "/foundry.labeling.v1.LabelingService/ExportProject": [lpb.ExportProjectRequest(project_id=project)],
        "/foundry.labeling.v1.LabelingService/FindLabelIssues": [
            lpb.FindLabelIssuesRequest(project_id=project)
        ],
        "/foundry.labeling.v1.LabelingService/SelectForLabeling": [
            lpb.SelectForLabelingRequest(project_id=project)
        ],
    }


__all__ = ["LABELING", "all_servers", "annotated_project", "stored_datasets", "valid_requests"]
