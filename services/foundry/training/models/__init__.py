"""Task models for fine-tuning: build, freeze, LoRA, merge, checkpoint.

- `load_task_model(folder, task, labels, seed=...)`: the token or sequence classification model
  from a base-model or checkpoint folder (safetensors only, local files only).
- `load_tokenizer(folder)`: its fast tokenizer.
- `freeze(model, embeddings=..., first_n_layers=...)`: freeze parts, found generically.
- `apply_lora(model, task, LoraSettings(...))`: LoRA adapters with the head in
  `modules_to_save`; `save_adapter` / `load_adapter` for resumable LoRA checkpoints.
- `merge_for_export(model)`: the plain transformers model (LoRA merged) for export.
- `save_checkpoint(model, tokenizer, folder)` / `load_checkpoint(folder, task)`: the Hugging
  Face checkpoint of a model version.

- `find_head_modules(model)`, `align_head(...)`: the task head, kept true to the label map.

Modules: `build`, `freeze`, `head`, `lora`, `checkpoint`.
"""

from foundry.training.models.build import (
    auto_class_for,
    load_task_model,
    load_tokenizer,
    require_safetensors,
    validate_labels,
)
from foundry.training.models.checkpoint import load_checkpoint, save_checkpoint
from foundry.training.models.freeze import count_parameters, find_embeddings, find_layers, freeze
from foundry.training.models.head import align_head, find_head_modules, saved_head_labels
from foundry.training.models.lora import (
    LoraSettings,
    apply_lora,
    default_target_modules,
    load_adapter,
    merge_for_export,
    save_adapter,
)

__all__ = [
    "LoraSettings",
    "align_head",
    "apply_lora",
    "auto_class_for",
    "count_parameters",
    "default_target_modules",
    "find_embeddings",
    "find_head_modules",
    "find_layers",
    "freeze",
    "load_adapter",
    "load_checkpoint",
    "load_task_model",
    "load_tokenizer",
    "merge_for_export",
    "require_safetensors",
    "save_adapter",
    "save_checkpoint",
    "saved_head_labels",
    "validate_labels",
]
