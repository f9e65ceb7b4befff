"""Freezing parameters: the embeddings and the first N transformer layers.

The parts are found generically, so that any BERT-like encoder (BERT, RoBERTa, DistilBERT,
ELECTRA, DeBERTa, ...) and most decoders work without a table per architecture:

- embeddings: `base_model.embeddings` (encoders), else `embed_tokens` / `wte` (decoders), else
  the module returned by `get_input_embeddings()`;
- layers: the first non-empty `nn.ModuleList` at `encoder.layer`, `encoder.layers`,
  `transformer.layer`, `layers`, `layer`, `h` or `block` under the base model.

Frozen parameters get `requires_grad=False`: they receive no gradient, so an optimizer that
holds them (AdamW included, weight decay too) leaves them unchanged.
"""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedModel

from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError

LAYER_PATHS = ("encoder.layer", "encoder.layers", "transformer.layer", "layers", "layer", "h", "block")
EMBEDDING_ATTRIBUTES = ("embeddings", "embed_tokens", "wte")


def base_of(model: nn.Module) -> nn.Module:
    """The backbone (`model.base_model`) of a task model; a PEFT wrapper is looked through."""
    get_base = getattr(model, "get_base_model", None)
    inner = get_base() if callable(get_base) else model
    base = getattr(inner, "base_model", inner)
    return base if isinstance(base, nn.Module) else inner


def find_embeddings(model: nn.Module) -> nn.Module:
    """The embedding block of `model` (see the module docstring for where it is looked for)."""
    base = base_of(model)
    for name in EMBEDDING_ATTRIBUTES:
        module = getattr(base, name, None)
        if isinstance(module, nn.Module):
            return module
    if isinstance(model, PreTrainedModel):
        return model.get_input_embeddings()
    raise FailedPreconditionError(
        f"cannot find the embeddings of a {type(model).__name__}", reason="EMBEDDINGS_NOT_FOUND"
    )


def find_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer layers of `model`; `FailedPreconditionError` if none is found."""
    base = base_of(model)
    for path in LAYER_PATHS:
        module: object = base
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            return module
    raise FailedPreconditionError(
        f"cannot find the transformer layers of a {type(model).__name__} "
        f"(looked for {', '.join(LAYER_PATHS)} under its base model); layer freezing is not supported",
        reason="LAYERS_NOT_FOUND",
        violations=[FieldViolation("freeze.first_n_layers", "the model's layers cannot be found")],
    )


def freeze(model: nn.Module, *, embeddings: bool = False, first_n_layers: int = 0) -> list[str]:
    """Freeze the embeddings and/or the first `first_n_layers` layers; return the frozen names.

    `InvalidArgumentError` (naming `freeze.first_n_layers`) when N is negative or larger than the
    number of layers.
    """
    if first_n_layers < 0:
        raise _bad_layers(f"must be at least 0, got {first_n_layers}")
    modules: list[nn.Module] = []
    if embeddings:
        modules.append(find_embeddings(model))
    if first_n_layers:
        layers = find_layers(model)
        if first_n_layers > len(layers):
            raise _bad_layers(f"is {first_n_layers}, but the model has only {len(layers)} layers")
        modules.extend(layers[:first_n_layers])
    frozen_ids = set()
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            frozen_ids.add(id(parameter))
    return [name for name, parameter in model.named_parameters() if id(parameter) in frozen_ids]


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return trainable, total


def _bad_layers(problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"freeze.first_n_layers {problem}",
        reason="INVALID_FREEZE",
        violations=[FieldViolation("freeze.first_n_layers", problem)],
    )


__all__ = ["base_of", "count_parameters", "find_embeddings", "find_layers", "freeze"]
