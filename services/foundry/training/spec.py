"""`JobSpec`: the full specification of a training job, mirroring `training_spec.proto`.

Each message of the proto is a frozen dataclass with the same field names; each enum a
`StrEnum` whose member names are the proto value names without their prefix
(`Precision.BF16` is PRECISION_BF16); an enum's UNSPECIFIED value has no member, it is the
field's default. `BaseModelRef` and `DatasetRef` are small dataclasses of their own (the proto's
`oneof` becomes `kind`).

Defaults. A proto `optional` field that is unset takes the dataclass default, which is the
service default where it does not depend on anything else: learning rate 5e-5 (2e-4 with
LoRA), batch size 16, 3 epochs, warmup ratio 0.1, linear schedule, weight decay 0.01, gradient
clipping at 1.0, length grouping on, precision auto, seed 42, LoRA r 8 / alpha 16 / dropout
0.05, ONNX and int8 export on with opset 17 and a parity tolerance of 1e-4, training on the
train split and evaluating on the validation split. The few defaults that depend on other
fields are None (or empty) until `resolved()` fills them: the learning rate (LoRA or not), the
maximum sequence length (128, or 1024 for chat), the objective (`eval_f1` maximised for token
classification, `eval_macro_f1` for classification, `eval_loss` minimised for chat), the model
name (the dataset's) and the GPUs per node (what the executor has). The properties
`peak_learning_rate`, `sequence_length`, `objective_metric` and `objective_goal` give the
effective value whether or not the spec was resolved.

`check()` lists every impossible setting with its field path (`lora.r`, `objective.metric`) in
one `InvalidArgumentError`; `resolved()` checks, then returns the copy with every default filled
in that a model version records; `to_dict()` / `from_dict()` are its JSON form (enums by value,
unknown or mistyped fields rejected with their paths). The checks are in `speccheck`, the JSON
codec in `specjson`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split, Task
from foundry.training.metrics import METRIC_KEYS
from foundry.training.specjson import from_json, to_json

DEFAULT_LEARNING_RATE = 5e-5
DEFAULT_LORA_LEARNING_RATE = 2e-4
DEFAULT_MAX_SEQ_LENGTH = 128
DEFAULT_CHAT_MAX_SEQ_LENGTH = 1024
#: the smallest max_seq_length accepted: room for the special tokens and a few words
MIN_SEQ_LENGTH = 8
DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 11, 23
DEFAULT_OBJECTIVE: Mapping[Task, str] = {
    Task.TOKEN_CLASSIFICATION: "eval_f1",
    Task.TEXT_CLASSIFICATION: "eval_macro_f1",
    Task.MULTILABEL_CLASSIFICATION: "eval_macro_f1",
    Task.CHAT: "eval_loss",
}


class Precision(StrEnum):
    """Numeric precision of the training step (AUTO: bf16 on CUDA where supported, else fp16
    on CUDA, else fp32)."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class TrainingMethod(StrEnum):
    FULL = "full"
    LORA = "lora"


class LrScheduler(StrEnum):
    """Schedule after the linear warmup."""

    LINEAR = "linear"
    COSINE = "cosine"
    CONSTANT = "constant"


class MetricGoal(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


@dataclass(frozen=True, slots=True)
class BaseModelRef:
    """The model a job starts from: an imported base model or an earlier model version.
    An empty `version_id` means the latest."""

    kind: Literal["imported", "model_version"]
    name: str
    version_id: str = ""


@dataclass(frozen=True, slots=True)
class DatasetRef:
    """A dataset version by name; an empty `version_id` means the latest."""

    name: str
    version_id: str = ""


@dataclass(frozen=True, slots=True)
class MetricObjective:
    """The evaluation metric that picks the best checkpoint and drives early stopping.

    `metric` is a key of `METRIC_KEYS` for the task ("eval_f1"); the proto's names are
    accepted too ("entity_f1", "macro_f1", "loss"). Empty: the task's default. `goal` None:
    inferred (loss and perplexity minimise, the rest maximise)."""

    metric: str = ""
    goal: MetricGoal | None = None


@dataclass(frozen=True, slots=True)
class Freeze:
    embeddings: bool = False
    first_n_layers: int = 0


@dataclass(frozen=True, slots=True)
class LoraConfig:
    """LoRA adapters; empty `target_modules`: the architecture's attention projections."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EarlyStopping:
    """Stop after `patience` evaluations without an improvement of at least `min_delta`;
    patience 0 disables it."""

    patience: int = 0
    min_delta: float = 0.0


@dataclass(frozen=True, slots=True)
class ExportOptions:
    onnx: bool = True
    int8: bool = True
    opset: int = DEFAULT_OPSET
    #: largest |logit difference| allowed between fp32 ONNX and PyTorch
    parity_tolerance: float = 1e-4


@dataclass(frozen=True, slots=True)
class Resources:
    """Compute per node; `gpus_per_node` None: 1 where the executor has GPUs, else 0."""

    gpus_per_node: int | None = None
    nodes: int = 1
    cpu: str = ""
    memory: str = ""
    timeout_s: int = 0


@dataclass(frozen=True, slots=True)
class CausalLmOptions:
    """Options of chat (causal LM) training."""

    chat_template_name: str = ""
    chat_template: str = ""
    default_system_prompt: str = ""
    last_turn_only: bool = False
    packing: bool = False
    gradient_checkpointing: bool = False
    exact_match_max_tokens: int = 32


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """A budgeted recipe search (`foundry.training.search`): `budget` is the training cost of the
    whole search, final model included, as a multiple of the spec's own run (examples x epochs);
    0: no search. `trial` marks the search's trial jobs (train, score on the eval split, stop)."""

    budget: float = 0.0
    trial: bool = False
    #: the grid; empty: the default one (`search.space`)
    learning_rates: tuple[float, ...] = ()
    epochs: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A training job: what to train and every hyperparameter (see the module docstring)."""

    task: Task
    base_model: BaseModelRef
    dataset: DatasetRef
    model_name: str = ""
    train_split: Split = Split.TRAIN
    eval_split: Split = Split.VALIDATION
    max_train_examples: int = 0
    max_eval_examples: int = 0
    learning_rate: float | None = None
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    epochs: int = 3
    max_steps: int | None = None
    warmup_ratio: float = 0.1
    lr_scheduler: LrScheduler = LrScheduler.LINEAR
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_seq_length: int | None = None
    group_by_length: bool = True
    precision: Precision = Precision.AUTO
    seed: int = 42
    freeze: Freeze = field(default_factory=Freeze)
    method: TrainingMethod = TrainingMethod.FULL
    lora: LoraConfig = field(default_factory=LoraConfig)
    eval_every_steps: int = 0
    checkpoint_every_steps: int = 0
    keep_checkpoints: int = 1
    objective: MetricObjective = field(default_factory=MetricObjective)
    early_stopping: EarlyStopping = field(default_factory=EarlyStopping)
    multilabel_threshold: float = 0.5
    export: ExportOptions = field(default_factory=ExportOptions)
    resources: Resources = field(default_factory=Resources)
    causal_lm: CausalLmOptions = field(default_factory=CausalLmOptions)
    search: SearchOptions = field(default_factory=SearchOptions)

    # --- effective values -------------------------------------------------------------------

    @property
    def peak_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return DEFAULT_LORA_LEARNING_RATE if self.method is TrainingMethod.LORA else DEFAULT_LEARNING_RATE

    @property
    def sequence_length(self) -> int:
        if self.max_seq_length is not None:
            return self.max_seq_length
        return DEFAULT_CHAT_MAX_SEQ_LENGTH if self.task is Task.CHAT else DEFAULT_MAX_SEQ_LENGTH

    @property
    def objective_metric(self) -> str:
        """The objective's metric key ("eval_f1"); the name as given if the task has no such key."""
        name = self.objective.metric or DEFAULT_OBJECTIVE[self.task]
        return metric_key(self.task, name) or name

    @property
    def objective_goal(self) -> MetricGoal:
        return self.objective.goal or goal_of(self.objective_metric)

    # --- check, resolve, JSON ---------------------------------------------------------------

    def check(self) -> None:
        """Raise `InvalidArgumentError` listing every impossible setting, or return."""
        from foundry.training.speccheck import violations as spec_violations  # it reads this module

        violations = spec_violations(self)
        if violations:
            raise InvalidArgumentError(
                "the training spec is not valid", reason="INVALID_JOB_SPEC", violations=violations
            )

    def resolved(self, *, gpus_available: int = 0) -> JobSpec:
        """A checked copy with every default filled in (what a model version records).

        `max_steps` stays None when unset: it is derived from the epochs and the data."""
        self.check()
        gpus = self.resources.gpus_per_node
        return replace(
            self,
            model_name=self.model_name or self.dataset.name,
            learning_rate=self.peak_learning_rate,
            max_seq_length=self.sequence_length,
            objective=MetricObjective(self.objective_metric, self.objective_goal),
            resources=replace(
                self.resources, gpus_per_node=gpus if gpus is not None else min(1, max(gpus_available, 0))
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: enums as values, tuples as lists, None kept."""
        value = to_json(self)
        assert isinstance(value, dict)
        return value

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Parse `to_dict()` output (missing fields take defaults); `InvalidArgumentError`
        naming every unknown or mistyped field."""
        violations: list[FieldViolation] = []
        spec = from_json(cls, data, "", violations)
        if violations or not isinstance(spec, cls):
            raise InvalidArgumentError(
                "the training spec cannot be read", reason="INVALID_JOB_SPEC", violations=violations
            )
        return spec


def metric_key(task: Task, name: str) -> str | None:
    """The metric key that `name` denotes for `task` ("entity_f1" → "eval_f1"), or None."""
    short = name.removeprefix("eval_")
    if task is Task.TOKEN_CLASSIFICATION:
        short = short.removeprefix("entity_")
    key = f"eval_{short}"
    return key if key in METRIC_KEYS[task] else None


def goal_of(metric: str) -> MetricGoal:
    """The natural direction of a metric: loss and perplexity minimise, the rest maximise."""
    return MetricGoal.MINIMIZE if metric.endswith(("loss", "perplexity")) else MetricGoal.MAXIMIZE
