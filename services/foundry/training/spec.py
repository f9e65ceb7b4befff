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
unknown or mistyped fields rejected with their paths).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum, StrEnum
from typing import Any, Literal, TypeVar

from foundry.domain.chattemplates import NAMED_TEMPLATES
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split, Task
from foundry.runtime.manifest import DATASET_NAME_PATTERN, VERSION_ID_PATTERN
from foundry.training.metrics import METRIC_KEYS

D = TypeVar("D")

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
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_MAX_SEED = 2**63


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
        violations = _violations(self)
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
        value = _to_json(self)
        assert isinstance(value, dict)
        return value

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Parse `to_dict()` output (missing fields take defaults); `InvalidArgumentError`
        naming every unknown or mistyped field."""
        violations: list[FieldViolation] = []
        spec = _from_json(cls, data, "", violations)
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


# --- the checks -------------------------------------------------------------------------------------


def _violations(spec: JobSpec) -> list[FieldViolation]:
    bad: list[FieldViolation] = []

    def need(ok: bool, path: str, description: str) -> None:
        if not ok:
            bad.append(FieldViolation(path, description))

    def positive(value: float, path: str) -> None:
        need(math.isfinite(value) and value > 0, path, f"must be a positive number, got {value}")

    def non_negative(value: float, path: str) -> None:
        need(math.isfinite(value) and value >= 0, path, f"must be zero or positive, got {value}")

    def fraction(value: float, path: str, *, closed: bool) -> None:
        inside = 0 <= value <= 1 if closed else 0 <= value < 1
        need(math.isfinite(value) and inside, path, f"must be in [0, 1{']' if closed else ')'}, got {value}")

    need(
        spec.base_model.kind in ("imported", "model_version"),
        "base_model.kind",
        "must be imported or model_version",
    )
    need(bool(spec.base_model.name.strip()), "base_model.name", "required")
    need(_version_ok(spec.base_model.version_id), "base_model.version_id", "must be empty or 64 hex digits")
    need(bool(DATASET_NAME_PATTERN.fullmatch(spec.dataset.name)), "dataset.name", "not a valid dataset name")
    need(_version_ok(spec.dataset.version_id), "dataset.version_id", "must be empty or 64 hex digits")
    if spec.model_name:
        need(
            bool(DATASET_NAME_PATTERN.fullmatch(spec.model_name)),
            "model_name",
            "use 1 to 128 of a-z 0-9 . _ -",
        )
    non_negative(spec.max_train_examples, "max_train_examples")
    non_negative(spec.max_eval_examples, "max_eval_examples")
    if spec.learning_rate is not None:
        positive(spec.learning_rate, "learning_rate")
    need(spec.batch_size >= 1, "batch_size", f"must be at least 1, got {spec.batch_size}")
    need(spec.gradient_accumulation_steps >= 1, "gradient_accumulation_steps", "must be at least 1")
    need(spec.epochs >= 0, "epochs", f"must not be negative, got {spec.epochs}")
    if spec.max_steps is not None:
        need(spec.max_steps >= 0, "max_steps", f"must not be negative, got {spec.max_steps}")
    if spec.epochs == 0 and not spec.max_steps:
        for path in ("epochs", "max_steps"):
            bad.append(FieldViolation(path, "one of epochs and max_steps must be positive"))
    fraction(spec.warmup_ratio, "warmup_ratio", closed=False)
    non_negative(spec.weight_decay, "weight_decay")
    non_negative(spec.max_grad_norm, "max_grad_norm")
    if spec.max_seq_length is not None:
        need(spec.max_seq_length >= MIN_SEQ_LENGTH, "max_seq_length", f"must be at least {MIN_SEQ_LENGTH}")
    need(0 <= spec.seed < _MAX_SEED, "seed", "must be in [0, 2**63)")
    need(spec.freeze.first_n_layers >= 0, "freeze.first_n_layers", "must not be negative")
    if spec.method is TrainingMethod.LORA:
        need(spec.lora.r >= 1, "lora.r", f"must be at least 1, got {spec.lora.r}")
        positive(spec.lora.alpha, "lora.alpha")
        fraction(spec.lora.dropout, "lora.dropout", closed=False)
        need(
            all(m.strip() for m in spec.lora.target_modules), "lora.target_modules", "names must not be empty"
        )
    need(spec.eval_every_steps >= 0, "eval_every_steps", "must not be negative")
    need(spec.checkpoint_every_steps >= 0, "checkpoint_every_steps", "must not be negative")
    need(spec.keep_checkpoints >= 0, "keep_checkpoints", "must not be negative")
    _check_objective(spec, need)
    need(spec.early_stopping.patience >= 0, "early_stopping.patience", "must not be negative")
    non_negative(spec.early_stopping.min_delta, "early_stopping.min_delta")
    threshold = spec.multilabel_threshold
    need(0 < threshold < 1, "multilabel_threshold", f"must be in (0, 1), got {threshold}")
    need(not spec.export.int8 or spec.export.onnx, "export.int8", "the int8 export needs export.onnx")
    opset = spec.export.opset
    need(
        MIN_OPSET <= opset <= MAX_OPSET, "export.opset", f"must be in [{MIN_OPSET}, {MAX_OPSET}], got {opset}"
    )
    positive(spec.export.parity_tolerance, "export.parity_tolerance")
    gpus = spec.resources.gpus_per_node
    need(gpus is None or gpus >= 0, "resources.gpus_per_node", "must not be negative")
    need(
        not (spec.precision is Precision.FP16 and gpus == 0),
        "precision",
        "fp16 mixed precision needs a GPU (resources.gpus_per_node is 0)",
    )
    need(spec.resources.nodes >= 1, "resources.nodes", "must be at least 1")
    need(spec.resources.timeout_s >= 0, "resources.timeout_s", "must not be negative")
    for name in ("cpu", "memory"):
        quantity = getattr(spec.resources, name)
        need(
            not quantity or bool(_QUANTITY.fullmatch(quantity)),
            f"resources.{name}",
            "not a Kubernetes quantity",
        )
    need(
        spec.causal_lm.exact_match_max_tokens >= 0, "causal_lm.exact_match_max_tokens", "must not be negative"
    )
    name = spec.causal_lm.chat_template_name
    need(
        not name or name in NAMED_TEMPLATES,
        "causal_lm.chat_template_name",
        f"unknown template {name!r}; use one of {', '.join(NAMED_TEMPLATES)}",
    )
    return bad


def _check_objective(spec: JobSpec, need: Callable[[bool, str, str], None]) -> None:
    name = spec.objective.metric or DEFAULT_OBJECTIVE[spec.task]
    key = metric_key(spec.task, name)
    known = ", ".join(sorted(METRIC_KEYS[spec.task]))
    need(
        key is not None,
        "objective.metric",
        f"{name!r} is not a metric of {spec.task.value}; use one of {known}",
    )
    if key is not None and spec.objective.goal is not None:
        natural = goal_of(key)
        need(spec.objective.goal is natural, "objective.goal", f"{key} can only be {natural.value}d")


def _version_ok(version_id: str) -> bool:
    return not version_id or bool(VERSION_ID_PATTERN.fullmatch(version_id))


# --- JSON -------------------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    return value


def _from_json(hint: Any, value: Any, path: str, bad: list[FieldViolation]) -> Any:
    """`value` parsed as type `hint`; problems are appended to `bad` (None is then returned)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _from_json(inner, value, path, bad)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return _dataclass_from_json(hint, value, path, bad)
    if origin is Literal:
        if value in args:
            return value
    elif origin is tuple:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif isinstance(hint, type) and issubclass(hint, Enum):
        if isinstance(value, str) and value in {m.value for m in hint}:
            return hint(value)
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint in (int, bool, str) and type(value) is hint:
        return value
    bad.append(FieldViolation(path, f"{value!r} is not a valid {_describe(hint)}"))
    return None


def _dataclass_from_json(cls: type[D], value: Any, path: str, bad: list[FieldViolation]) -> D | None:
    if not isinstance(value, Mapping):
        bad.append(FieldViolation(path or "spec", "must be an object"))
        return None
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    prefix = f"{path}." if path else ""
    before = len(bad)
    bad.extend(FieldViolation(f"{prefix}{key}", "unknown field") for key in value if key not in names)
    kwargs = {
        name: _from_json(hints[name], value[name], f"{prefix}{name}", bad) for name in names if name in value
    }
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if (
            f.name not in value
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            bad.append(FieldViolation(f"{prefix}{f.name}", "required"))
    return cls(**kwargs) if len(bad) == before else None


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(map(repr, typing.get_args(hint)))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return "value of " + ", ".join(m.value for m in hint)
    return getattr(hint, "__name__", str(hint))
