"""Pre-labeling, active learning and label issues end to end against a REAL inference service.

A tiny BERT (built from a config) is trained for NER by the training worker, exactly as the
training service does (ONNX export with its parity gate included), and stored as a model
version. The real inference service (grpc.aio, ONNX Runtime) serves it on 127.0.0.1, and the
real labeling service, pointed at it, calls it over gRPC for PreLabel, SelectForLabeling and
FindLabelIssues.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import pytest
from labeling_helpers import Stub, start_labeling
from pydantic import SecretStr
from rich.console import Console
from typer.testing import CliRunner

from foundry.api.common.v1 import refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.cli.label_demo import run_demo_stage
from foundry.cli.main import app
from foundry.domain.base_models import import_base_model
from foundry.domain.modelversions import list_model_versions
from foundry.inference.__main__ import build as build_inference
from foundry.inference.settings import InferenceSettings
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Example, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.jobstore import JobRecord
from foundry.training.loop.events import JobState
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec, Precision
from foundry.training.worker.run import run_job
from helpers.training_models import synthetic_ner_examples, tiny_bert, vocab_from_texts

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = [["Paris"], ["Berlin"], ["Rome"], ["New", "York"], ["Oslo"], ["San", "Diego"]]
TEMPLATES = [
    ["{P}", "lives", "in", "{L}"],
    ["{P}", "flew", "to", "{L}", "yesterday"],
    ["we", "met", "{P}", "in", "{L}"],
    ["{L}", "is", "where", "{P}", "works"],
]
#: items whose person tag the labeled dataset gets wrong on purpose (B-person → B-location)
FLIPPED = {f"ex-{i}" for i in (1, 7, 14, 22, 29, 35)}


WNUT_TYPES = ["corporation", "creative-work", "group", "location", "person", "product"]
NAMES = {"PER": "person", "LOC": "location"}


def examples() -> list[Example]:
    """Synthetic sentences tagged with WNUT-17's type names (person, location)."""
    out = synthetic_ner_examples(72, people=PEOPLE, places=PLACES, templates=TEMPLATES, place_stride=3)
    return [
        replace(e, tags=[t[:2] + NAMES[t[2:]] if t != "O" else t for t in e.tags or []], spans=None)
        for e in out
    ]


def flipped(example: Example) -> Example:
    if example.id not in FLIPPED:
        return example
    tags = ["B-location" if t == "B-person" else t for t in example.tags or []]
    return replace(example, tags=tags, spans=None)


@dataclass(frozen=True)
class NerModel:
    settings: Settings
    name: str
    version_id: str
    wnut_version_id: str  # a dataset named like the demo's, with WNUT-17's six types


@pytest.fixture(scope="module")
def ner_model(s3_server: SeaweedS3Server, tmp_path_factory: pytest.TempPathFactory) -> NerModel:
    """A token-classification model version trained by the training worker on synthetic NER."""
    home = tmp_path_factory.mktemp("labeling-e2e")
    settings = Settings(
        s3_endpoint=s3_server.endpoint,
        s3_access_key="foundry-test",
        s3_secret_key=SecretStr("foundry-test-secret-key"),
        s3_bucket=f"label-e2e-{uuid.uuid4().hex[:12]}",
        s3_max_retries=2,
        s3_retry_backoff_s=0.05,
        home_dir=home,
        grpc_port=0,
        metrics_port=0,
        log_json=False,
    )
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    data = examples()
    folder = tiny_bert(home / "tiny", vocab_from_texts(" ".join(e.tokens or ()) for e in data))
    import_base_model(store, "tiny-bert", folder, source="tests")
    manifest = write_dataset_version(
        store, "people", Task.TOKEN_CLASSIFICATION, data, label_set=["location", "person"]
    )
    spec = JobSpec(
        task=Task.TOKEN_CLASSIFICATION,
        base_model=BaseModelRef("imported", "tiny-bert"),
        dataset=DatasetRef(manifest.name, manifest.version_id),
        learning_rate=5e-3,
        batch_size=8,
        epochs=4,
        precision=Precision.FP32,
        seed=7,
        max_seq_length=32,
    ).resolved()
    record = jobstore.create_job(store, JobRecord(jobstore.new_job_id(), "req-people", spec, "people"))
    assert run_job(store, settings, record.job_id, home / "work") is JobState.SUCCEEDED
    (version,) = list_model_versions(store, "people")
    # the dataset to label: the same sentences, a few person tags wrong on purpose
    write_dataset_version(
        store,
        "to-label",
        Task.TOKEN_CLASSIFICATION,
        [flipped(e) for e in data],
        label_set=["location", "person"],
    )
    wnut = write_dataset_version(store, "wnut17", Task.TOKEN_CLASSIFICATION, data, label_set=WNUT_TYPES)
    return NerModel(settings, "people", version.version_id, wnut.version_id)


@pytest.fixture
async def services(ner_model: NerModel) -> AsyncIterator[Settings]:
    """The real inference service, and the labeling service pointed at it; settings naming both."""
    served = InferenceSettings(**ner_model.settings.model_dump())
    inference = FoundryServer(served, build_inference(served))
    await inference.start()
    address = f"127.0.0.1:{inference.port}"
    labeling = await start_labeling(ner_model.settings.model_copy(update={"inference_address": address}))
    yield ner_model.settings.model_copy(
        update={"inference_address": address, "labeling_address": f"127.0.0.1:{labeling.port}"}
    )
    await labeling.drain(0)
    await inference.drain(0)


@pytest.fixture
async def stub(services: Settings) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(services.labeling_address) as channel:
        yield Stub(channel)


async def project(stub: Stub, name: str) -> str:
    response = await stub.CreateProject(
        pb.CreateProjectRequest(
            name=name, dataset=refs_pb2.DatasetRef(name="to-label"), annotators=["ann", "bob"], overlap=1
        )
    )
    return response.project.project_id


async def test_prelabel_stores_the_models_predictions_as_its_annotator(
    stub: Stub, ner_model: NerModel
) -> None:
    pid = await project(stub, "prelabel")
    model = refs_pb2.ModelRef(name=ner_model.name, version_id=ner_model.version_id)
    response = await stub.PreLabel(pb.PreLabelRequest(project_id=pid, model=model))
    assert response.annotator == f"model:{ner_model.version_id}"
    assert response.items_labeled == 72 and response.model.version_id == ner_model.version_id
    again = await stub.PreLabel(pb.PreLabelRequest(project_id=pid, model=model))
    assert again.items_labeled == 0  # every item already has this version's pre-label
    got = await stub.GetProject(pb.GetProjectRequest(project_id=pid))
    assert dict(got.project.progress.annotations_by_annotator) == {response.annotator: 72}
    # annotators see the pre-labels as suggestions
    tasks = await stub.NextTasks(
        pb.NextTasksRequest(project_id=pid, annotator="ann", limit=5, include_suggestions=True)
    )
    assert tasks.tasks and all(
        [s.annotator for s in t.suggestions] == [response.annotator] for t in tasks.tasks
    )
    # the model's spans agree with the (unflipped) truth on most sentences
    truth = {e.id: e for e in examples()}
    agg = await stub.Aggregate(
        pb.AggregateRequest(
            project_id=pid,
            method=pb.AGGREGATION_METHOD_MAJORITY_VOTE,
            filter=pb.AnnotatorFilter(include_models=True),
        )
    )
    assert agg.items == 72
    right = sum(list(i.tags) == list(truth[i.item_id].tags or []) for i in agg.aggregated_items)
    assert right >= 0.8 * 72


@pytest.mark.parametrize(
    "strategy",
    [
        pb.SELECTION_STRATEGY_LEAST_CONFIDENCE,
        pb.SELECTION_STRATEGY_MARGIN,
        pb.SELECTION_STRATEGY_ENTROPY,
    ],
)
async def test_select_for_labeling_ranks_by_the_models_uncertainty(
    stub: Stub, ner_model: NerModel, strategy: pb.SelectionStrategy.ValueType
) -> None:
    pid = await project(stub, f"select-{strategy}")
    request = pb.SelectForLabelingRequest(
        project_id=pid,
        model=refs_pb2.ModelRef(name=ner_model.name, version_id=ner_model.version_id),
        strategy=strategy,
        reduction=pb.TOKEN_SCORE_REDUCTION_MAX,
        count=10,
        prioritize=True,
    )
    response = await stub.SelectForLabeling(request)
    assert response.candidates == 72 and len(response.items) == 10
    uncertainty = [i.uncertainty for i in response.items]
    assert uncertainty == sorted(uncertainty, reverse=True) and uncertainty[0] > 0
    assert len({i.item_id for i in response.items}) == 10
    # the chosen items lead the annotators' queues, most uncertain first
    chosen = [i.item_id for i in response.items]
    queue: list[str] = []
    for person in ("ann", "bob"):
        tasks = await stub.NextTasks(pb.NextTasksRequest(project_id=pid, annotator=person, limit=72))
        queue.extend(t.item_id for t in tasks.tasks if t.item_id in chosen)
        mine = [t.item_id for t in tasks.tasks]
        assert mine[: len(set(mine) & set(chosen))] == [c for c in chosen if c in mine]
    assert sorted(queue) == sorted(chosen)


async def test_label_issues_with_model_probabilities_find_the_flipped_tags(
    stub: Stub, ner_model: NerModel
) -> None:
    pid = await project(stub, "issues")
    response = await stub.FindLabelIssues(
        pb.FindLabelIssuesRequest(
            project_id=pid,
            given=pb.GIVEN_LABEL_SOURCE_DATASET,
            model=refs_pb2.ModelRef(name=ner_model.name, version_id=ner_model.version_id),
            limit=20,
            create_tasks=True,
        )
    )
    assert response.items_checked == 72
    found = {i.item_id for i in response.issues}
    assert len(found & FLIPPED) >= 0.8 * len(FLIPPED)
    flagged = [i for i in response.issues if i.item_id in FLIPPED]
    # each names the planted tag and the span around it (the model's suggestion differs)
    assert all(
        i.given_label == "B-location" != i.suggested_label and i.span.label == "location" for i in flagged
    )
    assert sum(i.suggested_label == "B-person" for i in flagged) >= len(FLIPPED) // 2
    assert response.tasks_created == len(found)


async def test_the_demo_labeling_stage_runs_against_the_real_services(
    services: Settings, ner_model: NerModel, tmp_path: Path
) -> None:
    output = io.StringIO()
    console = Console(file=output, width=200)
    settings = services.model_copy(update={"home_dir": tmp_path})
    await asyncio.to_thread(
        run_demo_stage, settings, console, ner_model.wnut_version_id, ner_model.name, ner_model.version_id
    )
    shown = output.getvalue()
    print(shown)  # shown when the test fails
    assert f"model:{ner_model.version_id}: 12 sentences pre-labeled" in shown  # the test split
    assert "gold: 12 sentences" in shown
    # the demo's gazetteer and regex find the capitalised places; their votes are weighed too
    covered = int(shown.split("labeling rules: ")[1].split(" of 12 items covered")[0])
    assert covered >= 6 and "rule:gazetteer-location" in shown and "rule:regex-place-after-prep" in shown
    assert f"model:{ner_model.version_id[:12]}…" in shown  # model versions shown short
    rule_row = next(line for line in shown.splitlines() if line.startswith("│ gazetteer-location"))
    assert "1.000" in rule_row  # its accuracy against the human (gold) aggregate
    for title in ("annotator reliability (dawid_skene, span level", "pairwise agreement", "Fleiss' kappa"):
        assert title in shown
    assert (tmp_path / "demo" / "labeling_reliability.png").read_bytes()[:4] == b"\x89PNG"


async def test_the_cli_prelabels_selects_and_finds_issues(
    services: Settings, ner_model: NerModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDRY_LABELING_ADDRESS", services.labeling_address)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    async def foundry(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, app, ["label", *args])
        assert result.exit_code == code, (result.output, result.exception)
        return " ".join(result.output.split())

    created = await foundry("create", "cli-e2e", "--dataset", "to-label", "--annotators", "ann")
    pid = created.split("created project ", 1)[1].split()[0]
    model = f"{ner_model.name}@{ner_model.version_id}"
    assert f"model:{ner_model.version_id}: 72 items labeled" in await foundry(
        "prelabel", pid, "--model", model
    )
    selected = await foundry("select", pid, "--model", model, "--strategy", "entropy", "--count", "5")
    assert "selected 5 of 72 candidates (entropy)" in selected
    found = await foundry("issues", pid, "--model", model, "--given", "dataset", "--limit", "30")
    assert "72 items checked" in found and sum(f"│ {item} │" in found for item in FLIPPED) >= 5
    assert "give either --model or --table" in await foundry("issues", pid, code=1)
