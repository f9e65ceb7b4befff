"""The training worker against a real S3 server: a job end to end, events, cancel, kill and
resume, a task mismatch; and the job store's event stream and checkpoint slots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from transformers import AutoModelForTokenClassification

from foundry.domain.base_models import BaseModelManifest, import_base_model
from foundry.domain.modelversions import (
    get_model_version,
    list_model_versions,
)
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.errors import NotFoundError
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobcheckpoints, jobstore
from foundry.training.jobstore import EventKind, EventWriter, JobRecord
from foundry.training.loop.events import JobState
from foundry.training.spec import (
    BaseModelRef,
    DatasetRef,
    ExportOptions,
    Freeze,
    JobSpec,
    LoraConfig,
    Precision,
    TrainingMethod,
)
from foundry.training.worker.__main__ import main as worker_main
from foundry.training.worker.options import WorkerOptions
from foundry.training.worker.run import run_job
from helpers.training_models import synthetic_ner_examples, tiny_bert, vocab_from_texts

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = [["paris"], ["berlin"], ["rome"], ["new", "york"], ["oslo"], ["vienna"], ["san", "diego"]]
TEMPLATES = [
    ["{P}", "lives", "in", "{L}"],
    ["{P}", "flew", "to", "{L}", "yesterday"],
    ["we", "met", "{P}", "in", "{L}"],
    ["{L}", "is", "where", "{P}", "works"],
    ["the", "weather", "in", "{L}", "is", "nice"],
]


def make_examples(count: int = 60) -> list[Example]:
    return synthetic_ner_examples(count, people=PEOPLE, places=PLACES, templates=TEMPLATES, place_stride=3)


EXAMPLES = make_examples()
TEXTS = [" ".join(e.tokens or ()) for e in EXAMPLES]


@pytest.fixture
def base_model(store: ObjectStore, tmp_path: Path) -> BaseModelManifest:
    folder = tiny_bert(tmp_path / "tiny", vocab_from_texts(TEXTS))
    return import_base_model(store, "tiny-bert", folder, source="tests")


@pytest.fixture
def dataset(store: ObjectStore) -> DatasetManifest:
    return write_dataset_version(
        store, "ner-small", Task.TOKEN_CLASSIFICATION, EXAMPLES, label_set=["LOC", "PER"]
    )


def submit(store: ObjectStore, dataset: DatasetManifest, **overrides: object) -> JobRecord:
    values: dict[str, object] = {
        "task": Task.TOKEN_CLASSIFICATION,
        "base_model": BaseModelRef("imported", "tiny-bert"),
        "dataset": DatasetRef(dataset.name, dataset.version_id),
        "learning_rate": 5e-3,
        "batch_size": 8,
        "epochs": 3,
        "precision": Precision.FP32,
        "seed": 7,
    }
    values.update(overrides)
    spec = JobSpec(**values).resolved()  # type: ignore[arg-type]
    record = JobRecord(jobstore.new_job_id(), "request-1", spec, spec.model_name)
    return jobstore.create_job(store, record)


def assert_ordered(events: list[jobstore.ProgressEvent]) -> None:
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.state for e in events)


# --- the job store ---------------------------------------------------------------------------------


def test_event_stream_continues_after_the_last_seq_and_gives_the_state(
    store: ObjectStore, dataset: DatasetManifest
) -> None:
    record = submit(store, dataset)
    assert jobstore.get_job(store, record.job_id) == record
    assert jobstore.job_state(store, record.job_id) is JobState.QUEUED
    with pytest.raises(Exception, match="already exists"):
        jobstore.create_job(store, record)
    writer = EventWriter(store, record.job_id)
    writer.state(JobState.RUNNING, "go")
    writer.append(EventKind.TRAIN, step=1, total_steps=10, loss=0.5, learning_rate=1e-3)
    again = EventWriter(store, record.job_id)  # a replacement worker
    assert again.seq == 2 and again.current_state is JobState.RUNNING
    again.log("hello")
    events = jobstore.read_events(store, record.job_id)
    assert_ordered(events)
    assert [e.kind for e in events] == ["state", "train", "log"]
    assert events[1].loss == 0.5 and events[2].state == "running"
    assert [e.seq for e in jobstore.read_events(store, record.job_id, after_seq=2)] == [3]
    # two writers on one stream (the service writes CANCELLING while the worker runs)
    service = EventWriter(store, record.job_id)
    service.state(JobState.CANCELLING, "cancel requested")
    again.append(EventKind.TRAIN, step=2, total_steps=10)  # behind by one: catches up
    events = jobstore.read_events(store, record.job_id)
    assert_ordered(events)
    assert [(e.kind, e.state) for e in events[3:]] == [("state", "cancelling"), ("train", "cancelling")]
    assert jobstore.job_state(store, record.job_id) is JobState.CANCELLING
    assert record.job_id in jobstore.list_job_ids(store)


def test_checkpoint_slot_replaces_its_folder_index_last(store: ObjectStore, tmp_path: Path) -> None:
    for step in (1, 2):
        folder = tmp_path / f"step-{step:08d}"
        (folder / "rng").mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(bytes([step]) * 10)
        (folder / "rng" / "rank-0.pt").write_bytes(b"rng")
        jobcheckpoints.upload_checkpoint(store, "job-x", folder, step)
    index = jobcheckpoints.read_checkpoint_index(store, "job-x")
    assert index is not None and index.step == 2 and index.folder == "step-00000002"
    keys = store.keys(jobcheckpoints.checkpoint_prefix("job-x"))
    assert not [k for k in keys if "step-00000001" in k]
    local = jobcheckpoints.download_checkpoint(store, "job-x", tmp_path / "restore")
    assert local is not None and (local / "model.safetensors").read_bytes() == bytes([2]) * 10
    assert jobcheckpoints.download_checkpoint(store, "job-y", tmp_path / "none") is None


# --- the worker ------------------------------------------------------------------------------------


def test_a_job_runs_end_to_end_to_a_promoted_model_version(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    dataset: DatasetManifest,
    tmp_path: Path,
) -> None:
    record = submit(store, dataset)
    state = run_job(store, settings, record.job_id, tmp_path / "work")
    events = jobstore.read_events(store, record.job_id)
    assert state is JobState.SUCCEEDED, [e.message for e in events if e.kind in ("state", "log")]
    assert_ordered(events)
    assert events[0].kind == "state" and events[0].state == "running"
    last = events[-1]
    assert last.kind == "state" and last.state == "succeeded" and last.model_version_id
    assert jobstore.job_state(store, record.job_id) is JobState.SUCCEEDED
    kinds = {e.kind for e in events}
    assert {"train", "eval", "checkpoint", "export", "log"} <= kinds
    assert any("tokenization cache miss" in e.message for e in events)
    train_steps = [e.step for e in events if e.kind == "train"]
    assert train_steps == sorted(train_steps) and train_steps[-1] == last.total_steps

    version = get_model_version(store, "ner-small")  # latest promoted
    assert version.version_id == last.model_version_id and version.status == "promoted"
    assert version.content_version_id() == version.version_id
    assert version.id_to_label == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert version.base_model == {
        "kind": "imported",
        "name": "tiny-bert",
        "version_id": base_model.version_id,
    }
    assert version.dataset == {"name": "ner-small", "version_id": dataset.version_id}
    assert version.job_id == record.job_id and version.spec == record.spec.to_dict()
    assert version.parity is not None and version.parity["passed"]
    assert version.parity["max_abs_diff"] <= 1e-4
    assert {"splits", "per_type", "training"} <= set(version.metrics)
    assert set(version.metrics["splits"]) == {"validation", "test"}
    assert "eval_f1" in version.metrics["splits"]["test"]
    assert "eval_loss" in version.metrics["splits"]["validation"]
    assert set(version.metrics["per_type"]["test"]) == {"LOC", "PER"}
    assert version.metrics["training"]["steps"] == last.total_steps
    paths = {a.path for a in version.artifacts}
    assert {
        "hf/model.safetensors",
        "hf/config.json",
        "hf/tokenizer.json",
        "onnx/model.onnx",
        "onnx/model.int8.onnx",
        "label_map.json",
        "metrics.json",
        "curves.png",
        "parity.json",
    } <= paths
    for artifact in version.artifacts:
        assert len(store.get_bytes(artifact.key, expected_sha256=artifact.sha256)) == artifact.size_bytes
    assert store.get_bytes(version.artifact("curves.png").key)[:8] == b"\x89PNG\r\n\x1a\n"
    assert [v.version_id for v in list_model_versions(store)] == [version.version_id]

    hf = tmp_path / "hf"
    for artifact in version.artifacts:
        if artifact.path.startswith("hf/"):
            store.get_file(artifact.key, hf / artifact.path[3:], expected_sha256=artifact.sha256)
    loaded = AutoModelForTokenClassification.from_pretrained(hf, use_safetensors=True, local_files_only=True)
    assert loaded.config.id2label[1] == "B-LOC"

    # a finished job is left as it is
    assert run_job(store, settings, record.job_id, tmp_path / "work") is JobState.SUCCEEDED
    assert len(jobstore.read_events(store, record.job_id)) == len(events)
    # a worker that died after the manifest, before its final event: the rerun reuses the version
    store.delete(jobstore.event_key(record.job_id, last.seq))
    assert run_job(store, settings, record.job_id, tmp_path / "again") is JobState.SUCCEEDED
    rerun = jobstore.read_events(store, record.job_id)
    assert_ordered(rerun)
    assert rerun[-1].state == "succeeded" and rerun[-1].model_version_id == version.version_id
    assert len(list_model_versions(store, include_rejected=True)) == 1


def test_cancel_marker_stops_the_job_with_a_checkpoint(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    dataset: DatasetManifest,
    tmp_path: Path,
) -> None:
    record = submit(store, dataset, epochs=0, max_steps=5000, checkpoint_every_steps=1000)
    result: list[JobState] = []
    options = WorkerOptions(cancel_poll_s=0.1, train_event_interval_s=0.1)
    thread = threading.Thread(
        target=lambda: result.append(run_job(store, settings, record.job_id, tmp_path / "w", options))
    )
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        e.kind == "train" for e in jobstore.read_events(store, record.job_id)
    ):
        time.sleep(0.1)
    jobstore.request_cancel(store, record.job_id)
    thread.join(timeout=60)
    assert result == [JobState.CANCELLED]
    events = jobstore.read_events(store, record.job_id)
    assert_ordered(events)
    assert events[-1].state == "cancelled" and "checkpoint kept" in events[-1].message
    index = jobcheckpoints.read_checkpoint_index(store, record.job_id)
    assert index is not None and 0 < index.step < 5000 and index.step == events[-1].step
    assert jobstore.job_state(store, record.job_id) is JobState.CANCELLED
    assert list_model_versions(store, "ner-small", include_rejected=True) == []


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FOUNDRY_S3_ENDPOINT=str(settings.s3_endpoint),
        FOUNDRY_S3_ACCESS_KEY=settings.s3_access_key,
        FOUNDRY_S3_SECRET_KEY=settings.s3_secret_key.get_secret_value(),
        FOUNDRY_S3_BUCKET=settings.s3_bucket,
        FOUNDRY_S3_SECURE="false",
        FOUNDRY_HOME_DIR=str(settings.home_dir),
        OMP_NUM_THREADS="1",
    )
    return env


def test_a_killed_worker_is_restarted_and_continues_from_its_checkpoint(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    dataset: DatasetManifest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = submit(
        store,
        dataset,
        epochs=0,
        max_steps=40,
        checkpoint_every_steps=10,
        export=ExportOptions(int8=False),
    )
    command = [sys.executable, "-m", "foundry.training.worker", "--job-id", record.job_id]
    first = subprocess.Popen(
        command, env=worker_env(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    index = None
    while time.monotonic() < deadline and first.poll() is None:
        index = jobcheckpoints.read_checkpoint_index(store, record.job_id)
        if index is not None:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    assert index is not None and 0 < index.step < 40
    killed_at = jobstore.read_events(store, record.job_id)
    assert killed_at[-1].state == "running"

    # the replacement runs the same command in this process (saves a second torch import)
    for name, value in worker_env(settings).items():
        if name.startswith("FOUNDRY_"):
            monkeypatch.setenv(name, value)
    assert worker_main(["--job-id", record.job_id]) == 0
    events = jobstore.read_events(store, record.job_id)
    assert_ordered(events)
    assert events[-1].state == "succeeded" and events[-1].model_version_id
    resumed = [
        e for e in events[len(killed_at) :] if e.kind == "state" and e.message.startswith("resumed from")
    ]
    assert resumed and resumed[0].step >= index.step > 0
    later_train = [e.step for e in events[len(killed_at) :] if e.kind == "train"]
    assert later_train and min(later_train) > resumed[0].step
    assert get_model_version(store, "ner-small").version_id == events[-1].model_version_id


def test_a_dataset_of_another_task_fails_the_job_with_a_clear_message(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [
        Example(id=f"t{i}", split=Split.TRAIN, text=t, label="a" if i % 2 else "b")
        for i, t in enumerate(TEXTS)
    ]
    wrong = write_dataset_version(store, "ner-small", Task.TEXT_CLASSIFICATION, texts, label_set=["a", "b"])
    record = submit(store, wrong)
    assert run_job(store, settings, record.job_id, tmp_path / "w") is JobState.FAILED
    last = jobstore.read_events(store, record.job_id)[-1]
    assert last.state == "failed"
    assert "text_classification" in last.message and "token_classification" in last.message
    assert jobstore.job_state(store, record.job_id) is JobState.FAILED

    # the command: settings from FOUNDRY_*, exit status 1 for a failed job (it runs again: failed
    # jobs are retried by running the worker again) and for a job that does not exist
    for name, value in worker_env(settings).items():
        if name.startswith("FOUNDRY_"):
            monkeypatch.setenv(name, value)
    assert worker_main(["--job-id", record.job_id, "--work-dir", str(tmp_path / "m")]) == 1
    assert jobstore.read_events(store, record.job_id)[-1].state == "failed"
    assert worker_main(["--job-id", "no-such-job"]) == 1


def test_lora_job_then_a_job_from_that_model_version_reuses_the_token_cache(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    dataset: DatasetManifest,
    tmp_path: Path,
) -> None:
    lora = submit(
        store,
        dataset,
        method=TrainingMethod.LORA,
        lora=LoraConfig(r=4, alpha=8.0, dropout=0.0),
        freeze=Freeze(embeddings=True),
        learning_rate=1e-2,
        epochs=2,
    )
    assert run_job(store, settings, lora.job_id, tmp_path / "a") is JobState.SUCCEEDED
    first = get_model_version(store, "ner-small")
    assert first.job_id == lora.job_id and first.parity is not None and first.parity["passed"]
    weights = {a.path for a in first.artifacts}
    assert "hf/model.safetensors" in weights and not any("adapter" in p for p in weights)

    follow_up = submit(
        store,
        dataset,
        base_model=BaseModelRef("model_version", "ner-small", first.version_id),
        model_name="ner-small-2",
        epochs=0,
        max_steps=3,
    )
    assert run_job(store, settings, follow_up.job_id, tmp_path / "b") is JobState.SUCCEEDED
    events = jobstore.read_events(store, follow_up.job_id)
    assert any(e.message.startswith("tokenization cache hit for train") for e in events)
    second = get_model_version(store, "ner-small-2")
    assert second.base_model == {"kind": "model_version", "name": "ner-small", "version_id": first.version_id}
    assert second.version_id != first.version_id


def test_a_version_that_fails_fp32_parity_is_recorded_as_rejected(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    dataset: DatasetManifest,
    tmp_path: Path,
) -> None:
    strict = ExportOptions(int8=False, parity_tolerance=1e-30)
    record = submit(store, dataset, epochs=1, export=strict)
    assert run_job(store, settings, record.job_id, tmp_path / "w") is JobState.SUCCEEDED
    last = jobstore.read_events(store, record.job_id)[-1]
    assert last.state == "succeeded" and "rejected" in last.message and "parity failed" in last.message
    with pytest.raises(NotFoundError):
        get_model_version(store, "ner-small")  # latest promoted: there is none
    (rejected,) = list_model_versions(store, "ner-small", include_rejected=True)
    assert rejected.version_id == last.model_version_id
    assert rejected.status == "rejected" and "tolerance" in rejected.status_reason
    assert rejected.parity is not None and not rejected.parity["passed"]
    assert get_model_version(store, "ner-small", rejected.version_id).status == "rejected"
