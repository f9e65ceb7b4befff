"""The loss, normalized per label token over a whole accumulation window.

The common bug: with gradient accumulation, each micro-batch's loss is a mean over *its own*
label tokens, and the micro-batch losses are averaged; a micro-batch with 10 label tokens then
weighs as much as one with 300, and the gradient is not the large batch's. Here the loss of a
window is

    sum of the per-token losses of every micro-batch of the window (every rank)
    ----------------------------------------------------------------------------
                 number of label tokens in the window (every rank)

so the gradient equals that of one batch holding the whole window, however it was cut into
micro-batches, padded, or spread over ranks. Each micro-batch's backward takes its loss *sum*
times `world_size / window_label_tokens` (DDP averages gradients over ranks, the `world_size`
factor undoes that), where the window's label-token count is known before the first forward
(the collator counts it, the ranks sum it in one all-reduce).

Per task: token classification sums the cross-entropy of the labeled positions (the first
sub-token of each word); chat the cross-entropy of the next-token targets of the assistant
turns (the collator shifts them); single-label classification one cross-entropy per example;
multi-label the mean binary cross-entropy over the classes, one term per example (Hugging
Face's `BCEWithLogitsLoss` mean, for one batch). The logits are cast to fp32 first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.data.collate import Batch
from foundry.training.data.labels import IGNORE_INDEX
from foundry.training.loop.distributed import no_sync
from foundry.training.loop.precision import PrecisionPolicy

TRAINABLE_TASKS = (
    Task.TOKEN_CLASSIFICATION,
    Task.TEXT_CLASSIFICATION,
    Task.MULTILABEL_CLASSIFICATION,
    Task.CHAT,
)


def check_task(task: Task) -> None:
    """`InvalidArgumentError` for tasks this loop does not train."""
    if task not in TRAINABLE_TASKS:
        raise InvalidArgumentError(
            f"the training loop trains {', '.join(t.value for t in TRAINABLE_TASKS)}, not {task.value}",
            reason="UNSUPPORTED_TASK",
        )


def loss_sum(logits: torch.Tensor, labels: torch.Tensor, task: Task) -> torch.Tensor:
    """The sum of the per-label-token (per-example) losses of one batch, in fp32."""
    scores = logits.float()
    if task is Task.MULTILABEL_CLASSIFICATION:
        keep = labels[:, 0] != IGNORE_INDEX
        per_class = F.binary_cross_entropy_with_logits(scores[keep], labels[keep].float(), reduction="none")
        return per_class.mean(dim=1).sum()
    return F.cross_entropy(
        scores.reshape(-1, scores.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def forward_logits(model: nn.Module, batch: Batch, policy: PrecisionPolicy) -> torch.Tensor:
    """The model's logits for `batch` under the precision policy."""
    with policy.autocast():
        output = model(**batch.model_inputs())
    logits = output.logits if hasattr(output, "logits") else output[0]
    if not isinstance(logits, torch.Tensor):  # pragma: no cover - every HF task model returns logits
        raise TypeError(f"the model returned {type(logits).__name__}, not logits")
    return logits


def backward_window(
    model: nn.Module,
    micro_batches: Sequence[Batch],
    *,
    task: Task,
    policy: PrecisionPolicy,
    window_label_tokens: float,
    world_size: int = 1,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """Backward over one accumulation window (gradients add up in `.grad`); return this rank's
    loss sum over the window (detached, on the model's device).

    `window_label_tokens` is the label-token count of the whole window over all ranks."""
    factor = world_size / max(window_label_tokens, 1.0)
    total: torch.Tensor | None = None
    last = len(micro_batches) - 1
    for index, batch in enumerate(micro_batches):
        with no_sync(model, skip=index < last):
            summed = loss_sum(forward_logits(model, batch, policy), batch.labels, task)
            scaled = summed * factor
            (scaler.scale(scaled) if scaler is not None else scaled).backward()  # type: ignore[no-untyped-call]
        detached = summed.detach()
        total = detached if total is None else total + detached
    if total is None:
        raise ValueError("an accumulation window needs at least one micro-batch")
    return total


__all__ = ["TRAINABLE_TASKS", "backward_window", "check_task", "forward_logits", "loss_sum"]
