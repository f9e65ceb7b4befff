"""The worker under torchrun: two real processes on the CPU (gloo), one tiny BERT, one S3 server.

Only rank 0 may write to the object store (events, state, checkpoints, the model version); the
other rank trains and takes part in the collectives. A cancel seen by rank 0 stops both ranks at
the same step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from foundry.domain.base_models import import_base_model
from foundry.domain.modelversions import list_model_versions
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Split, Task
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobcheckpoints, jobstore
from foundry.training.data import TokenizerInfo, label_map_for, load_or_encode
from foundry.training.data.batching import train_batches
from foundry.training.data.cache import CACHE_PREFIX
from foundry.training.jobstore import JobRecord, ProgressEvent
from foundry.training.loop.events import JobState
from foundry.training.models import load_tokenizer
from foundry.training.spec import BaseModelRef, DatasetRef, ExportOptions, JobSpec, Precision
from helpers.training_models import synthetic_ner_examples, tiny_bert, vocab_from_texts

EXAMPLES = synthetic_ner_examples(
    60,
    people=["alice", "bob", "carol", "dave"],
    places=[["paris"], ["new", "york"], ["oslo"]],
    templates=[["{P}", "lives", "in", "{L}"], ["we", "met", "{P}", "in", "{L}", "today"]],
)
TRAIN_ROWS = sum(1 for e in EXAMPLES if e.split.value == "train")
BATCH_SIZE = 8
WORLD_SIZE = 2


@pytest.fixture
def dataset(store: ObjectStore, tmp_path: Path) -> DatasetManifest:
    texts = [" ".join(e.tokens or ()) for e in EXAMPLES]
    folder = tiny_bert(tmp_path / "tiny", vocab_from_texts(texts))
    import_base_model(store, "tiny-bert", folder, source="tests")
    return write_dataset_version(
        store, "ner-ddp", Task.TOKEN_CLASSIFICATION, EXAMPLES, label_set=["LOC", "PER"]
    )


def submit(store: ObjectStore, dataset: DatasetManifest, **overrides: object) -> JobRecord:
    values: dict[str, object] = {
        "task": Task.TOKEN_CLASSIFICATION,
        "base_model": BaseModelRef("imported", "tiny-bert"),
        "dataset": DatasetRef(dataset.name, dataset.version_id),
        "learning_rate": 5e-3,
        "batch_size": BATCH_SIZE,
        "precision": Precision.FP32,
        "seed": 7,
        "export": ExportOptions(onnx=False, int8=False),  # rank 0 exports as ever; not what is tested here
    }
    values.update(overrides)
    spec = JobSpec(**values).resolved()  # type: ignore[arg-type]
    return jobstore.create_job(store, JobRecord(jobstore.new_job_id(), "ddp", spec, spec.model_name))


def torchrun(settings: Settings, job_id: str, *extra: str) -> subprocess.Popen[str]:
    """`torchrun --standalone --nproc-per-node 2 -m foundry.training.worker --job-id ...`."""
    env = dict(os.environ)
    env.update(
        FOUNDRY_S3_ENDPOINT=str(settings.s3_endpoint),
        FOUNDRY_S3_ACCESS_KEY=settings.s3_access_key,
        FOUNDRY_S3_SECRET_KEY=settings.s3_secret_key.get_secret_value(),
        FOUNDRY_S3_BUCKET=settings.s3_bucket,
        FOUNDRY_S3_SECURE="false",
        FOUNDRY_HOME_DIR=str(settings.home_dir),
        OMP_NUM_THREADS="1",
        CUDA_VISIBLE_DEVICES="",  # gloo on the CPU even where a GPU is present
    )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={WORLD_SIZE}",
        "-m",
        "foundry.training.worker",
        "--job-id",
        job_id,
        *extra,
    ]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-4000:]
    return output


def of_state(events: list[ProgressEvent], state: str, prefix: str = "") -> list[ProgressEvent]:
    return [e for e in events if e.kind == "state" and e.state == state and e.message.startswith(prefix)]


def assert_one_stream(events: list[ProgressEvent]) -> None:
    """One writer's stream: seqs 1..n, each step's train and checkpoint event stored once."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(of_state(events, "running", "worker started")) == 1
    assert len(of_state(events, "running", "training started")) == 1
    for kind in ("train", "checkpoint"):
        steps = [e.step for e in events if e.kind == kind]
        assert steps == sorted(set(steps)), (kind, steps)


def assert_checkpoint_of_both_ranks(store: ObjectStore, job_id: str, step: int) -> None:
    index = jobcheckpoints.read_checkpoint_index(store, job_id)
    assert index is not None and index.step == step
    files = {entry["path"] for entry in index.files}
    assert {f"rng/rank-{rank}.pt" for rank in range(WORLD_SIZE)} <= files, files


def test_two_ranks_train_one_job_and_only_rank_0_writes(
    store: ObjectStore, settings: Settings, dataset: DatasetManifest
) -> None:
    record = submit(store, dataset, epochs=2, checkpoint_every_steps=2)
    output = finish(torchrun(settings, record.job_id))

    events = jobstore.read_events(store, record.job_id)
    assert_one_stream(events)
    assert jobstore.job_state(store, record.job_id) is JobState.SUCCEEDED
    assert [e.kind for e in of_state(events, "succeeded")] == ["state"] and events[-1].state == "succeeded"
    assert len(of_state(events, "failed")) == 0
    # the data was split between the ranks: half the steps of one process, per epoch
    per_rank = train_batches(np.ones(TRAIN_ROWS), BATCH_SIZE, seed=7, epoch=0, world_size=WORLD_SIZE)
    assert len(per_rank) < -(-TRAIN_ROWS // BATCH_SIZE)
    assert events[-1].total_steps == 2 * len(per_rank)
    cache_logs = [e for e in events if e.kind == "log" and e.message.startswith("tokenization cache")]
    assert len(cache_logs) == 3 and all("miss" in e.message for e in cache_logs)
    checkpoint_steps = [e.step for e in events if e.kind == "checkpoint"]
    assert checkpoint_steps[-1] == events[-1].total_steps
    assert_checkpoint_of_both_ranks(store, record.job_id, events[-1].total_steps)
    (version,) = list_model_versions(store, "ner-ddp", include_rejected=True)
    assert version.job_id == record.job_id and version.version_id == events[-1].model_version_id
    assert version.status == "promoted"
    # rank 1 went through the job too, and kept its events to itself
    assert f"job {record.job_id} rank 1 (not stored): state" in output


def test_a_cancel_seen_by_rank_0_stops_both_ranks_at_one_step(
    store: ObjectStore, settings: Settings, dataset: DatasetManifest
) -> None:
    record = submit(store, dataset, epochs=0, max_steps=5000, checkpoint_every_steps=1000)
    process = torchrun(settings, record.job_id, "--cancel-poll-s", "0.2")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if any(e.kind == "train" for e in jobstore.read_events(store, record.job_id)):
            break
        time.sleep(0.2)
    jobstore.request_cancel(store, record.job_id)
    output = finish(process)

    events = jobstore.read_events(store, record.job_id)
    assert_one_stream(events)
    (cancelled,) = of_state(events, "cancelled")
    assert events[-1] == cancelled and "checkpoint kept" in cancelled.message
    assert 0 < cancelled.step < 5000
    assert_checkpoint_of_both_ranks(store, record.job_id, cancelled.step)
    assert list_model_versions(store, "ner-ddp", include_rejected=True) == []
    assert f"job {record.job_id} rank 1 (not stored): state" in output


def test_a_rank_other_than_0_encodes_a_cache_miss_without_storing_it(
    store: ObjectStore, dataset: DatasetManifest, tmp_path: Path
) -> None:
    tokenizer = TokenizerInfo.of(load_tokenizer(tmp_path / "tiny"))
    label_map = label_map_for(Task.TOKEN_CLASSIFICATION, dataset.label_set)
    follower, hit = load_or_encode(store, dataset, Split.TRAIN, tokenizer, 32, label_map, store_miss=False)
    assert not hit and follower.num_examples == TRAIN_ROWS
    assert store.keys(CACHE_PREFIX) == []
    _, hit = load_or_encode(store, dataset, Split.TRAIN, tokenizer, 32, label_map)
    assert not hit and len(store.keys(CACHE_PREFIX)) == 1
    again, hit = load_or_encode(store, dataset, Split.TRAIN, tokenizer, 32, label_map, store_miss=False)
    assert hit and np.array_equal(again.input_ids, follower.input_ids)
