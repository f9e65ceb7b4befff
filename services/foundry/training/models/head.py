"""The task head: finding it generically, and keeping its rows true to the label map.

`find_head_modules`: every direct child of the task model outside its backbone that has
parameters (`classifier`, DistilBERT's `pre_classifier`, RoBERTa's classification block,
`score`, ...), plus the backbone's `pooler` when it has one (BERT-like sequence classification
feeds the pooler into the classifier).

`align_head`: a folder that already holds a task head (an earlier model version) was trained
with its own label map. Row i of its output layer means *its* label i, so when the new job's
labels differ, loading the weights as they are would silently give every class another class's
weights. When the two label lists hold the same labels in another order, the output rows (and
biases) are permuted to the new order, keeping what was learned; when they hold other labels
(of the same count: a different count already gets a fresh layer from `from_pretrained`), the
output layer is re-initialised like a new head (normal, std `initializer_range`, zero bias).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedModel

from foundry.runtime.errors import FailedPreconditionError
from foundry.training.models.freeze import base_of

HEAD_SUFFIXES = ("ForTokenClassification", "ForSequenceClassification")


def find_head_modules(model: nn.Module) -> list[str]:
    """Names of the task head's modules (see the module docstring), for `modules_to_save`."""
    backbone = base_of(model)
    names = [
        name
        for name, child in model.named_children()
        if child is not backbone and any(True for _ in child.parameters())
    ]
    pooler = getattr(backbone, "pooler", None)
    if isinstance(pooler, nn.Module) and any(True for _ in pooler.parameters()):
        names.append("pooler")
    if not names:
        raise FailedPreconditionError(
            f"cannot find the task head of a {type(model).__name__}", reason="HEAD_NOT_FOUND"
        )
    return names


def output_layer(model: nn.Module, num_labels: int) -> nn.Linear | None:
    """The head's last `nn.Linear` with `num_labels` outputs (None if there is none)."""
    found: nn.Linear | None = None
    backbone = base_of(model)
    for name in find_head_modules(model):
        module = backbone.get_submodule(name) if name == "pooler" else model.get_submodule(name)
        for child in module.modules():
            if isinstance(child, nn.Linear) and child.out_features == num_labels:
                found = child
    return found


def saved_head_labels(folder: Path) -> list[str] | None:
    """The label list of the task head saved in `folder`, or None when it holds no task head."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        architectures = [str(a) for a in config.get("architectures") or []]
        id2label = config.get("id2label") or {}
        if not any(a.endswith(HEAD_SUFFIXES) for a in architectures) or not id2label:
            return None
        return [str(id2label[key]) for key in sorted(id2label, key=int)]
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def align_head(model: PreTrainedModel, saved: list[str] | None, labels: list[str]) -> str:
    """Make the output rows follow `labels`; return what was done ("kept", "permuted", "reset")."""
    if saved is None or saved == labels or len(saved) != len(labels):
        return "kept"
    layer = output_layer(model, len(labels))
    if layer is None:  # pragma: no cover - every supported head ends in a Linear
        return "kept"
    with torch.no_grad():
        if sorted(saved) == sorted(labels):
            order = torch.tensor([saved.index(label) for label in labels])
            layer.weight.copy_(layer.weight[order])
            if layer.bias is not None:
                layer.bias.copy_(layer.bias[order])
            return "permuted"
        layer.weight.normal_(mean=0.0, std=float(getattr(model.config, "initializer_range", 0.02)))
        if layer.bias is not None:
            layer.bias.zero_()
    return "reset"


__all__ = ["align_head", "find_head_modules", "output_layer", "saved_head_labels"]
