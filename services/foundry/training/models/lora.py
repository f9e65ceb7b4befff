"""LoRA through `peft`, with the task head trained and saved, and merging before export.

The well-known failure: a LoRA model whose classification head is new but not listed in
`modules_to_save` trains the head in memory (or not at all), and the saved adapter lacks it, so
the reloaded model has a random head. Here the head is always in `modules_to_save`, found
generically (`foundry.training.models.head.find_head_modules`), with the backbone's `pooler`
when it has one (sequence classification on BERT-like models feeds the pooler into the
classifier; a frozen pooler never trained for the task would cap the quality).

The adapted modules default to peft's table for the architecture (BERT: `query`, `value`),
else to the attention projections found by name. A causal LM (chat) gets peft's CAUSAL_LM task
and no head copy: its LM head is the (usually tied) output embedding, which stays as it is.

`merge_for_export` folds the adapters into the weights and unwraps the head copies
(`merge_and_unload`), giving the plain transformers model that checkpoints, ONNX export and
inference see. It changes the model in place: the PEFT model must not be used afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from torch import nn
from transformers import PreTrainedModel

from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.models.freeze import base_of
from foundry.training.models.head import find_head_modules

#: attention projection names tried when peft has no table entry for the architecture
ATTENTION_PROJECTIONS = ("query", "key", "value", "q_proj", "k_proj", "v_proj", "q_lin", "k_lin", "v_lin")
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True, slots=True)
class LoraSettings:
    """LoRA hyperparameters (the defaults of `foundry.common.v1.LoraConfig`)."""

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()

    def validate(self) -> None:
        """`InvalidArgumentError` naming the `lora.*` fields that are out of range."""
        violations = []
        if self.r < 1:
            violations.append(FieldViolation("lora.r", f"must be at least 1, got {self.r}"))
        if self.alpha <= 0:
            violations.append(FieldViolation("lora.alpha", f"must be positive, got {self.alpha}"))
        if not 0 <= self.dropout < 1:
            violations.append(FieldViolation("lora.dropout", f"must be in [0, 1), got {self.dropout}"))
        if violations:
            raise InvalidArgumentError("invalid LoRA settings", reason="INVALID_LORA", violations=violations)


def default_target_modules(model: PreTrainedModel) -> list[str]:
    """peft's default LoRA targets for the architecture, else the attention projections by name."""
    known = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(getattr(model.config, "model_type", ""))
    if known:
        return list(known)
    found = sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in base_of(model).named_modules()
            if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in ATTENTION_PROJECTIONS
        }
    )
    if not found:
        raise FailedPreconditionError(
            f"no LoRA target modules known for model type {model.config.model_type!r}; set lora.target_modules",
            reason="LORA_TARGETS_NOT_FOUND",
            violations=[FieldViolation("lora.target_modules", "required for this architecture")],
        )
    return found


def apply_lora(model: PreTrainedModel, task: Task, settings: LoraSettings | None = None) -> PeftModel:
    """Wrap `model` with LoRA adapters; only the adapters and the task head stay trainable."""
    settings = settings or LoraSettings()
    settings.validate()
    targets = list(settings.target_modules) or default_target_modules(model)
    _check_targets_exist(model, targets)
    causal = task is Task.CHAT  # the LM head is tied to the embeddings: no head copy to train
    config = LoraConfig(
        task_type=TaskType.CAUSAL_LM
        if causal
        else (TaskType.TOKEN_CLS if task is Task.TOKEN_CLASSIFICATION else TaskType.SEQ_CLS),
        r=settings.r,
        lora_alpha=settings.alpha,  # type: ignore[arg-type]  # annotated int, used as a float scale
        lora_dropout=settings.dropout,
        target_modules=targets,
        modules_to_save=None if causal else find_head_modules(model),
    )
    peft_model = get_peft_model(model, config)
    if not isinstance(peft_model, PeftModel):  # pragma: no cover - get_peft_model returns one
        raise TypeError(f"unexpected PEFT model type {type(peft_model).__name__}")
    return peft_model


def merge_for_export(model: nn.Module) -> PreTrainedModel:
    """The plain transformers model: LoRA merged and unwrapped; other models returned as they are."""
    if isinstance(model, PeftModel):
        merged = model.merge_and_unload()
        if not isinstance(merged, PreTrainedModel):  # pragma: no cover
            raise TypeError(f"merging gave a {type(merged).__name__}, not a transformers model")
        return merged
    if isinstance(model, PreTrainedModel):
        return model
    raise TypeError(f"expected a transformers or PEFT model, got {type(model).__name__}")


def save_adapter(model: PeftModel, folder: str | Path) -> Path:
    """Save the adapters and the head copies (`adapter_model.safetensors`, `adapter_config.json`)."""
    target = Path(folder)
    model.save_pretrained(str(target), safe_serialization=True)
    if not (target / ADAPTER_WEIGHTS).is_file():  # pragma: no cover - peft writes safetensors
        raise FailedPreconditionError(f"peft wrote no {ADAPTER_WEIGHTS} in {str(target)!r}")
    return target


def load_adapter(model: PreTrainedModel, folder: str | Path, *, trainable: bool = True) -> PeftModel:
    """Attach the adapters (and head) saved by `save_adapter` to a freshly loaded task model."""
    source = Path(folder)
    if not (source / ADAPTER_WEIGHTS).is_file():
        raise FailedPreconditionError(
            f"{str(source)!r} has no {ADAPTER_WEIGHTS}; adapters are loaded from safetensors only",
            reason="SAFETENSORS_REQUIRED",
        )
    return PeftModel.from_pretrained(model, source, is_trainable=trainable)


def _check_targets_exist(model: nn.Module, targets: Sequence[str]) -> None:
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [
        t for t in targets if t not in leaf_names and not any(n.endswith(t) for n, _ in model.named_modules())
    ]
    if missing:
        raise InvalidArgumentError(
            f"LoRA target modules not found in the model: {', '.join(missing)}",
            reason="INVALID_LORA",
            violations=[FieldViolation("lora.target_modules", f"{t!r} matches no module") for t in missing],
        )


__all__ = [
    "LoraSettings",
    "apply_lora",
    "default_target_modules",
    "load_adapter",
    "merge_for_export",
    "save_adapter",
]
