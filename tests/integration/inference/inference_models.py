"""Real model versions for the inference tests, made once per session by the training worker.

A tiny BERT (built from a config) is imported as a base model, a token-classification and a
text-classification dataset version are written, and `run_job` trains, exports (ONNX fp32 and
int8, parity checked) and stores each model version exactly as the training service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from foundry.domain.base_models import import_base_model
from foundry.domain.modelversions import ModelVersion, list_model_versions
from foundry.inference.settings import InferenceSettings
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.jobstore import JobRecord
from foundry.training.loop.events import JobState
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec, Precision
from foundry.training.worker.run import run_job
from helpers.training_models import synthetic_ner_examples, tiny_bert, vocab_from_texts

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PLACES = [["paris"], ["berlin"], ["rome"], ["new", "york"], ["oslo"], ["北京"], ["san", "diego"]]
TEMPLATES = [
    ["{P}", "lives", "in", "{L}"],
    ["{P}", "flew", "to", "{L}", "yesterday", "😀"],
    ["we", "met", "{P}", "in", "{L}"],
    ["{L}", "is", "where", "{P}", "works"],
]
REVIEWS = [
    ("great movie loved it", "pos"),
    ("awful film hated it", "neg"),
    ("loved the great cast", "pos"),
    ("hated the awful plot", "neg"),
]
EXTRA_WORDS = ["hello", "world", "the", "is", "a", "very", "long", "text", "北", "京", "😀", "🎉"]


@dataclass(frozen=True)
class Models:
    settings: InferenceSettings
    ner: ModelVersion
    cls: ModelVersion


def ner_examples() -> list[Example]:
    return synthetic_ner_examples(72, people=PEOPLE, places=PLACES, templates=TEMPLATES, place_stride=3)


def cls_examples() -> list[Example]:
    splits = [Split.TRAIN, Split.TRAIN, Split.TRAIN, Split.VALIDATION, Split.TEST]
    return [
        Example(id=f"r-{i}", split=splits[i % 5], text=text, label=label)
        for i, (text, label) in enumerate(REVIEWS * 10)
    ]


def train(
    store: ObjectStore,
    settings: Settings,
    work: Path,
    task: Task,
    dataset: str,
    epochs: int,
    normalization: dict[str, bool] | None = None,
) -> ModelVersion:
    manifest = store_dataset(store, task, dataset, normalization)
    spec = JobSpec(
        task=task,
        base_model=BaseModelRef("imported", "tiny-bert"),
        dataset=DatasetRef(manifest.name, manifest.version_id),
        learning_rate=5e-3,
        batch_size=8,
        epochs=epochs,
        precision=Precision.FP32,
        seed=7,
        max_seq_length=32,
    ).resolved()
    record = jobstore.create_job(store, JobRecord(jobstore.new_job_id(), f"req-{dataset}", spec, dataset))
    assert run_job(store, settings, record.job_id, work / record.job_id) is JobState.SUCCEEDED
    (version,) = list_model_versions(store, dataset)
    return version


def store_dataset(store: ObjectStore, task: Task, name: str, normalization: dict[str, bool] | None = None):  # type: ignore[no-untyped-def]
    """The dataset version of `task`; `normalization` is recorded as how its text was normalized
    (its examples are stable under NFC and NFKC alike)."""
    if task is Task.TOKEN_CLASSIFICATION:
        return write_dataset_version(
            store, name, task, ner_examples(), label_set=["LOC", "PER"], normalization=normalization
        )
    return write_dataset_version(
        store, name, task, cls_examples(), label_set=["neg", "pos"], normalization=normalization
    )


@pytest.fixture(scope="session")
def models(s3_server: SeaweedS3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Models]:
    home = tmp_path_factory.mktemp("inference-home")
    settings = InferenceSettings(
        s3_endpoint=s3_server.endpoint,
        s3_access_key="foundry-test",
        s3_secret_key=SecretStr("foundry-test-secret-key"),
        s3_bucket=f"infer-{uuid.uuid4().hex[:12]}",
        s3_max_retries=2,
        s3_retry_backoff_s=0.05,
        home_dir=home,
        grpc_port=0,
        metrics_port=0,
        log_json=False,
    )
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    texts = [" ".join(e.tokens or ()) for e in ner_examples()] + [t for t, _ in REVIEWS] + EXTRA_WORDS
    folder = tiny_bert(home / "tiny", vocab_from_texts(texts), max_position_embeddings=64)
    import_base_model(store, "tiny-bert", folder, source="tests")
    work = home / "work"
    yield Models(
        settings,
        ner=train(store, settings, work, Task.TOKEN_CLASSIFICATION, "tiny-ner", epochs=4),
        cls=train(store, settings, work, Task.TEXT_CLASSIFICATION, "tiny-cls", epochs=2),
    )
