"""A real chat model version for the inference tests, made once per session by the training
worker: a tiny Llama-style causal LM (built from a config) imported as a base model, the real
conversations of tests/fixtures/chat/wnut17_chat.jsonl as a chat dataset version, and `run_job`
training it for one epoch and exporting ONNX with a key/value cache (greedy parity checked),
exactly as the training service does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr

from foundry.domain.base_models import import_base_model
from foundry.domain.modelversions import ModelVersion, get_model_version
from foundry.inference.settings import InferenceSettings
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Example, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.s3server import SeaweedS3Server
from foundry.training import jobstore
from foundry.training.jobstore import JobRecord
from foundry.training.loop.events import JobState
from foundry.training.spec import BaseModelRef, CausalLmOptions, DatasetRef, JobSpec, Precision
from foundry.training.worker.run import run_job
from helpers.training_models import chat_examples, tiny_causal_lm

CHAT = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
EXAMPLES: list[Example] = chat_examples(CHAT)
NAME = "tiny-chat"


@dataclass(frozen=True)
class ChatModels:
    settings: InferenceSettings
    version: ModelVersion


@pytest.fixture(scope="session")
def chat_models(s3_server: SeaweedS3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatModels]:
    home = tmp_path_factory.mktemp("chat-home")
    settings = InferenceSettings(
        s3_endpoint=s3_server.endpoint,
        s3_access_key="foundry-test",
        s3_secret_key=SecretStr("foundry-test-secret-key"),
        s3_bucket=f"chat-{uuid.uuid4().hex[:12]}",
        s3_max_retries=2,
        s3_retry_backoff_s=0.05,
        home_dir=home,
        grpc_port=0,
        metrics_port=0,
        log_json=False,
    )
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    texts = [m.content for e in EXAMPLES for m in e.messages or ()]
    import_base_model(store, "tiny-lm", tiny_causal_lm(home / "tiny-lm", texts, seed=2), source="tests")
    dataset = write_dataset_version(store, "chat-small", Task.CHAT, EXAMPLES)
    spec = JobSpec(
        task=Task.CHAT,
        base_model=BaseModelRef("imported", "tiny-lm"),
        dataset=DatasetRef(dataset.name, dataset.version_id),
        model_name=NAME,
        learning_rate=1e-2,
        batch_size=8,
        epochs=1,
        max_seq_length=256,
        precision=Precision.FP32,
        seed=3,
        causal_lm=CausalLmOptions(packing=True, exact_match_max_tokens=8),
    ).resolved()
    record = jobstore.create_job(store, JobRecord(jobstore.new_job_id(), "", spec, NAME))
    state = run_job(store, settings, record.job_id, home / "work")
    events = jobstore.read_events(store, record.job_id)
    assert state is JobState.SUCCEEDED, [e.message for e in events if e.kind in ("state", "log")]
    yield ChatModels(settings, get_model_version(store, NAME))
