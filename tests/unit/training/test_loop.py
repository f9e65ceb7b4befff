"""The training loop: learning, loss normalization under accumulation, exact resume, cancel,
early stopping, best checkpoint, LoRA, DDP (gloo, world size 2), schedules, precision, curves.

The fixture is a synthetic, easy NER task (templates filled with names, places and
organisations; some entity words are missing from the tiny vocabulary, so they split into
several sub-tokens) and a tiny BERT built from a config; every training run takes about a second
on one CPU thread.
"""

from __future__ import annotations

import ast
import math
import os
import random
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.multiprocessing.spawn import spawn
from transformers import PreTrainedModel

from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Example, Task
from foundry.training.data import EncodedSplit, LabelMap, TokenizerInfo, encode_split, label_map_for
from foundry.training.data.batching import train_batches
from foundry.training.data.collate import Collator
from foundry.training.loop.checkpoints import (
    INFO_FILE,
    STATE_FILE,
    WEIGHTS_FILE,
    latest_checkpoint,
    list_checkpoints,
    load_weights,
    read_info,
)
from foundry.training.loop.curves import plot_curves
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.evaluate import evaluate
from foundry.training.loop.events import (
    CheckpointEvent,
    EvalEvent,
    FanoutSink,
    JobState,
    LoggingSink,
    RecordingSink,
    StateEvent,
    StepEvent,
    StopReason,
)
from foundry.training.loop.loss import backward_window, loss_sum, loss_terms_per_row, step_divisor
from foundry.training.loop.optim import build_optimizer, lr_factor, no_decay_names, parameter_groups
from foundry.training.loop.precision import resolve_precision
from foundry.training.loop.results import EvalRecord, TrainHistory, TrainResult
from foundry.training.loop.selection import Objective
from foundry.training.loop.setup import LoopOptions
from foundry.training.loop.state import LoopState
from foundry.training.loop.trainer import train
from foundry.training.models import LoraSettings, apply_lora, freeze, load_task_model, load_tokenizer
from foundry.training.spec import (
    BaseModelRef,
    DatasetRef,
    EarlyStopping,
    JobSpec,
    LrScheduler,
    MetricGoal,
    MetricObjective,
    Precision,
)
from helpers.training_models import tiny_bert

PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank smith", "grace hopper", "ivan"]
PLACES = ["paris", "berlin", "london", "new york", "san francisco", "tokyo"]
ORGS = ["acme", "globex", "initech", "umbrella corp"]
TEMPLATES = [
    "{PER} flew to {LOC} on monday",
    "{PER} works at {ORG} in {LOC}",
    "yesterday {PER} met {PER} near {LOC}",
    "the weather in {LOC} is nice today",
    "{ORG} hired {PER}",
    "nothing happened today",
    "we saw {PER} at the {ORG} office",
]
#: words left out of the vocabulary: they become several sub-tokens
SPLIT_WORDS = {"smith", "hopper", "corp"}
NUM_SENTENCES = 240
ENTITIES = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}


def ner_examples(n: int = NUM_SENTENCES, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        words: list[str] = []
        tags: list[str] = []
        for part in rng.choice(TEMPLATES).split():
            if part.startswith("{"):
                kind = part.strip("{}")
                entity = rng.choice(ENTITIES[kind]).split()
                words += entity
                tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
            else:
                words.append(part)
                tags.append("O")
        examples.append(Example(id=f"s{i}", tokens=words, tags=tags))
    return examples


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads; one thread also makes runs bit-reproducible."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Fixture:
    """The tiny BERT base folder, its tokenizer, the label map and the encoded split."""

    def __init__(self, root: Path) -> None:
        examples = ner_examples()
        vocab = sorted({w for e in examples for w in e.tokens or []} - SPLIT_WORDS)
        self.folder = tiny_bert(root / "base", vocab)
        self.label_map: LabelMap = label_map_for(Task.TOKEN_CLASSIFICATION, list(ENTITIES))
        self.info = TokenizerInfo.of(load_tokenizer(self.folder))
        self.split: EncodedSplit = encode_split(examples, self.info, self.label_map, 64)

    def model(self, *, dropout: bool = True) -> PreTrainedModel:
        model = load_task_model(self.folder, Task.TOKEN_CLASSIFICATION, self.label_map.labels, seed=0)
        if not dropout:
            for module in model.modules():
                if isinstance(module, nn.Dropout):
                    module.p = 0.0
        return model


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return Fixture(tmp_path_factory.mktemp("loop"))


def make_spec(**overrides: Any) -> JobSpec:
    values: dict[str, Any] = {
        "task": Task.TOKEN_CLASSIFICATION,
        "base_model": BaseModelRef("imported", "tiny"),
        "dataset": DatasetRef("synthetic-ner"),
        "learning_rate": 5e-3,
        "batch_size": 16,
        "epochs": 8,
        "warmup_ratio": 0.1,
    }
    values.update(overrides)
    return JobSpec(**values)


def run(
    fx: Fixture,
    spec: JobSpec,
    root: Path,
    *,
    model: nn.Module | None = None,
    sink: RecordingSink | None = None,
    eval_split: EncodedSplit | str | None = "train",
    **kwargs: Any,
) -> tuple[TrainResult, nn.Module, RecordingSink]:
    model = model if model is not None else fx.model()
    sink = sink or RecordingSink()
    evaluation = fx.split if eval_split == "train" else eval_split
    assert not isinstance(evaluation, str)
    options = kwargs.pop("options", LoopOptions(dist=DistContext.single("cpu")))
    result = train(
        spec,
        model,
        fx.split,
        evaluation,
        fx.info,
        fx.label_map,
        sink=sink,
        checkpoint_dir=root,
        options=options,
        **kwargs,
    )
    return result, model, sink


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


# --- learning ----------------------------------------------------------------------------------------


def test_training_learns_the_task_and_reports_everything(fx: Fixture, tmp_path: Path) -> None:
    recording = RecordingSink()
    result, _, _ = run(fx, make_spec(), tmp_path, sink=recording)

    assert result.state is JobState.SUCCEEDED and result.stop_reason is StopReason.COMPLETED
    assert result.steps == result.total_steps == 8 * math.ceil(NUM_SENTENCES / 16)
    assert result.final_metrics is not None and result.final_metrics["eval_f1"] >= 0.9
    assert result.final_details is not None and set(result.final_details["per_type"]) == set(ENTITIES)
    losses = result.history.loss
    assert np.mean(losses[-10:]) < 0.2 * np.mean(losses[:5])
    # every epoch has one evaluation, the throughput counts real tokens only
    assert [r.step for r in result.history.evals] == [15 * e for e in range(1, 9)]
    assert result.train_tokens == 8 * fx.split.input_ids.size
    assert result.train_samples == 8 * fx.split.num_rows
    assert result.tokens_per_s > 0 and result.samples_per_s > 0

    states = recording.of(StateEvent)
    assert [s.state for s in states] == [JobState.RUNNING]
    steps = recording.of(StepEvent)
    assert [s.step for s in steps] == list(range(1, result.steps + 1))
    assert all(s.tokens_per_s > 0 and s.learning_rate >= 0 for s in steps)
    evals = recording.of(EvalEvent)
    assert len(evals) == 8 and evals[0].objective == "eval_f1"
    assert recording.of(CheckpointEvent)[-1].path == result.last_checkpoint
    assert recording.messages[-1].startswith("training completed")
    # the warmup peaks at the spec's learning rate, the linear decay ends near zero
    assert max(result.history.learning_rate) == pytest.approx(5e-3)
    assert result.history.learning_rate[-1] < 5e-3 / 50


def test_text_classification_trains(tmp_path: Path) -> None:
    good = ["great movie", "loved it", "wonderful acting", "a great film", "truly wonderful"]
    bad = ["terrible movie", "hated it", "awful acting", "a terrible film", "truly awful"]
    examples = [
        Example(id=f"t{i}", text=f"{random.Random(i).choice(pool)} !", label=label)
        for i in range(120)
        for label, pool in [("pos" if i % 2 else "neg", good if i % 2 else bad)]
    ]
    vocab = sorted({w for e in examples for w in (e.text or "").split()})
    folder = tiny_bert(tmp_path / "base", vocab)
    label_map = label_map_for(Task.TEXT_CLASSIFICATION, ["neg", "pos"])
    info = TokenizerInfo.of(load_tokenizer(folder))
    split = encode_split(examples, info, label_map, 32)
    model = load_task_model(folder, Task.TEXT_CLASSIFICATION, label_map.labels, seed=0)
    spec = make_spec(task=Task.TEXT_CLASSIFICATION, epochs=6)
    result = train(
        spec,
        model,
        split,
        split,
        info,
        label_map,
        sink=FanoutSink(RecordingSink(), LoggingSink()),
        checkpoint_dir=tmp_path / "ck",
        options=LoopOptions(dist=DistContext.single("cpu")),
    )
    assert result.objective == "eval_macro_f1"
    assert result.final_metrics is not None and result.final_metrics["eval_accuracy"] >= 0.9
    assert result.final_details is not None
    assert result.final_details["confusion_matrix"]["labels"] == ["neg", "pos"]


# --- the loss under gradient accumulation ------------------------------------------------------------


def grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_accumulation_gives_the_large_batch_gradient(fx: Fixture) -> None:
    model = fx.model()
    model.train(False)  # no dropout: the same function in both passes
    policy = resolve_precision(Precision.FP32, torch.device("cpu"))
    collator = Collator(fx.split, fx.info)
    lengths = fx.split.lengths
    # three micro-batches of different widths and label-token counts
    order = np.argsort(lengths, kind="stable")
    chunks = [order[:8], order[100:105], order[-3:]]
    micro = [collator(rows) for rows in chunks]
    assert len({b.input_ids.shape[1] for b in micro}) == 3
    assert len({b.num_label_tokens for b in micro}) == 3, [b.num_label_tokens for b in micro]
    total = sum(b.num_label_tokens for b in micro)
    task = Task.TOKEN_CLASSIFICATION

    backward_window(model, micro, task=task, policy=policy, divisor=total)
    accumulated = grads(model)
    model.zero_grad(set_to_none=True)
    one = collator(np.concatenate(chunks))
    backward_window(model, [one], task=task, policy=policy, divisor=total)
    large = grads(model)
    assert max_difference(accumulated, large) < 1e-6

    # the common bug (a mean per micro-batch, averaged) gives another gradient
    model.zero_grad(set_to_none=True)
    for batch in micro:
        logits = model(**batch.model_inputs()).logits
        (loss_sum(logits, batch.labels, task) / batch.num_label_tokens / len(micro)).backward()  # type: ignore[no-untyped-call]
    assert max_difference(grads(model), large) > 1e-4


def epoch_gradient(
    model: nn.Module,
    fx: Fixture,
    batches: list[np.ndarray],
    accumulation: int,
    *,
    per_step_mean: bool = False,
) -> dict[str, torch.Tensor]:
    """The gradients of every optimizer step of one epoch at fixed weights, summed, over the number
    of steps: with equal token weights, the gradient of the split's token mean for every plan.
    `per_step_mean`: each step a token mean of its own (the loss before equal weighting)."""
    policy = resolve_precision(Precision.FP32, torch.device("cpu"))
    collator = Collator(fx.split, fx.info)
    windows = [batches[i : i + accumulation] for i in range(0, len(batches), accumulation)]
    divisor = step_divisor(fx.split, len(windows))
    model.zero_grad(set_to_none=True)
    for window in windows:  # no zero_grad between steps: the epoch's gradients add up
        micro = [collator(rows) for rows in window]
        own = float(sum(b.num_label_tokens for b in micro))
        backward_window(
            model,
            micro,
            task=Task.TOKEN_CLASSIFICATION,
            policy=policy,
            divisor=own if per_step_mean else divisor,
        )
    return {name: g / len(windows) for name, g in grads(model).items()}


def test_every_token_weighs_the_same_under_length_grouping(fx: Fixture) -> None:
    """Length-grouped, shuffled, or cut into micro-batches of accumulation: one epoch's summed step
    gradients (fixed weights) are the same, that of the whole split's token mean; and one step's
    gradient does not depend on how its rows are ordered and cut."""
    model = fx.model(dropout=False)
    model.train(False)
    lengths = fx.split.lengths
    rows = np.arange(fx.split.num_rows)
    counts = loss_terms_per_row(fx.split)
    assert int(counts[rows[:40]].sum()) == Collator(fx.split, fx.info)(rows[:40]).num_label_tokens
    whole = epoch_gradient(model, fx, [rows], 1)
    plans = {
        "grouped": (train_batches(lengths, 16, seed=1, epoch=0), 1),
        "shuffled": (train_batches(lengths, 16, seed=2, epoch=0, group_by_length=False), 1),
        "grouped, 5 x 3 accumulated": (train_batches(lengths, 5, seed=3, epoch=0), 3),
    }
    for name, (batches, accumulation) in plans.items():
        assert max_difference(epoch_gradient(model, fx, batches, accumulation), whole) < 1e-6, name
    # the per-step token mean weighs a token of a short-row step more: another gradient
    grouped, _ = plans["grouped"]
    tokens_per_step = [int(counts[b].sum()) for b in grouped]
    assert max(tokens_per_step) > 2 * min(tokens_per_step), tokens_per_step
    assert max_difference(epoch_gradient(model, fx, grouped, 1, per_step_mean=True), whole) > 1e-4

    # one step: its rows in one batch, or shuffled into micro-batches of different widths
    policy = resolve_precision(Precision.FP32, torch.device("cpu"))
    collator = Collator(fx.split, fx.info)
    step_rows = np.concatenate(grouped[:3])
    divisor = step_divisor(fx.split, len(grouped))
    task = Task.TOKEN_CLASSIFICATION
    model.zero_grad(set_to_none=True)
    backward_window(model, [collator(step_rows)], task=task, policy=policy, divisor=divisor)
    one_batch = grads(model)
    shuffled = np.random.default_rng(0).permutation(step_rows)
    model.zero_grad(set_to_none=True)
    micro = [collator(part) for part in np.split(shuffled, [5, 20])]
    backward_window(model, micro, task=task, policy=policy, divisor=divisor)
    assert max_difference(grads(model), one_batch) < 1e-5


def test_multilabel_loss_is_the_per_example_mean_bce() -> None:
    logits = torch.randn(3, 4)
    labels = torch.tensor([[1.0, 0, 0, 1], [0, 0, 0, 0], [-100.0] * 4])
    expected = nn.functional.binary_cross_entropy_with_logits(logits[:2], labels[:2]) * 2
    assert float(loss_sum(logits, labels, Task.MULTILABEL_CLASSIFICATION)) == pytest.approx(float(expected))


# --- checkpoints, resume, cancel ---------------------------------------------------------------------


class StopAfter:
    """`should_stop` that says yes once `steps` steps are done (it is asked before each step)."""

    def __init__(self, steps: int) -> None:
        self.calls, self.steps = 0, steps

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


RESUME_SPEC = {"epochs": 3, "gradient_accumulation_steps": 2, "eval_every_steps": 5}


def test_exact_resume_gives_the_uninterrupted_weights(fx: Fixture, tmp_path: Path) -> None:
    spec = make_spec(**RESUME_SPEC)  # 15 micro-batches per epoch: 8 steps, the last of one
    whole, whole_model, _ = run(fx, spec, tmp_path / "whole")
    assert whole.steps == 24

    first, _, _ = run(fx, spec, tmp_path / "parts", should_stop=StopAfter(11))
    assert first.state is JobState.CANCELLED and first.steps == 11
    assert first.last_checkpoint is not None
    torch.manual_seed(12345)  # a new worker process: the random state is not the one left behind
    resumed, resumed_model, sink = run(fx, spec, tmp_path / "parts", resume_from=first.last_checkpoint)

    assert resumed.state is JobState.SUCCEEDED and resumed.steps == 24
    assert max_difference(weights(whole_model), weights(resumed_model)) < 1e-6
    assert resumed.history.loss == pytest.approx(whole.history.loss, abs=1e-6)
    assert resumed.history.step == whole.history.step
    assert [r.step for r in resumed.history.evals] == [r.step for r in whole.history.evals]
    assert resumed.final_metrics == pytest.approx(whole.final_metrics, abs=1e-6)
    assert resumed.best_step == whole.best_step
    assert sink.of(StateEvent)[0].message.startswith("resumed from step-00000011 at step 11")
    assert [s.step for s in sink.of(StepEvent)] == list(range(12, 25))


def test_checkpoint_files_are_safe_formats(fx: Fixture, tmp_path: Path) -> None:
    result, model, _ = run(fx, make_spec(epochs=1), tmp_path)
    folder = result.last_checkpoint
    assert folder is not None and (folder / INFO_FILE).is_file()
    tensors = load_file(str(folder / WEIGHTS_FILE))
    assert tensors.keys() >= {name for name, p in model.named_parameters() if p.requires_grad}
    state = torch.load(folder / STATE_FILE, weights_only=True)
    assert {"optimizer", "scheduler", "scaler", "loop", "plan"} <= state.keys()
    assert state["loop"]["step"] == result.steps and state["loop"]["position"] == 0
    assert state["loop"]["epoch"] == 1
    rng = torch.load(folder / "rng" / "rank-0.pt", weights_only=True)
    assert rng["torch"].dtype == torch.uint8
    assert read_info(folder)["step"] == result.steps


def test_cancel_saves_a_checkpoint_and_reports_cancelled(fx: Fixture, tmp_path: Path) -> None:
    result, _, sink = run(fx, make_spec(), tmp_path, should_stop=StopAfter(4))
    assert result.state is JobState.CANCELLED and result.stop_reason is StopReason.CANCELLED
    assert result.steps == 4 and "cancelled at step 4" in result.message
    assert latest_checkpoint(tmp_path) == result.last_checkpoint == tmp_path / "step-00000004"
    assert read_info(tmp_path / "step-00000004")["reason"] == "cancel"
    assert [s.state for s in sink.of(StateEvent)] == [JobState.RUNNING, JobState.CANCELLED]
    assert sink.of(StepEvent)[-1].step == 4

    at_once, _, _ = run(fx, make_spec(), tmp_path / "now", should_stop=lambda: True)
    assert at_once.steps == 0 and at_once.state is JobState.CANCELLED
    assert latest_checkpoint(tmp_path / "now") == tmp_path / "now" / "step-00000000"


def test_resume_refuses_another_plan(fx: Fixture, tmp_path: Path) -> None:
    first, _, _ = run(fx, make_spec(), tmp_path, should_stop=StopAfter(2))
    with pytest.raises(FailedPreconditionError, match="batch_size"):
        run(fx, make_spec(batch_size=8), tmp_path, resume_from=first.last_checkpoint)


def test_checkpoints_are_pruned_to_the_newest_and_the_best(fx: Fixture, tmp_path: Path) -> None:
    spec = make_spec(epochs=4, eval_every_steps=4, checkpoint_every_steps=3, keep_checkpoints=2)
    result, _, sink = run(fx, spec, tmp_path)
    assert result.best_checkpoint is not None and result.last_checkpoint is not None
    names = [p.name for p in list_checkpoints(tmp_path)]
    expected = {result.best_checkpoint.name, "step-00000057", "step-00000060"}
    assert set(names) == expected
    assert sink.removed and all(not p.exists() for p in sink.removed)
    assert not list(tmp_path.glob(".*"))  # no partial folders left


# --- the objective: best checkpoint, early stopping --------------------------------------------------


def test_best_checkpoint_follows_the_objective(fx: Fixture, tmp_path: Path) -> None:
    spec = make_spec(epochs=4, eval_every_steps=3, keep_checkpoints=1)
    result, _, sink = run(fx, spec, tmp_path)
    steps, f1 = result.history.metric("eval_f1")
    best = steps[int(np.argmax(f1))]  # the first of the maxima: later ties are not better
    assert result.best_step == best and result.best_step != result.steps
    assert result.best_checkpoint == tmp_path / f"step-{best:08d}"
    assert read_info(result.best_checkpoint)["is_best"] is True
    assert {p.name for p in list_checkpoints(tmp_path)} == {result.best_checkpoint.name, "step-00000060"}
    assert [e.step for e in sink.of(EvalEvent) if e.is_best][-1] == best

    reloaded = fx.model()
    load_weights(reloaded, result.best_checkpoint)
    again = evaluate(
        reloaded,
        fx.split,
        Collator(fx.split, fx.info),
        fx.label_map,
        policy=resolve_precision(Precision.FP32, torch.device("cpu")),
        dist=DistContext.single("cpu"),
        batch_size=32,
    )
    assert result.best_metrics is not None
    assert again.metrics["eval_f1"] == pytest.approx(result.best_metrics["eval_f1"])

    by_loss = make_spec(epochs=4, eval_every_steps=3, objective=MetricObjective("eval_loss"))
    minimized, model, _ = run(
        fx,
        by_loss,
        tmp_path / "loss",
        options=LoopOptions(dist=DistContext.single("cpu"), load_best_at_end=True),
    )
    loss_steps, losses = minimized.history.metric("eval_loss")
    assert minimized.objective_goal == "minimize"
    assert minimized.best_step == loss_steps[int(np.argmin(losses))]
    assert minimized.best_checkpoint is not None
    best_weights = load_file(str(minimized.best_checkpoint / WEIGHTS_FILE))
    assert torch.equal(
        dict(model.named_parameters())["classifier.weight"].detach(), best_weights["classifier.weight"]
    )


def test_early_stopping_stops_and_says_why(fx: Fixture, tmp_path: Path) -> None:
    spec = make_spec(learning_rate=1e-12, eval_every_steps=1, early_stopping=EarlyStopping(patience=2))
    result, _, sink = run(fx, spec, tmp_path)
    assert result.stop_reason is StopReason.EARLY_STOPPING and result.state is JobState.SUCCEEDED
    assert result.steps == 3 and result.best_step == 1
    assert "did not improve" in result.message and "patience 2" in result.message
    assert sink.messages[-1] == result.message
    assert latest_checkpoint(tmp_path) == tmp_path / "step-00000003"

    # a worker that dies after training and resumes from the final checkpoint trains no further
    again, _, again_sink = run(fx, spec, tmp_path, resume_from=latest_checkpoint(tmp_path))
    assert again.stop_reason is StopReason.EARLY_STOPPING and again.steps == 3
    assert again.message == result.message and not again_sink.of(StepEvent)


def test_objective_counts_only_improvements_beyond_min_delta() -> None:
    objective = Objective("eval_f1", MetricGoal.MAXIMIZE, patience=2, min_delta=0.05)
    state = LoopState()
    seen = []
    for step, value in enumerate([0.5, 0.6, 0.605, 0.61], start=1):
        state.step = step
        judged = objective.judge({"eval_f1": value}, state)
        seen.append((judged.is_best, judged.improved, judged.bad_evaluations, judged.stop))
        state.bad_evaluations = judged.bad_evaluations
        if judged.is_best:
            state.best_value, state.best_step = value, step
    assert seen == [
        (True, True, 0, False),
        (True, True, 0, False),
        (True, False, 1, False),
        (True, False, 2, True),
    ]
    lower = Objective("eval_loss", MetricGoal.MINIMIZE)
    assert lower.better(0.4, 0.5) and not lower.better(0.6, 0.5) and lower.better(9.0, None)
    with pytest.raises(FailedPreconditionError):
        objective.judge({"eval_loss": 1.0}, LoopState())


# --- LoRA and freezing ---------------------------------------------------------------------------------


def test_lora_trains_only_adapters_and_head(fx: Fixture, tmp_path: Path) -> None:
    model = apply_lora(fx.model(), Task.TOKEN_CLASSIFICATION, LoraSettings(r=4, alpha=8))
    before = weights(model)
    result, _, _ = run(fx, make_spec(epochs=1, learning_rate=1e-2), tmp_path, model=model)
    after = weights(model)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all("lora_" in n or "modules_to_save" in n for n in changed)
    assert any("modules_to_save" in n and "classifier" in n for n in changed)
    assert any("lora_" in n for n in changed)
    assert result.last_checkpoint is not None
    saved = load_file(str(result.last_checkpoint / WEIGHTS_FILE))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable <= saved.keys() and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert len(saved) < len(before) / 2  # the frozen base is not in the checkpoint


def test_frozen_parameters_stay_out_of_the_optimizer(fx: Fixture) -> None:
    model = fx.model()
    frozen = set(freeze(model, embeddings=True, first_n_layers=1))
    optimizer = build_optimizer(model, 1e-3, 0.01)
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert not {names[i] for i in held} & frozen
    skip = no_decay_names(model)
    assert all(n.endswith("bias") or "LayerNorm" in n for n in skip)
    assert any("LayerNorm.weight" in n for n in skip)
    groups = {g["name"]: g for g in parameter_groups(model, 0.01)}
    assert groups["decay"]["weight_decay"] == 0.01 and groups["no_decay"]["weight_decay"] == 0.0


# --- schedules, precision, distribution, curves -----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "middle", "end"),
    [(LrScheduler.LINEAR, 0.5, 0.0), (LrScheduler.COSINE, 0.5, 0.0), (LrScheduler.CONSTANT, 1.0, 1.0)],
)
def test_schedules(kind: LrScheduler, middle: float, end: float) -> None:
    assert lr_factor(kind, 0, 10, 110) == 0.0
    assert lr_factor(kind, 5, 10, 110) == pytest.approx(0.5)
    assert lr_factor(kind, 10, 10, 110) == pytest.approx(1.0)
    assert lr_factor(kind, 60, 10, 110) == pytest.approx(middle)
    assert lr_factor(kind, 110, 10, 110) == pytest.approx(end)
    assert lr_factor(kind, 0, 0, 10) == pytest.approx(1.0)


def test_precision_policy() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    auto = resolve_precision(Precision.AUTO, cpu)
    assert auto.effective is Precision.FP32 and auto.make_scaler() is None and not auto.mixed
    for requested in (Precision.FP16, Precision.BF16):
        with pytest.raises(FailedPreconditionError, match="precision"):
            resolve_precision(requested, cpu)
    ampere = resolve_precision(Precision.AUTO, cuda, bf16_supported=lambda _: True)
    volta = resolve_precision(Precision.AUTO, cuda, bf16_supported=lambda _: False)
    assert (ampere.effective, ampere.dtype) == (Precision.BF16, torch.bfloat16)
    assert (volta.effective, volta.dtype) == (Precision.FP16, torch.float16)
    with pytest.raises(FailedPreconditionError):
        resolve_precision(Precision.BF16, cuda, bf16_supported=lambda _: False)


def test_world_size_one_needs_no_process_group() -> None:
    context = DistContext.from_env({"WORLD_SIZE": "1"}, device="cpu")
    assert (context.rank, context.world_size, context.is_main, context.distributed) == (0, 1, True, False)
    assert context.all_reduce_sum([1.0, 2.5]) == [1.0, 2.5] and context.any_rank(True)
    model = nn.Linear(2, 2)
    assert context.wrap(model) is model
    context.barrier()
    context.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ddp_worker(rank: int, world_size: int, port: int, root: str, spec_dict: dict[str, Any]) -> None:
    """One rank of a gloo DDP run (started by torch.multiprocessing.spawn)."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    fx = Fixture(Path(root) / f"rank{rank}")
    model = fx.model(dropout=False)
    result = train(
        JobSpec.from_dict(spec_dict),
        model,
        fx.split,
        fx.split,
        fx.info,
        fx.label_map,
        sink=RecordingSink(),
        checkpoint_dir=Path(root) / "ddp",
    )
    if rank == 0:
        save_file(weights(model), str(Path(root) / "ddp.safetensors"))
        history = (result.history.loss, result.history.grad_norm, result.final_metrics)
        (Path(root) / "ddp.history").write_text(repr(history))


def test_ddp_with_gloo_matches_one_process_with_accumulation(fx: Fixture, tmp_path: Path) -> None:
    """World size 2 with 1 micro-batch per step sees the same rows per step as world size 1 with
    2 micro-batches (240 rows / 16 = 15 batches: the plans match once 16 batches are cut): the
    loss over the run's divisor (`world_size` undoing DDP's averaging) must give the same weights."""
    spec = make_spec(epochs=2, batch_size=15, warmup_ratio=0.0)  # 16 batches, even for both
    single, single_model, _ = run(
        fx, replace(spec, gradient_accumulation_steps=2), tmp_path / "single", model=fx.model(dropout=False)
    )
    spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path), spec.to_dict()), nprocs=2, join=True)  # type: ignore[no-untyped-call]
    ddp_weights = load_file(str(tmp_path / "ddp.safetensors"))
    assert max_difference(weights(single_model), ddp_weights) < 1e-5
    ddp_loss, ddp_grad_norm, ddp_metrics = ast.literal_eval((tmp_path / "ddp.history").read_text())
    assert ddp_loss == pytest.approx(single.history.loss, abs=1e-5)
    # the gradient itself (Adam's update hides a wrong scale of the gradient, its norm does not)
    assert ddp_grad_norm == pytest.approx(single.history.grad_norm, rel=1e-4)
    # evaluation sharded over the two ranks, predictions all-reduced: the same metrics
    assert single.final_metrics is not None and ddp_metrics.keys() == single.final_metrics.keys()
    assert ddp_metrics == pytest.approx(single.final_metrics, abs=1e-5)


def test_plot_curves_writes_a_png(tmp_path: Path) -> None:
    history = TrainHistory()
    for step in range(1, 41):
        history.add_step(step, step / 10, 2.0 / step, 1e-3 * min(1.0, step / 4), 1.0, 1000.0)
    for step in (10, 20, 30, 40):
        metrics = {"eval_f1": step / 50, "eval_loss": 1 / step, "eval_token_accuracy": 0.9}
        history.evals.append(EvalRecord(step, step / 10, metrics))
    out = plot_curves(history, tmp_path / "plots" / "curves.png", objective="eval_f1", title="tiny")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    empty = plot_curves(TrainHistory(), tmp_path / "empty.png")
    assert empty.is_file()


def test_inputs_are_checked_before_compute(fx: Fixture, tmp_path: Path) -> None:
    with pytest.raises(FailedPreconditionError, match="text_classification"):
        run(fx, make_spec(task=Task.TEXT_CLASSIFICATION), tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
