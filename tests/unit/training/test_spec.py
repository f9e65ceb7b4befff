"""JobSpec: defaults, checks with field paths, resolution, JSON form, and the proto mirror."""

from __future__ import annotations

import dataclasses
import json
import typing
from enum import StrEnum
from typing import Any

import pytest

from foundry.api.common.v1 import training_spec_pb2
from foundry.runtime.convert import message_to_dataclass
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Split, Task
from foundry.training.spec import (
    BaseModelRef,
    CausalLmOptions,
    DatasetRef,
    EarlyStopping,
    ExportOptions,
    Freeze,
    JobSpec,
    LoraConfig,
    LrScheduler,
    MetricGoal,
    MetricObjective,
    Precision,
    Resources,
    TrainingMethod,
    metric_key,
)

VERSION = "ab" * 32


def spec(task: Task = Task.TOKEN_CLASSIFICATION, **overrides: Any) -> JobSpec:
    return JobSpec(
        task=task,
        base_model=BaseModelRef("imported", "minilm"),
        dataset=DatasetRef("wnut17", VERSION),
        **overrides,
    )


def violations(bad: JobSpec) -> dict[str, str]:
    with pytest.raises(InvalidArgumentError) as caught:
        bad.check()
    assert caught.value.reason == "INVALID_JOB_SPEC"
    return {v.field: v.description for v in caught.value.violations}


def test_defaults_are_the_documented_ones() -> None:
    s = spec()
    assert (s.batch_size, s.epochs, s.warmup_ratio, s.weight_decay, s.max_grad_norm) == (
        16,
        3,
        0.1,
        0.01,
        1.0,
    )
    assert (s.lr_scheduler, s.precision, s.seed, s.group_by_length) == (
        LrScheduler.LINEAR,
        Precision.AUTO,
        42,
        True,
    )
    assert (s.train_split, s.eval_split, s.gradient_accumulation_steps) == (Split.TRAIN, Split.VALIDATION, 1)
    assert s.lora == LoraConfig(r=8, alpha=16.0, dropout=0.05)
    assert s.export == ExportOptions(onnx=True, int8=True, opset=17, parity_tolerance=1e-4)
    assert (s.peak_learning_rate, s.sequence_length) == (5e-5, 128)
    assert (s.objective_metric, s.objective_goal) == ("eval_f1", MetricGoal.MAXIMIZE)
    s.check()


@pytest.mark.parametrize(
    ("task", "metric", "goal"),
    [
        (Task.TOKEN_CLASSIFICATION, "eval_f1", MetricGoal.MAXIMIZE),
        (Task.TEXT_CLASSIFICATION, "eval_macro_f1", MetricGoal.MAXIMIZE),
        (Task.MULTILABEL_CLASSIFICATION, "eval_macro_f1", MetricGoal.MAXIMIZE),
        (Task.CHAT, "eval_loss", MetricGoal.MINIMIZE),
    ],
)
def test_resolved_fills_every_default_per_task(task: Task, metric: str, goal: MetricGoal) -> None:
    resolved = spec(task).resolved()
    assert resolved.objective == MetricObjective(metric, goal)
    assert resolved.learning_rate == 5e-5
    assert resolved.max_seq_length == (1024 if task is Task.CHAT else 128)
    assert resolved.model_name == "wnut17"
    assert resolved.resources.gpus_per_node == 0
    assert resolved.resolved() == resolved


def test_resolved_depends_on_lora_gpus_and_keeps_what_was_set() -> None:
    lora = spec(method=TrainingMethod.LORA).resolved(gpus_available=4)
    assert (lora.learning_rate, lora.resources.gpus_per_node) == (2e-4, 1)
    kept = spec(
        learning_rate=1e-3, max_seq_length=64, model_name="mine", objective=MetricObjective("entity_macro_f1")
    ).resolved()
    assert (kept.learning_rate, kept.max_seq_length, kept.model_name) == (1e-3, 64, "mine")
    assert kept.objective == MetricObjective("eval_macro_f1", MetricGoal.MAXIMIZE)


def test_proto_metric_names_are_accepted() -> None:
    assert metric_key(Task.TOKEN_CLASSIFICATION, "entity_f1") == "eval_f1"
    assert metric_key(Task.TOKEN_CLASSIFICATION, "token_accuracy") == "eval_token_accuracy"
    assert metric_key(Task.TEXT_CLASSIFICATION, "macro_f1") == "eval_macro_f1"
    assert metric_key(Task.CHAT, "loss") == "eval_loss"
    assert metric_key(Task.TEXT_CLASSIFICATION, "entity_f1") is None
    assert spec(objective=MetricObjective("loss")).resolved().objective.goal is MetricGoal.MINIMIZE


def test_check_lists_every_impossible_setting_with_its_path() -> None:
    bad = JobSpec(
        task=Task.TEXT_CLASSIFICATION,
        base_model=BaseModelRef("imported", " ", "not-hex"),
        dataset=DatasetRef("Bad Name"),
        learning_rate=0.0,
        batch_size=0,
        gradient_accumulation_steps=0,
        epochs=0,
        warmup_ratio=1.0,
        weight_decay=-0.1,
        max_grad_norm=float("nan"),
        max_seq_length=4,
        seed=-1,
        freeze=Freeze(first_n_layers=-2),
        method=TrainingMethod.LORA,
        lora=LoraConfig(r=0, alpha=-1.0, dropout=1.0, target_modules=("query", "")),
        eval_every_steps=-1,
        objective=MetricObjective("eval_f1"),
        early_stopping=EarlyStopping(patience=-1, min_delta=-0.5),
        multilabel_threshold=1.0,
        export=ExportOptions(onnx=False, int8=True, opset=5, parity_tolerance=0.0),
        resources=Resources(gpus_per_node=-1, nodes=0, cpu="lots", timeout_s=-5),
        causal_lm=CausalLmOptions(exact_match_max_tokens=-1),
    )
    found = violations(bad)
    assert set(found) == {
        "base_model.name",
        "base_model.version_id",
        "dataset.name",
        "learning_rate",
        "batch_size",
        "gradient_accumulation_steps",
        "epochs",
        "max_steps",
        "warmup_ratio",
        "weight_decay",
        "max_grad_norm",
        "max_seq_length",
        "seed",
        "freeze.first_n_layers",
        "lora.r",
        "lora.alpha",
        "lora.dropout",
        "lora.target_modules",
        "eval_every_steps",
        "objective.metric",
        "early_stopping.patience",
        "early_stopping.min_delta",
        "multilabel_threshold",
        "export.int8",
        "export.opset",
        "export.parity_tolerance",
        "resources.gpus_per_node",
        "resources.nodes",
        "resources.cpu",
        "resources.timeout_s",
        "causal_lm.exact_match_max_tokens",
    }
    assert "eval_macro_f1" in found["objective.metric"]  # names the metrics the task has
    with pytest.raises(InvalidArgumentError):
        bad.resolved()


def test_epochs_or_max_steps_and_sensible_goals() -> None:
    spec(epochs=0, max_steps=100).check()
    assert set(violations(spec(epochs=0, max_steps=0))) == {"epochs", "max_steps"}
    assert set(violations(spec(max_steps=-1))) == {"max_steps"}
    assert set(violations(spec(objective=MetricObjective("eval_loss", MetricGoal.MAXIMIZE)))) == {
        "objective.goal"
    }
    spec(method=TrainingMethod.FULL, lora=LoraConfig(r=0)).check()  # LoRA settings unused: not checked
    assert set(violations(spec(precision=Precision.FP16, resources=Resources(gpus_per_node=0)))) == {
        "precision"
    }
    spec(precision=Precision.FP16).check()  # the executor may have GPUs


def test_json_round_trip() -> None:
    original = spec(
        method=TrainingMethod.LORA,
        lora=LoraConfig(r=4, target_modules=("query", "value")),
        precision=Precision.BF16,
        max_steps=500,
        objective=MetricObjective("eval_loss", MetricGoal.MINIMIZE),
    ).resolved()
    data = json.loads(json.dumps(original.to_dict()))
    assert data["precision"] == "bf16" and data["lora"]["target_modules"] == ["query", "value"]
    assert data["train_split"] == "train" and data["base_model"]["kind"] == "imported"
    assert JobSpec.from_dict(data) == original
    minimal = JobSpec.from_dict(
        {
            "task": "token_classification",
            "base_model": {"kind": "imported", "name": "m"},
            "dataset": {"name": "d"},
        }
    )
    assert minimal.batch_size == 16 and minimal.dataset == DatasetRef("d")


def test_from_dict_names_every_bad_field() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        JobSpec.from_dict(
            {
                "task": "ner",
                "base_model": {"kind": "hub", "name": "m"},
                "dataset": {"name": "d", "extra": 1},
                "batch_size": "16",
                "warmup_ratio": True,
                "lora": {"target_modules": "query"},
                "bogus": 1,
            }
        )
    assert {v.field for v in caught.value.violations} == {
        "task",
        "base_model.kind",
        "dataset.extra",
        "batch_size",
        "warmup_ratio",
        "lora.target_modules",
        "bogus",
    }
    with pytest.raises(InvalidArgumentError) as missing:
        JobSpec.from_dict({"task": "chat"})
    assert {v.field for v in missing.value.violations} == {"base_model", "dataset"}


# --- the proto mirror -------------------------------------------------------------------------------

MIRRORS: dict[str, type[Any]] = {
    "JobSpec": JobSpec,
    "MetricObjective": MetricObjective,
    "Freeze": Freeze,
    "LoraConfig": LoraConfig,
    "EarlyStopping": EarlyStopping,
    "ExportOptions": ExportOptions,
    "Resources": Resources,
    "CausalLmOptions": CausalLmOptions,
}


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_dataclasses_mirror_the_proto_field_by_field(name: str) -> None:
    descriptor = training_spec_pb2.DESCRIPTOR.message_types_by_name[name]
    proto_fields = [f.name for f in descriptor.fields]
    assert [f.name for f in dataclasses.fields(MIRRORS[name])] == proto_fields
    hints = typing.get_type_hints(MIRRORS[name])
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.name in MIRRORS:
            assert hints[field.name] is MIRRORS[field.message_type.name]


@pytest.mark.parametrize("enum", [Precision, TrainingMethod, LrScheduler, MetricGoal])
def test_enums_mirror_the_proto_values(enum: type[StrEnum]) -> None:
    descriptor = training_spec_pb2.DESCRIPTOR.enum_types_by_name[enum.__name__]
    prefix = descriptor.values[0].name.removesuffix("UNSPECIFIED")
    assert [v.name.removeprefix(prefix) for v in descriptor.values[1:]] == list(enum.__members__)


def test_the_generic_converter_fills_the_option_messages() -> None:
    pb = training_spec_pb2
    assert message_to_dataclass(pb.LoraConfig(), LoraConfig) == LoraConfig()
    assert message_to_dataclass(pb.LoraConfig(r=4, target_modules=["q"]), LoraConfig) == LoraConfig(
        r=4, target_modules=("q",)
    )
    assert message_to_dataclass(pb.ExportOptions(int8=False, opset=18), ExportOptions) == ExportOptions(
        int8=False, opset=18
    )
    assert message_to_dataclass(pb.Resources(gpus_per_node=0), Resources) == Resources(gpus_per_node=0)
    assert message_to_dataclass(pb.Resources(), Resources).gpus_per_node is None
    objective = pb.MetricObjective(metric="entity_f1", goal=pb.METRIC_GOAL_MAXIMIZE)
    assert message_to_dataclass(objective, MetricObjective) == MetricObjective(
        "entity_f1", MetricGoal.MAXIMIZE
    )
    assert message_to_dataclass(pb.MetricObjective(), MetricObjective).goal is None
