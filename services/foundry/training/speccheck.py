"""The checks of a training spec: every impossible setting of a `JobSpec` as a `FieldViolation`
with its field path (`lora.r`, `objective.metric`); `JobSpec.check()` raises them together."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from foundry.domain.chattemplates import NAMED_TEMPLATES
from foundry.runtime.errors import FieldViolation
from foundry.runtime.manifest import DATASET_NAME_PATTERN, VERSION_ID_PATTERN
from foundry.training.metrics import METRIC_KEYS
from foundry.training.search.space import grid_epochs, minimum_budget
from foundry.training.spec import (
    DEFAULT_OBJECTIVE,
    MAX_OPSET,
    MIN_OPSET,
    MIN_SEQ_LENGTH,
    JobSpec,
    Precision,
    TrainingMethod,
    goal_of,
    metric_key,
)

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_MAX_SEED = 2**63

# The documented maxima of the fields that size a job's work (INVALID_ARGUMENT beyond them).
MAX_SEQ_LENGTH = 32_768
MAX_BATCH_SIZE = 4096
MAX_GRADIENT_ACCUMULATION_STEPS = 1024
MAX_EPOCHS = 1000
MAX_STEPS = 10_000_000
MAX_EXAMPLES = 1_000_000_000
MAX_GPUS_PER_NODE = 16
MAX_NODES = 64
MAX_LORA_R = 1024
MAX_KEEP_CHECKPOINTS = 100
MAX_PATIENCE = 10_000
MAX_FROZEN_LAYERS = 1000
MAX_EXACT_MATCH_TOKENS = 4096
MAX_TIMEOUT_S = 30 * 24 * 3600


def violations(spec: JobSpec) -> list[FieldViolation]:
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
    _check_limits(spec, need)
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
    _check_search(spec, need, bad)
    return bad


def _check_limits(spec: JobSpec, need: Callable[[bool, str, str], None]) -> None:
    """The maxima above (the minima are checked with each field)."""
    limits: list[tuple[str, int | None, int]] = [
        ("max_seq_length", spec.max_seq_length, MAX_SEQ_LENGTH),
        ("batch_size", spec.batch_size, MAX_BATCH_SIZE),
        ("gradient_accumulation_steps", spec.gradient_accumulation_steps, MAX_GRADIENT_ACCUMULATION_STEPS),
        ("epochs", spec.epochs, MAX_EPOCHS),
        ("max_steps", spec.max_steps, MAX_STEPS),
        ("max_train_examples", spec.max_train_examples, MAX_EXAMPLES),
        ("max_eval_examples", spec.max_eval_examples, MAX_EXAMPLES),
        ("eval_every_steps", spec.eval_every_steps, MAX_STEPS),
        ("checkpoint_every_steps", spec.checkpoint_every_steps, MAX_STEPS),
        ("keep_checkpoints", spec.keep_checkpoints, MAX_KEEP_CHECKPOINTS),
        ("early_stopping.patience", spec.early_stopping.patience, MAX_PATIENCE),
        ("freeze.first_n_layers", spec.freeze.first_n_layers, MAX_FROZEN_LAYERS),
        ("lora.r", spec.lora.r, MAX_LORA_R),
        ("resources.gpus_per_node", spec.resources.gpus_per_node, MAX_GPUS_PER_NODE),
        ("resources.nodes", spec.resources.nodes, MAX_NODES),
        ("resources.timeout_s", spec.resources.timeout_s, MAX_TIMEOUT_S),
        ("causal_lm.exact_match_max_tokens", spec.causal_lm.exact_match_max_tokens, MAX_EXACT_MATCH_TOKENS),
    ]
    for path, value, maximum in limits:
        need(value is None or value <= maximum, path, f"must be at most {maximum}, got {value}")


def _check_search(spec: JobSpec, need: Callable[[bool, str, str], None], bad: list[FieldViolation]) -> None:
    budget = spec.search.budget
    if not math.isfinite(budget) or budget < 0:
        need(False, "search.budget", f"must be zero or positive, got {budget}")
        return
    if budget == 0:
        return
    need(not spec.search.trial, "search.trial", "a trial cannot search (leave search.trial unset)")
    need(spec.max_steps is None, "max_steps", "a search varies the epochs; leave max_steps unset")
    need(spec.resources.nodes == 1, "resources.nodes", "a search runs its trials on one node")
    for rate in spec.search.learning_rates:
        need(math.isfinite(rate) and rate > 0, "search.learning_rates", f"must be positive, got {rate}")
    for count in spec.search.epochs:
        need(count >= 1, "search.epochs", f"must be at least 1, got {count}")
    if any(v.field.startswith("search.") for v in bad):
        return
    smallest = minimum_budget(spec)
    need(
        budget > smallest,
        "search.budget",
        f"must be more than {smallest:g} (the final model at up to {max(grid_epochs(spec))} epochs, "
        "plus the trials)",
    )


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
