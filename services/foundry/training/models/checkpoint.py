"""Hugging Face checkpoints of task models: safetensors weights, config and tokenizer.

`save_checkpoint` writes a folder that `AutoModelFor...from_pretrained(folder)` and
`AutoTokenizer.from_pretrained(folder)` load as they are: `model.safetensors` (never a pickle),
`config.json` with the label map, and the fast tokenizer (`tokenizer.json` and its config). A
PEFT model is refused: merge it first (`merge_for_export`), so that a checkpoint is always an
ordinary model with its trained head.
"""

from __future__ import annotations

from pathlib import Path

from peft import PeftModel
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from foundry.runtime.examples import Task
from foundry.training.models.build import auto_class_for, require_safetensors

CHECKPOINT_WEIGHTS = "model.safetensors"


def save_checkpoint(model: nn.Module, tokenizer: PreTrainedTokenizerBase, folder: str | Path) -> list[Path]:
    """Write `model` and `tokenizer` as a Hugging Face checkpoint in `folder`; return its files."""
    if isinstance(model, PeftModel):
        raise TypeError("save_checkpoint takes a plain transformers model: call merge_for_export first")
    if not isinstance(model, PreTrainedModel):
        raise TypeError(f"expected a transformers model, got {type(model).__name__}")
    if not tokenizer.is_fast:
        raise TypeError("a checkpoint carries a fast tokenizer (tokenizer.json)")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    weights = list(target.glob("*.safetensors"))
    if not weights or any(target.glob("*.bin")):  # pragma: no cover - transformers 5 writes safetensors
        raise RuntimeError(f"the checkpoint in {str(target)!r} is not in safetensors format")
    return sorted(p for p in target.rglob("*") if p.is_file())


def load_checkpoint(folder: str | Path, task: Task) -> PreTrainedModel:
    """Load a checkpoint written by `save_checkpoint` as it is (its own label map and head)."""
    root = require_safetensors(folder)
    model = auto_class_for(task).from_pretrained(root, use_safetensors=True, local_files_only=True)
    if not isinstance(model, PreTrainedModel):  # pragma: no cover
        raise TypeError(f"unexpected model type {type(model).__name__}")
    return model


__all__ = ["CHECKPOINT_WEIGHTS", "load_checkpoint", "save_checkpoint"]
