"""A chat (TASK_CHAT) job through the worker against a real S3 server: real conversations and a
tiny Llama-style base model imported into the base-model store, to a model version with the
encoder tasks' events and artifacts, a chat checkpoint (template, generation config) and an ONNX
export whose greedy decoding equals PyTorch's; the token cache is reused by a second job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from foundry.domain.base_models import BaseModelManifest, import_base_model
from foundry.domain.modelversions import download_artifacts, get_model_version
from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.examples import Task
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.jobstore import JobRecord
from foundry.training.loop.events import JobState
from foundry.training.spec import (
    BaseModelRef,
    CausalLmOptions,
    DatasetRef,
    ExportOptions,
    JobSpec,
    LoraConfig,
    Precision,
    TrainingMethod,
)
from foundry.training.worker.run import run_job
from helpers.training_models import chat_examples, tiny_causal_lm

FIXTURE = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
EXAMPLES = chat_examples(FIXTURE)


@pytest.fixture
def base_model(store: ObjectStore, tmp_path: Path) -> BaseModelManifest:
    texts = [m.content for e in EXAMPLES for m in e.messages or ()]
    folder = tiny_causal_lm(tmp_path / "tiny-lm", texts, seed=2)
    manifest = import_base_model(store, "tiny-lm", folder, source="tests")
    assert manifest.tasks == [Task.CHAT]
    return manifest


@pytest.fixture
def dataset(store: ObjectStore) -> DatasetManifest:
    return write_dataset_version(store, "chat-small", Task.CHAT, EXAMPLES)


def submit(store: ObjectStore, dataset: DatasetManifest, **overrides: object) -> JobRecord:
    values: dict[str, object] = {
        "task": Task.CHAT,
        "base_model": BaseModelRef("imported", "tiny-lm"),
        "dataset": DatasetRef(dataset.name, dataset.version_id),
        "learning_rate": 1e-2,
        "batch_size": 8,
        "epochs": 2,
        "max_seq_length": 256,
        "precision": Precision.FP32,
        "seed": 3,
        "causal_lm": CausalLmOptions(packing=True, exact_match_max_tokens=8),
    }
    values.update(overrides)
    spec = JobSpec(**values).resolved()  # type: ignore[arg-type]
    return jobstore.create_job(store, JobRecord(jobstore.new_job_id(), "", spec, spec.model_name))


def test_a_chat_job_ends_in_a_promoted_version_with_a_chat_checkpoint_and_onnx(
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
    kinds = {e.kind for e in events}
    assert {"train", "eval", "checkpoint", "export", "log"} <= kinds
    assert any("chat template tokenizer" in e.message for e in events)
    assert any("greedy parity passed" in e.message for e in events), [e.message for e in events]
    last = events[-1]
    assert last.state == "succeeded" and last.model_version_id

    version = get_model_version(store, "chat-small")
    assert version.version_id == last.model_version_id and version.status == "promoted"
    assert version.task == "chat" and version.id_to_label == []
    assert version.parity is not None and version.parity["passed"] and version.parity["matches"]
    assert version.parity["gate"] == "greedy_token_equality" and version.parity["prompts"] > 0
    validation = version.metrics["splits"]["validation"]
    assert {"eval_loss", "eval_perplexity"} <= set(validation)
    assert version.metrics["training"]["objective"] == "eval_loss"
    paths = {a.path for a in version.artifacts}
    assert {
        "hf/model.safetensors",
        "hf/config.json",
        "hf/generation_config.json",
        "hf/tokenizer.json",
        "hf/tokenizer_config.json",
        "onnx/model.onnx",
        "metrics.json",
        "curves.png",
        "parity.json",
    } <= paths

    hf = tmp_path / "hf"
    download_artifacts(store, version, hf, under="hf/")
    folder = hf / "hf" if (hf / "hf").is_dir() else hf
    model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    messages = [{"role": "user", "content": "How many is that?"}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert isinstance(prompt, str) and prompt.endswith("<|im_start|>assistant\n")
    generation = json.loads((folder / "generation_config.json").read_text())
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in generation["eos_token_id"]
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_a_lora_chat_job_reuses_the_token_cache_and_merges(
    store: ObjectStore,
    settings: Settings,
    base_model: BaseModelManifest,
    dataset: DatasetManifest,
    tmp_path: Path,
) -> None:
    first = submit(
        store, dataset, export=ExportOptions(onnx=False, int8=False), epochs=1, model_name="chat-a"
    )
    assert run_job(store, settings, first.job_id, tmp_path / "a") is JobState.SUCCEEDED
    lora = submit(
        store,
        dataset,
        method=TrainingMethod.LORA,
        lora=LoraConfig(r=4, alpha=8.0),
        export=ExportOptions(onnx=False, int8=False),
        epochs=1,
        model_name="chat-b",
        causal_lm=CausalLmOptions(packing=True, gradient_checkpointing=True, exact_match_max_tokens=8),
    )
    assert run_job(store, settings, lora.job_id, tmp_path / "b") is JobState.SUCCEEDED
    events = jobstore.read_events(store, lora.job_id)
    assert any("tokenization cache hit" in e.message for e in events)
    version = get_model_version(store, "chat-b")
    assert "hf/model.safetensors" in {a.path for a in version.artifacts}
    assert not any(a.path.startswith("hf/adapter") for a in version.artifacts)  # merged
    other = submit(
        store,
        dataset,
        export=ExportOptions(onnx=False, int8=False),
        epochs=1,
        model_name="chat-c",
        causal_lm=CausalLmOptions(chat_template_name="zephyr"),
    )
    assert run_job(store, settings, other.job_id, tmp_path / "c") is JobState.SUCCEEDED
    messages = [e.message for e in jobstore.read_events(store, other.job_id)]
    assert any("tokenization cache miss" in m for m in messages)  # another template, another key
