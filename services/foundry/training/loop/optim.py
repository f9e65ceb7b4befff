"""AdamW with weight decay where it belongs, and the learning-rate schedules.

`build_optimizer` puts the trainable parameters (those with `requires_grad`; frozen ones and
the base weights under LoRA are left out) into two groups, the usual transformer recipe: with
weight decay, every weight matrix; without, every bias and every normalization layer's
parameters (`nn.LayerNorm`, and any module whose class name ends in LayerNorm / RMSNorm /
GroupNorm, which covers the custom norms of many architectures). On CUDA and on the CPU it uses
the fused AdamW kernel (one multi-tensor update instead of a loop over the parameters: on the
CPU about six times faster than the per-tensor path, a fifth of a MiniLM training step), the
kernel Hugging Face's `Trainer` uses by default too.

`lr_factor(kind, step, warmup_steps, total_steps)` is the multiplier of the peak learning rate
after `step` optimizer steps: a linear warmup from 0 over `warmup_steps`, then linear decay to 0
at `total_steps`, cosine decay to 0, or constant. `build_scheduler` wraps it in a `LambdaLR`
whose function is a closure, so its `state_dict()` holds only numbers (loadable with
`torch.load(weights_only=True)`). `warmup_steps_for(ratio, total)` rounds up, as Hugging Face
does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import nn
from torch.optim import AdamW
from torch.optim.lr_scheduler import LambdaLR

from foundry.training.spec import LrScheduler

NORM_SUFFIXES = ("LayerNorm", "RMSNorm", "GroupNorm", "BatchNorm1d", "BatchNorm2d")
#: devices whose parameters AdamW updates with its fused kernel
FUSED_DEVICES = ("cuda", "cpu")


def no_decay_names(model: nn.Module) -> set[str]:
    """Names of the trainable parameters that take no weight decay (biases and norms)."""
    norm_params: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm) or type(module).__name__.endswith(NORM_SUFFIXES):
            norm_params.update(id(p) for p in module.parameters(recurse=False))
    return {
        name
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and (name.endswith("bias") or id(parameter) in norm_params)
    }


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """The two AdamW groups ("decay", "no_decay") of the trainable parameters; empty groups dropped."""
    skip = no_decay_names(model)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, parameter in _trainable(model):
        (no_decay if name in skip else decay).append(parameter)
    groups: list[dict[str, object]] = [
        {"params": decay, "weight_decay": weight_decay, "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "name": "no_decay"},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(model: nn.Module, learning_rate: float, weight_decay: float) -> AdamW:
    """AdamW over the trainable parameters of `model` (fused where the kernel exists)."""
    groups = parameter_groups(model, weight_decay)
    if not groups:
        raise ValueError("the model has no trainable parameters")
    fusable = all(p.device.type in FUSED_DEVICES and p.is_floating_point() for _, p in _trainable(model))
    return AdamW(groups, lr=learning_rate, betas=(0.9, 0.999), eps=1e-8, fused=True if fusable else None)


def warmup_steps_for(ratio: float, total_steps: int) -> int:
    """Warmup steps for a warmup ratio (rounded up)."""
    return math.ceil(ratio * total_steps)


def lr_factor(kind: LrScheduler, step: int, warmup_steps: int, total_steps: int) -> float:
    """The peak learning rate's multiplier after `step` optimizer steps (see the module docstring)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    if kind is LrScheduler.CONSTANT:
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if kind is LrScheduler.COSINE:
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - progress


def build_scheduler(
    optimizer: torch.optim.Optimizer, kind: LrScheduler, warmup_steps: int, total_steps: int
) -> LambdaLR:
    """A `LambdaLR` following `lr_factor`, stepped once per optimizer step."""

    def factor(step: int) -> float:
        return lr_factor(kind, step, warmup_steps, total_steps)

    schedule: Callable[[int], float] = factor
    return LambdaLR(optimizer, schedule)


def _trainable(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    return ((name, p) for name, p in model.named_parameters() if p.requires_grad)


__all__ = [
    "build_optimizer",
    "build_scheduler",
    "lr_factor",
    "no_decay_names",
    "parameter_groups",
    "warmup_steps_for",
]
