"""A tiny Llama-style causal LM learns real conversations through the training loop: the
assistant-token loss falls (full fine-tuning with packing; LoRA with gradient checkpointing),
evaluation reports perplexity and exact match, and exact match is what greedy decoding gives."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import PreTrainedModel

from foundry.domain.chattemplates import resolve_template
from foundry.runtime.examples import Split, Task
from foundry.training.chat.encode import ChatEncoder
from foundry.training.chat.metrics import assistant_turns, exact_match, perplexity
from foundry.training.chat.model import load_causal_lm
from foundry.training.data.collate import Collator
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import label_map_for
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.evaluate import evaluate
from foundry.training.loop.events import EvalEvent, RecordingSink, StepEvent
from foundry.training.loop.loss import loss_terms_per_row
from foundry.training.loop.precision import resolve_precision
from foundry.training.loop.setup import LoopOptions
from foundry.training.loop.trainer import train
from foundry.training.models import LoraSettings, apply_lora, load_tokenizer, merge_for_export
from foundry.training.spec import (
    BaseModelRef,
    CausalLmOptions,
    DatasetRef,
    JobSpec,
    Precision,
    TrainingMethod,
)
from helpers.training_models import chat_examples, tiny_causal_lm

FIXTURE = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
EXAMPLES = chat_examples(FIXTURE)
#: every projection of the Llama blocks (attention and MLP)
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CPU = LoopOptions(dist=DistContext.single("cpu"))
LABELS = label_map_for(Task.CHAT, [])


class Data:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        tokenizer = load_tokenizer(folder)
        self.info = TokenizerInfo.of(tokenizer)
        encoder = ChatEncoder(resolve_template(tokenizer), self.info)
        self.train = encoder.encode([e for e in EXAMPLES if e.split is Split.TRAIN], 256)
        self.eval = encoder.encode([e for e in EXAMPLES if e.split is not Split.TRAIN], 256)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    texts = [m.content for e in EXAMPLES for m in e.messages or ()]
    return Data(tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm", texts, hidden_size=64, seed=1))


def spec(**overrides: object) -> JobSpec:
    values: dict[str, object] = {
        "task": Task.CHAT,
        "base_model": BaseModelRef("imported", "tiny-lm"),
        "dataset": DatasetRef("chat"),
        "learning_rate": 1e-2,
        "batch_size": 8,
        "epochs": 8,
        "warmup_ratio": 0.05,
        "max_seq_length": 256,
        "precision": Precision.FP32,
        "seed": 5,
        "causal_lm": CausalLmOptions(packing=True, exact_match_max_tokens=8),
    }
    values.update(overrides)
    return JobSpec(**values).resolved()  # type: ignore[arg-type]


def losses(sink: RecordingSink) -> list[float]:
    return [e.loss for e in sink.events if isinstance(e, StepEvent)]


def evals(sink: RecordingSink) -> list[dict[str, float]]:
    return [e.metrics for e in sink.events if isinstance(e, EvalEvent)]


@pytest.fixture(scope="module")
def trained(data: Data, tmp_path_factory: pytest.TempPathFactory) -> tuple[PreTrainedModel, RecordingSink]:
    model = load_causal_lm(data.folder, seed=5)
    sink = RecordingSink()
    job = spec()
    root = tmp_path_factory.mktemp("ckpt")
    result = train(
        job, model, data.train, data.eval, data.info, LABELS, sink=sink, checkpoint_dir=root, options=CPU
    )
    assert result.objective == "eval_loss" and result.objective_goal == "minimize"
    return model, sink


def test_assistant_token_loss_falls_with_packing(trained: tuple[PreTrainedModel, RecordingSink]) -> None:
    _, sink = trained
    curve = losses(sink)
    assert len(curve) >= 20
    first, last = float(np.mean(curve[:3])), float(np.mean(curve[-3:]))
    assert last < 0.5 * first, (first, last)
    metrics = evals(sink)
    assert {"eval_loss", "eval_perplexity", "eval_exact_match"} <= set(metrics[-1])
    assert metrics[-1]["eval_loss"] < metrics[0]["eval_loss"]
    assert metrics[-1]["eval_perplexity"] == pytest.approx(math.exp(metrics[-1]["eval_loss"]))


def test_exact_match_is_what_greedy_decoding_reproduces(
    data: Data, trained: tuple[PreTrainedModel, RecordingSink]
) -> None:
    model, _ = trained
    max_tokens = 8
    evaluation = evaluate(
        model,
        data.eval,
        Collator(data.eval, data.info),
        LABELS,
        policy=resolve_precision(Precision.FP32, torch.device("cpu")),
        dist=DistContext.single("cpu"),
        batch_size=8,
        exact_match_max_tokens=max_tokens,
    )
    starts, ends = assistant_turns(data.eval)
    hits = counted = 0
    model.train(False)
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        if end - start > max_tokens:
            continue
        row = int(np.searchsorted(data.eval.offsets, start, side="right") - 1)
        prompt = data.eval.input_ids[data.eval.offsets[row] : start]
        with torch.no_grad():
            generated = model.generate(  # type: ignore[operator]
                input_ids=torch.tensor([prompt.tolist()]),
                attention_mask=torch.ones((1, prompt.size), dtype=torch.int64),
                do_sample=False,
                max_new_tokens=end - start,
                pad_token_id=0,
            )[0, prompt.size :]
        counted += 1
        hits += int(generated.tolist() == data.eval.input_ids[start:end].tolist())
    assert counted == evaluation.details["exact_match_turns"] > 5
    assert hits == evaluation.details["exact_match_hits"] > 0
    assert evaluation.metrics["eval_exact_match"] == pytest.approx(hits / counted)


def test_loss_terms_per_row_are_the_collators_shifted_targets(data: Data) -> None:
    """The run's loss divisor counts what the loss sums: the assistant targets after the shift."""
    rows = np.arange(data.train.num_rows)
    counts = loss_terms_per_row(data.train)
    assert int(counts.sum()) == Collator(data.train, data.info)(rows).num_label_tokens
    packed = Collator(data.train, data.info, pack_length=256)(rows[:7])
    assert int(counts[:7].sum()) == packed.num_label_tokens > 0


def test_exact_match_counts_short_turns_and_misses(data: Data) -> None:
    split: EncodedSplit = data.eval
    perfect = np.zeros(split.input_ids.size, np.int64)
    perfect[:-1] = split.input_ids[1:]  # the argmax at t is token t + 1
    report = exact_match(split, perfect, max_tokens=1000)
    assert report["eval_exact_match"] == 1.0 and report["exact_match_turns"] == report["assistant_turns"]
    starts, _ = assistant_turns(split)
    broken = perfect.copy()
    broken[starts[0] - 1] += 1  # the first token of the first turn is wrong
    assert exact_match(split, broken, 1000)["exact_match_hits"] == report["assistant_turns"] - 1
    assert math.isnan(exact_match(split, perfect, max_tokens=0)["eval_exact_match"])
    assert perplexity(0.0) == 1.0 and perplexity(math.inf) == math.inf


def test_lora_with_gradient_checkpointing_learns_and_merges(
    data: Data, trained: tuple[PreTrainedModel, RecordingSink], tmp_path: Path
) -> None:
    base = copy.deepcopy(trained[0])  # a pretrained base: LoRA adapts it to unseen conversations
    base.activation_checkpointing_enable({"use_reentrant": False})
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    peft_model = apply_lora(
        base, Task.CHAT, LoraSettings(r=8, alpha=16.0, dropout=0.0, target_modules=ALL_LINEAR)
    )
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    job = spec(
        method=TrainingMethod.LORA,
        learning_rate=1e-2,
        batch_size=4,
        epochs=3,
        causal_lm=CausalLmOptions(gradient_checkpointing=True),
    )
    initial = eval_loss(peft_model, data.eval, data)
    sink = RecordingSink()
    train(
        job, peft_model, data.eval, None, data.info, LABELS, sink=sink, checkpoint_dir=tmp_path, options=CPU
    )
    assert eval_loss(peft_model, data.eval, data) < 0.95 * initial
    batch = Collator(data.eval, data.info)(np.arange(4))
    peft_model.eval()
    with torch.no_grad():
        adapted = peft_model(**batch.model_inputs()).logits
        merged = merge_for_export(peft_model)
        plain = merged(**batch.model_inputs()).logits
    assert type(merged).__name__ == "LlamaForCausalLM"
    assert float((adapted - plain).abs().max()) < 1e-4
    changed = [n for n, p in merged.named_parameters() if not torch.equal(p, before[n])]
    assert changed and all("proj" in n for n in changed)  # the adapted projections, merged in


def eval_loss(model: torch.nn.Module, split: EncodedSplit, data: Data) -> float:
    evaluation = evaluate(
        model,
        split,
        Collator(split, data.info),
        LABELS,
        policy=resolve_precision(Precision.FP32, torch.device("cpu")),
        dist=DistContext.single("cpu"),
        batch_size=8,
    )
    return evaluation.metrics["eval_loss"]
