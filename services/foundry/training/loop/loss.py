"""The loss: every labelled token of a run weighs the same, whatever batch it lands in.

Length grouping (`data.batching`) puts short rows with short rows, so optimizer steps carry very
different numbers of label tokens (13 to 745 on a 3,000-sentence NER corpus at batch 16). A loss
that is a mean per step (or per micro-batch) gives a token of a short-row step many times the
weight of a token of a long-row step: the model trains mostly on short sentences. Here the loss of
every optimizer step is

    sum of the per-token losses of every micro-batch of the step (every rank)
    -------------------------------------------------------------------------
      the run's divisor: label tokens of the whole epoch / optimizer steps per epoch

one constant for the whole run (`step_divisor`: the label tokens of an average step, known before
the first step from the encoded split, the same on every rank). So the gradient of a step is the
sum of its tokens' gradients over one number: every token weighs the same in every step, however
the rows were ordered, grouped by length, padded, cut into micro-batches of an accumulation window
or spread over ranks, and over an epoch the steps' gradients add up to steps-per-epoch times the
gradient of the token mean of the whole split (what shuffled batches give on average). A step of
average size gets exactly the token mean's scale. Each micro-batch's backward takes its loss *sum*
times `world_size / divisor` (DDP averages gradients over ranks, the `world_size` factor undoes
that). The *reported* loss stays the token mean of each step (`loop.step`).

Per task, a loss term is: token classification, the cross-entropy of a labeled position (the first
sub-token of each word); chat, the cross-entropy of a next-token target of an assistant turn (the
collator shifts them); single-label classification, one cross-entropy per example; multi-label,
the mean binary cross-entropy over the classes, one term per example (Hugging Face's
`BCEWithLogitsLoss` mean, for one batch). The logits are cast to fp32 first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.data.collate import Batch
from foundry.training.data.encoded import EncodedSplit
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


def loss_terms_per_row(split: EncodedSplit) -> npt.NDArray[np.int64]:
    """The loss terms each row of `split` contributes, as the collator counts them
    (`Batch.num_label_tokens`): chat targets are shifted, so a row's first label is no term."""
    if split.task is Task.CHAT:
        labelled = np.concatenate([[0], np.cumsum(split.labels != IGNORE_INDEX)])
        starts = split.offsets[:-1] + (split.lengths > 0)
        return np.asarray(labelled[split.offsets[1:]] - labelled[starts], np.int64)
    if split.task is Task.TOKEN_CLASSIFICATION:
        return split.label_tokens_per_row()
    labels = np.asarray(split.labels)
    kept = labels[:, 0] != IGNORE_INDEX if labels.ndim == 2 else labels != IGNORE_INDEX
    return np.asarray(kept, np.int64)


def step_divisor(split: EncodedSplit, steps_per_epoch: int) -> float:
    """The run's loss divisor: the loss terms of an average optimizer step over all ranks (every
    row is in exactly one batch per epoch, so it is the split's terms over the steps per epoch)."""
    return max(float(loss_terms_per_row(split).sum()) / max(steps_per_epoch, 1), 1.0)


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
    divisor: float,
    world_size: int = 1,
    scaler: torch.amp.GradScaler | None = None,
) -> torch.Tensor:
    """Backward over one accumulation window (gradients add up in `.grad`); return this rank's
    loss sum over the window (detached, on the model's device).

    Each micro-batch's loss sum is divided by `divisor` (the run's `step_divisor`; the window's
    own label-token count over all ranks gives a per-step token mean instead)."""
    factor = world_size / max(divisor, 1.0)
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


__all__ = [
    "TRAINABLE_TASKS",
    "backward_window",
    "check_task",
    "forward_logits",
    "loss_sum",
    "loss_terms_per_row",
    "step_divisor",
]
