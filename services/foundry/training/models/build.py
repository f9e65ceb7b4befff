"""Building the task model (and its tokenizer) from a local Hugging Face folder.

The folder is a materialized base model or an earlier model version's checkpoint. The model is
`AutoModelForTokenClassification` for token classification and
`AutoModelForSequenceClassification` for text classification (`problem_type`
"multi_label_classification" for multi-label), with the job's label map. The task head is new
when the folder has none, or when its head has another shape (`ignore_mismatched_sizes`);
`seed` makes that initialisation reproducible. A head saved with another
label map is realigned to the new one (`foundry.training.models.head.align_head`).

Safety: weights are read from safetensors only (`use_safetensors=True`: transformers never
falls back to a pickle checkpoint, so nothing is unpickled), never from the network
(`local_files_only=True`), in fp32 (the trainer's autocast picks the compute precision).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.models.head import align_head, saved_head_labels

CLASSIFICATION_TASKS = (Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION)
MULTI_LABEL_PROBLEM = "multi_label_classification"
SINGLE_LABEL_PROBLEM = "single_label_classification"


def auto_class_for(task: Task) -> type[AutoModelForTokenClassification | AutoModelForSequenceClassification]:
    """The `AutoModelFor...` class of `task`; `InvalidArgumentError` for tasks without one here."""
    if task is Task.TOKEN_CLASSIFICATION:
        return AutoModelForTokenClassification
    if task in CLASSIFICATION_TASKS:
        return AutoModelForSequenceClassification
    raise InvalidArgumentError(
        f"task {task.value!r} has no encoder task model",
        reason="UNSUPPORTED_TASK",
        violations=[FieldViolation("task", f"{task.value} is not a classification task")],
    )


def load_task_model(
    folder: str | Path,
    task: Task,
    labels: Sequence[str],
    *,
    seed: int | None = None,
    attn_implementation: str | None = None,
) -> PreTrainedModel:
    """The task model for `task` with `labels` (index i is class i), loaded from `folder`."""
    auto_class = auto_class_for(task)
    root = require_safetensors(folder)
    label_list = validate_labels(labels)
    extra: dict[str, Any] = {}  # keyword arguments forwarded to from_pretrained
    if task in CLASSIFICATION_TASKS:
        extra["problem_type"] = (
            MULTI_LABEL_PROBLEM if task is Task.MULTILABEL_CLASSIFICATION else SINGLE_LABEL_PROBLEM
        )
    if attn_implementation is not None:
        extra["attn_implementation"] = attn_implementation
    with torch.random.fork_rng(enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = auto_class.from_pretrained(
            root,
            num_labels=len(label_list),
            id2label=dict(enumerate(label_list)),
            label2id={label: i for i, label in enumerate(label_list)},
            use_safetensors=True,
            local_files_only=True,
            ignore_mismatched_sizes=True,
            dtype=torch.float32,
            **extra,
        )
        if not isinstance(model, PreTrainedModel):  # pragma: no cover - the Auto classes return one
            raise TypeError(f"unexpected model type {type(model).__name__}")
        align_head(model, saved_head_labels(root), label_list)
    return model


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerBase:
    """The fast tokenizer saved in `folder` (`FailedPreconditionError` if it has no tokenizer.json)."""
    root = Path(folder)
    if not (root / "tokenizer.json").is_file():
        raise FailedPreconditionError(
            f"{str(root)!r} has no tokenizer.json (a fast tokenizer is required)",
            reason="FAST_TOKENIZER_REQUIRED",
            metadata={"folder": str(root)},
        )
    tokenizer = AutoTokenizer.from_pretrained(root, local_files_only=True)
    if not tokenizer.is_fast:
        raise FailedPreconditionError(f"the tokenizer in {str(root)!r} is not a fast tokenizer")
    return tokenizer


def validate_labels(labels: Sequence[str]) -> list[str]:
    """`labels` as a list if non-empty, all non-empty strings and distinct; else raise."""
    label_list = [str(label) for label in labels]
    problems = []
    if not label_list:
        problems.append("at least one label is required")
    if any(not label for label in label_list):
        problems.append("labels must be non-empty")
    if len(set(label_list)) != len(label_list):
        problems.append("labels must be distinct")
    if problems:
        raise InvalidArgumentError(
            f"invalid label set: {'; '.join(problems)}",
            reason="INVALID_LABEL_SET",
            violations=[FieldViolation("labels", problem) for problem in problems],
        )
    return label_list


def require_safetensors(folder: str | Path) -> Path:
    """`folder` if it holds safetensors weights, else `FailedPreconditionError` (nothing else is read)."""
    root = Path(folder)
    if not root.is_dir():
        raise FailedPreconditionError(
            f"model folder {str(root)!r} does not exist", reason="MODEL_FOLDER_NOT_FOUND"
        )
    if not any(root.glob("*.safetensors")):
        raise FailedPreconditionError(
            f"model folder {str(root)!r} has no .safetensors weights; other formats are never loaded",
            reason="SAFETENSORS_REQUIRED",
            metadata={"folder": str(root)},
        )
    return root


__all__ = ["auto_class_for", "load_task_model", "load_tokenizer", "require_safetensors", "validate_labels"]
