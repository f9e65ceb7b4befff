"""The training service end to end: a real grpc.aio server on 127.0.0.1 with every interceptor
and the real S3 server. The API tests hold jobs in a queue that never starts them (so that they
stay queued and their progress can be written here, as a worker would); the last test runs a real
tiny job through the `LocalExecutor` and its worker process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from typer.testing import CliRunner

from foundry.api.common.v1 import example_pb2, job_pb2, refs_pb2, task_pb2, training_spec_pb2
from foundry.api.training.v1 import training_service_pb2 as pb
from foundry.api.training.v1 import training_service_pb2_grpc as pb_grpc
from foundry.cli import train as train_cli
from foundry.cli.main import app
from foundry.domain.base_models import BASE_MODELS_PREFIX
from foundry.domain.retention.deletion import delete_dataset_version
from foundry.domain.retention.gc import collect_garbage
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.errors import FoundryError
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.hashing import file_sha256
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings, load_settings
from foundry.training.__main__ import build
from foundry.training.executor import JobExecutor
from foundry.training.jobstore import EventKind, EventWriter
from foundry.training.loop.events import JobState
from foundry.training.settings import TrainingSettings
from foundry.training.speccheck import MAX_BATCH_SIZE, MAX_GPUS_PER_NODE, MAX_SEQ_LENGTH
from helpers.training_models import synthetic_ner_examples, tiny_bert, vocab_from_texts

CHUNK = 64 * 1024
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = [["paris"], ["berlin"], ["rome"], ["new", "york"], ["oslo"], ["vienna"]]
TEMPLATES = [
    ["{P}", "lives", "in", "{L}"],
    ["{P}", "flew", "to", "{L}", "today"],
    ["we", "met", "{P}", "in", "{L}"],
]


def make_examples(count: int = 48) -> list[Example]:
    return synthetic_ner_examples(count, people=PEOPLE, places=PLACES, templates=TEMPLATES, place_stride=5)


EXAMPLES = make_examples()
TEXTS = [" ".join(e.tokens or ()) for e in EXAMPLES]


class HeldExecutor(JobExecutor):
    """Takes jobs and never starts them: they stay queued."""

    name = "held"

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.reconciled = 0

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def alive(self, job_id: str) -> bool:
        return False

    def reconcile(self) -> None:
        self.reconciled += 1


if TYPE_CHECKING:
    Stub = pb_grpc.TrainingServiceAsyncStub
else:
    Stub = pb_grpc.TrainingServiceStub


async def start(settings: Settings, executor: JobExecutor | None) -> tuple[FoundryServer, TrainingSettings]:
    local = TrainingSettings(
        **{
            **settings.model_dump(),
            "grpc_port": 0,
            "metrics_port": 0,
            "training_poll_interval_s": 0.1,
            "log_json": False,
        }
    )
    server = FoundryServer(local, build(local, executor))
    await server.start()
    return server, local


@pytest.fixture
def held() -> HeldExecutor:
    return HeldExecutor()


@pytest.fixture
async def stub(settings: Settings, held: HeldExecutor) -> AsyncIterator[Stub]:
    server, _ = await start(settings, held)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.TrainingServiceStub(channel)
    await server.drain(0)


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    return tiny_bert(tmp_path / "tiny", vocab_from_texts(TEXTS))


@pytest.fixture
def dataset(store: ObjectStore) -> DatasetManifest:
    return write_dataset_version(
        store, "ner-small", Task.TOKEN_CLASSIFICATION, EXAMPLES, label_set=["LOC", "PER"]
    )


def files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def import_requests(folder: Path, name: str, *, corrupt: bool = False) -> Iterator[pb.ImportBaseModelRequest]:
    files = files_of(folder)
    header = pb.ImportBaseModelHeader(name=name, source="tests")
    for path in files:
        data = path.read_bytes()
        header.files.add(
            path=path.relative_to(folder).as_posix(),
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    yield pb.ImportBaseModelRequest(header=header)
    for path in files:
        data = path.read_bytes()
        if corrupt and path.name == "config.json":
            data = data[:-1] + b" "
        rel = path.relative_to(folder).as_posix()
        for offset in range(0, max(len(data), 1), CHUNK):
            yield pb.ImportBaseModelRequest(
                chunk=pb.FileChunk(path=rel, offset=offset, data=data[offset : offset + CHUNK])
            )


async def import_model(stub: Stub, folder: Path, name: str = "tiny-bert") -> pb.ImportBaseModelResponse:
    response: pb.ImportBaseModelResponse = await stub.ImportBaseModel(import_requests(folder, name))
    return response


def spec_pb(dataset: DatasetManifest, **fields: object) -> training_spec_pb2.JobSpec:
    spec = training_spec_pb2.JobSpec(
        task=task_pb2.TASK_TOKEN_CLASSIFICATION,
        dataset=refs_pb2.DatasetRef(name=dataset.name),
        learning_rate=5e-3,
        batch_size=8,
        epochs=3,
        precision=training_spec_pb2.PRECISION_FP32,
        seed=7,
    )
    spec.base_model.imported.name = "tiny-bert"
    for name, value in fields.items():
        setattr(spec, name, value)
    return spec


def stop_workers(settings: Settings) -> None:
    """End the worker process groups the service's executor started and left running."""
    for pid_file in (settings.home_dir / "training" / "executor").glob("*.json"):
        with contextlib.suppress(ProcessLookupError, ValueError, KeyError):
            os.killpg(int(json.loads(pid_file.read_text())["pid"]), signal.SIGKILL)


def violations(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


# --- base models ----------------------------------------------------------------------------------------


async def test_import_base_model_streams_a_folder_and_lists_it(stub: Stub, model_folder: Path) -> None:
    response = await import_model(stub, model_folder)
    model = response.base_model
    assert response.created and model.name == "tiny-bert" and len(model.version_id) == 64
    assert model.model_type == "bert" and task_pb2.TASK_TOKEN_CLASSIFICATION in model.tasks
    sent = {p.relative_to(model_folder).as_posix() for p in files_of(model_folder)}
    assert {f.path for f in model.files} == sent
    assert all(len(f.ref.sha256) == 64 for f in model.files)
    again = await import_model(stub, model_folder)
    assert not again.created and again.base_model.version_id == model.version_id
    listed = await stub.ListBaseModels(pb.ListBaseModelsRequest())
    assert [m.version_id for m in listed.base_models] == [model.version_id]


async def test_a_broken_import_stores_nothing(stub: Stub, model_folder: Path, store: ObjectStore) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ImportBaseModel(import_requests(model_folder, "broken", corrupt=True))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert any(v.endswith(".sha256") for v in violations(caught.value))

    def cut_off() -> Iterator[pb.ImportBaseModelRequest]:  # the stream ends before every file is sent
        requests = list(import_requests(model_folder, "broken"))
        yield from requests[:2]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ImportBaseModel(cut_off())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert store.keys(BASE_MODELS_PREFIX) == []


# --- submit ------------------------------------------------------------------------------------------------


async def test_bad_specs_are_rejected_before_anything_runs(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, store: ObjectStore, held: HeldExecutor
) -> None:
    async def refused(spec: training_spec_pb2.JobSpec) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.SubmitJob(pb.SubmitJobRequest(request_id="bad", spec=spec))
        return caught.value

    err = await refused(spec_pb(dataset, batch_size=0, warmup_ratio=1.5))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"batch_size", "warmup_ratio"} <= set(violations(err))

    err = await refused(spec_pb(dataset))  # nothing imported yet
    assert err.code() == grpc.StatusCode.NOT_FOUND and "base_model" in violations(err)

    await import_model(stub, model_folder)
    text = write_dataset_version(
        store,
        "sentiment",
        Task.TEXT_CLASSIFICATION,
        [Example(id="a", split=Split.TRAIN, text="good", label="pos")],
    )
    spec = spec_pb(dataset)
    spec.dataset.name = text.name
    err = await refused(spec)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "dataset" in violations(err)

    spec = spec_pb(dataset)
    spec.dataset.name = "no-such-dataset"
    err = await refused(spec)
    assert err.code() == grpc.StatusCode.NOT_FOUND and "dataset.name" in violations(err)

    missing = training_spec_pb2.JobSpec(task=task_pb2.TASK_TOKEN_CLASSIFICATION)
    err = await refused(missing)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"spec.base_model", "spec.dataset.name"} <= set(violations(err))

    assert held.submitted == []
    assert (await stub.ListJobs(pb.ListJobsRequest())).jobs == []


async def test_validate_only_resolves_the_spec_and_starts_nothing(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, held: HeldExecutor
) -> None:
    base = (await import_model(stub, model_folder)).base_model
    response = await stub.SubmitJob(
        pb.SubmitJobRequest(request_id="v", spec=spec_pb(dataset), validate_only=True)
    )
    spec = response.job.spec
    assert not response.created and response.job.job_id == ""
    assert spec.dataset.version_id == dataset.version_id
    assert spec.base_model.imported.version_id == base.version_id
    assert spec.model_name == dataset.name and spec.max_seq_length == 128
    assert held.submitted == []


async def test_validate_only_refuses_work_beyond_the_documented_maxima(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, held: HeldExecutor
) -> None:
    await import_model(stub, model_folder)
    huge = spec_pb(dataset, max_seq_length=10**9, batch_size=2**31 - 1)
    huge.resources.gpus_per_node = 1000
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SubmitJob(pb.SubmitJobRequest(request_id="huge", spec=huge, validate_only=True))
    err = caught.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"max_seq_length", "batch_size", "resources.gpus_per_node"} <= set(violations(err))
    for limit in (MAX_SEQ_LENGTH, MAX_BATCH_SIZE, MAX_GPUS_PER_NODE):
        assert f"at most {limit}," in (err.details() or "")
    negative = spec_pb(dataset, epochs=-1)
    negative.resources.gpus_per_node = -1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SubmitJob(pb.SubmitJobRequest(request_id="neg", spec=negative, validate_only=True))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"epochs", "resources.gpus_per_node"} <= set(violations(caught.value))
    at_limit = spec_pb(dataset, max_seq_length=MAX_SEQ_LENGTH, batch_size=MAX_BATCH_SIZE)
    at_limit.resources.gpus_per_node = MAX_GPUS_PER_NODE
    at_limit.precision = training_spec_pb2.PRECISION_FP32
    response = await stub.SubmitJob(pb.SubmitJobRequest(request_id="ok", spec=at_limit, validate_only=True))
    assert response.job.spec.max_seq_length == MAX_SEQ_LENGTH and held.submitted == []


async def test_submit_is_idempotent_by_request_id_and_jobs_are_listed(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, held: HeldExecutor
) -> None:
    await import_model(stub, model_folder)
    first = await stub.SubmitJob(pb.SubmitJobRequest(request_id="req-1", spec=spec_pb(dataset)))
    again = await stub.SubmitJob(pb.SubmitJobRequest(request_id="req-1", spec=spec_pb(dataset)))
    assert first.created and not again.created
    assert again.job.job_id == first.job.job_id and held.submitted == [first.job.job_id]
    job = first.job
    assert job.state == job_pb2.JOB_STATE_QUEUED and job.request_id == "req-1" and job.executor == "held"
    assert job.last_event.seq == 1 and job.model_name == "ner-small"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.SubmitJob(pb.SubmitJobRequest(request_id="req-1", spec=spec_pb(dataset, epochs=5)))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS

    second = await stub.SubmitJob(
        pb.SubmitJobRequest(request_id="req-2", spec=spec_pb(dataset, model_name="other"))
    )
    got = await stub.GetJob(pb.GetJobRequest(job_id=job.job_id))
    assert got.job == job

    listed = await stub.ListJobs(pb.ListJobsRequest(page_size=1))
    assert [j.job_id for j in listed.jobs] == [second.job.job_id] and listed.next_page_token
    rest = await stub.ListJobs(pb.ListJobsRequest(page_size=1, page_token=listed.next_page_token))
    assert [j.job_id for j in rest.jobs] == [job.job_id] and not rest.next_page_token
    only = await stub.ListJobs(pb.ListJobsRequest(model_name="other"))
    assert [j.job_id for j in only.jobs] == [second.job.job_id]
    running = await stub.ListJobs(pb.ListJobsRequest(states=[job_pb2.JOB_STATE_RUNNING]))
    assert running.jobs == []

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetJob(pb.GetJobRequest(job_id="nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_of_a_queued_job_ends_it_at_once(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, held: HeldExecutor, store: ObjectStore
) -> None:
    await import_model(stub, model_folder)
    job = (await stub.SubmitJob(pb.SubmitJobRequest(request_id="c", spec=spec_pb(dataset)))).job
    cancelled = await stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id, reason="changed my mind"))
    assert cancelled.job.state == job_pb2.JOB_STATE_CANCELLED
    assert "changed my mind" in cancelled.job.error and cancelled.job.HasField("finished_at")
    assert held.cancelled == [job.job_id]
    assert store.exists(f"jobs/{job.job_id}/cancel")
    again = await stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id))
    assert again.job.last_event.seq == cancelled.job.last_event.seq  # nothing more happens


async def test_cancel_of_a_running_job_asks_the_worker(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, store: ObjectStore
) -> None:
    await import_model(stub, model_folder)
    job = (await stub.SubmitJob(pb.SubmitJobRequest(request_id="r", spec=spec_pb(dataset)))).job
    EventWriter(store, job.job_id).state(JobState.RUNNING, "worker started")
    response = await stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id))
    assert response.job.state == job_pb2.JOB_STATE_CANCELLING
    assert store.exists(f"jobs/{job.job_id}/cancel")


# --- watch ---------------------------------------------------------------------------------------------------


async def test_watch_streams_live_events_and_resumes_from_a_seq(
    stub: Stub, model_folder: Path, dataset: DatasetManifest, store: ObjectStore
) -> None:
    await import_model(stub, model_folder)
    job = (await stub.SubmitJob(pb.SubmitJobRequest(request_id="w", spec=spec_pb(dataset)))).job
    received: list[job_pb2.ProgressEvent] = []

    async def watch() -> None:
        async for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id)):
            received.append(response.event)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.3)
    assert [e.seq for e in received] == [1]  # the queued event, then it waits

    def progress() -> None:  # what a worker writes
        writer = EventWriter(store, job.job_id)
        writer.state(JobState.RUNNING, "worker started")
        for step in (1, 2, 3):
            writer.append(
                EventKind.TRAIN,
                step=step,
                total_steps=3,
                loss=1.0 / step,
                learning_rate=1e-3,
                throughput_tokens_per_s=100.0,
            )
        writer.append(EventKind.EVAL, step=3, total_steps=3, eval_metrics={"eval_f1": 0.9})
        writer.state(JobState.SUCCEEDED, "done", model_version_id="a" * 64)

    await asyncio.to_thread(progress)
    await asyncio.wait_for(watcher, timeout=10)
    assert [e.seq for e in received] == list(range(1, 8))
    train = received[2]
    assert train.kind == job_pb2.PROGRESS_EVENT_KIND_TRAIN and train.HasField("loss") and train.loss == 1.0
    assert received[5].eval_metrics["eval_f1"] == pytest.approx(0.9)
    assert received[-1].state == job_pb2.JOB_STATE_SUCCEEDED and received[-1].model_version_id == "a" * 64

    resumed = [r.event async for r in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id, after_seq=4))]
    assert [e.seq for e in resumed] == [5, 6, 7]
    done = await stub.GetJob(pb.GetJobRequest(job_id=job.job_id))
    assert done.job.state == job_pb2.JOB_STATE_SUCCEEDED and done.job.model_version_id == "a" * 64
    assert done.job.HasField("started_at") and done.job.HasField("finished_at")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchJob(pb.WatchJobRequest(job_id="nope")):
            pass
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_models_of_an_unknown_name_are_not_found(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetModel(pb.GetModelRequest(model=refs_pb2.ModelRef(name="nothing")))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await stub.ListModels(pb.ListModelsRequest())).model_versions == []


# --- a real job ---------------------------------------------------------------------------------------------


async def test_a_tiny_job_runs_through_the_local_executor_to_a_model_version(
    settings: Settings, model_folder: Path, dataset: DatasetManifest
) -> None:
    server, local = await start(settings, None)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            await import_model(stub, model_folder)
            job = (await stub.SubmitJob(pb.SubmitJobRequest(request_id="real", spec=spec_pb(dataset)))).job
            events = [
                r.event async for r in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=240)
            ]
            done = (await stub.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
            log = (local.home_dir / "training" / "logs" / f"{job.job_id}.log").read_text()
            assert done.state == job_pb2.JOB_STATE_SUCCEEDED, (done.error, log[-3000:])
            assert done.attempts == 1 and done.executor == "local"
            kinds = {e.kind for e in events}
            assert job_pb2.PROGRESS_EVENT_KIND_TRAIN in kinds and job_pb2.PROGRESS_EVENT_KIND_EVAL in kinds
            model = (
                await stub.GetModel(pb.GetModelRequest(model=refs_pb2.ModelRef(name="ner-small")))
            ).model_version
            assert model.version_id == done.model_version_id and model.job_id == job.job_id
            assert model.task == task_pb2.TASK_TOKEN_CLASSIFICATION and model.artifacts
            assert model.spec.dataset.version_id == dataset.version_id
            assert model.parity.fp32.passed and model.parity.tolerance == pytest.approx(1e-4)
            test = next(s for s in model.metrics.splits if s.split == example_pb2.SPLIT_TEST)
            assert {"eval_f1", "eval_f1_default", "eval_f1_strict"} <= set(test.values)
            assert {m.label for m in test.per_label} <= {"PER", "LOC"} and test.per_label
            assert len(test.per_label_strict) == len(test.per_label)
            assert test.decoding == "aggregation=first as_served=true bio_repair=true"
            assert model.parity.fp32.max_abs_logit_diff <= 1e-4
            listed = await stub.ListModels(pb.ListModelsRequest(include_rejected=True))
            assert [m.version_id for m in listed.model_versions] == [model.version_id]
            # deleting it: the dataset version it was trained on is now depended on, the model
            # version goes with every artifact, and a tombstone is left
            store = ObjectStore.from_settings(local)
            with pytest.raises(FoundryError) as depended:
                delete_dataset_version(
                    store, dataset.name, dataset.version_id, force=False, deleted_by="t", reason=""
                )
            assert f"model_version ner-small@{model.version_id}" in str(depended.value)
            ref = refs_pb2.ModelRef(name="ner-small", version_id=model.version_id)
            deleted = await stub.DeleteModelVersion(pb.DeleteModelVersionRequest(model=ref, reason="t"))
            assert deleted.tombstone.objects_deleted == len(model.artifacts) + 1
            assert store.keys(f"models/ner-small/{model.version_id}/") == []
            assert store.exists(f"tombstones/models/ner-small/{model.version_id}.json")
            listed = await stub.ListModels(pb.ListModelsRequest(include_rejected=True))
            assert list(listed.model_versions) == []
            pid_file = local.home_dir / "training" / "executor" / f"{job.job_id}.json"
            for _ in range(100):  # the executor reaps the worker once it has exited
                if not pid_file.exists():
                    break
                await asyncio.sleep(0.1)
            assert not pid_file.exists()
    finally:
        await server.drain(0)
        stop_workers(local)


@pytest.mark.usefixtures("wide_console")
async def test_the_cli_imports_trains_shows_and_pulls_models(
    settings: Settings,
    model_folder: Path,
    dataset: DatasetManifest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server, local = await start(settings, None)
    monkeypatch.setenv("FOUNDRY_TRAINING_ADDRESS", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    async def foundry(*args: str) -> str:
        result = await asyncio.to_thread(runner.invoke, app, list(args))
        assert result.exit_code == 0, (result.output, result.exception)
        return " ".join(result.output.split())  # the console may wrap at its own width

    try:
        assert "imported: tiny-bert@" in await foundry(
            "base-models", "import", str(model_folder), "--name", "tiny-bert"
        )
        assert "tiny-bert" in await foundry("base-models", "ls")
        train_args = [
            "--dataset",
            dataset.name,
            "--base-model",
            "tiny-bert",
            "--task",
            "ner",
            "--name",
            "cli-model",
        ]
        out = await foundry("train", *train_args, "--epochs", "3", "--lr", "5e-3", "--batch-size", "8")
        assert "succeeded" in out and "cli-model@" in out
        assert "cli-model" in await foundry("models", "ls")
        shown = await foundry("models", "show", "cli-model", "--strict")
        assert "B-PER" in shown and "onnx" in shown
        assert "default (headline)" in shown and "strict IOB2" in shown
        assert (
            "per label, test split (default mode)" in shown and "per label, test split (strict IOB2)" in shown
        )
        assert "decoded as served: aggregation=first as_served=true bio_repair=true" in shown
        for key, value in (
            ("FOUNDRY_S3_ENDPOINT", settings.s3_endpoint),
            ("FOUNDRY_S3_ACCESS_KEY", settings.s3_access_key),
            ("FOUNDRY_S3_SECRET_KEY", settings.s3_secret_key.get_secret_value()),
            ("FOUNDRY_S3_BUCKET", settings.s3_bucket),
        ):
            monkeypatch.setenv(key, value)
        pulled = await foundry("models", "pull", "cli-model", str(tmp_path / "pulled"))
        version = await asyncio.to_thread(train_cli.get_model, load_settings(), "cli-model")
        for artifact in version.artifacts:
            assert file_sha256(tmp_path / "pulled" / artifact.path) == artifact.ref.sha256
        assert f"{len(version.artifacts)} artifact(s) of cli-model@" in pulled
        only = await foundry(
            "models", "pull", "cli-model", str(tmp_path / "some"), "--kind", "metrics_report"
        )
        assert "1 artifact(s)" in only and (tmp_path / "some" / "metrics.json").is_file()
        assert not (tmp_path / "some" / "onnx").exists()
        detached = await foundry("train", *train_args, "--max-steps", "1", "--detach")
        assert "submitted" in detached
    finally:
        await server.drain(0)
        stop_workers(local)


async def test_a_killed_worker_is_started_again_and_the_job_finishes(
    settings: Settings, model_folder: Path, dataset: DatasetManifest
) -> None:
    server, local = await start(settings, None)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub: Stub = pb_grpc.TrainingServiceStub(channel)
            await import_model(stub, model_folder)
            spec = spec_pb(dataset, checkpoint_every_steps=2, eval_every_steps=2)
            job = (await stub.SubmitJob(pb.SubmitJobRequest(request_id="kill", spec=spec))).job
            seen = 0
            async for response in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=120):
                seen = response.event.seq
                if response.event.kind == job_pb2.PROGRESS_EVENT_KIND_CHECKPOINT:
                    break
            pid_file = local.home_dir / "training" / "executor" / f"{job.job_id}.json"
            os.killpg(int(json.loads(pid_file.read_text())["pid"]), signal.SIGKILL)
            # a killed worker leaves no model version visible, not even a rejected one
            listed = await stub.ListModels(pb.ListModelsRequest(include_rejected=True))
            assert list(listed.model_versions) == []
            rest = [
                r.event
                async for r in stub.WatchJob(
                    pb.WatchJobRequest(job_id=job.job_id, after_seq=seen), timeout=240
                )
            ]
            done = (await stub.GetJob(pb.GetJobRequest(job_id=job.job_id))).job
            assert done.state == job_pb2.JOB_STATE_SUCCEEDED, done.error
            assert done.attempts == 2
            assert [e.seq for e in rest] == list(range(seen + 1, seen + 1 + len(rest)))
            assert any("again" in e.message for e in rest)
            listed = await stub.ListModels(pb.ListModelsRequest(include_rejected=True))
            assert len(listed.model_versions) == 1  # the second attempt's, once
            store = ObjectStore.from_settings(local)
            assert collect_garbage(store, grace_s=0).orphan_objects == 0  # nothing half-published
    finally:
        await server.drain(0)
        stop_workers(local)
