"""One optimizer step of the training loop: backward over an accumulation window (the loss sum
over the run's divisor, the label tokens of an average step, `loop.loss`), unscale (fp16), clip the gradient
norm (`max_grad_norm`, 0 disables), AdamW, the schedule; the batch's move to the device; and
`StepMeter`, the steps since the last report summed into one `StepEvent`."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from foundry.training.data.collate import Batch
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.events import StepEvent
from foundry.training.loop.loss import backward_window
from foundry.training.loop.precision import PrecisionPolicy
from foundry.training.spec import JobSpec


@dataclass(frozen=True)
class StepTotals:
    """One optimizer step, summed over all ranks: the loss sum and the counts of its window, the
    learning rate it used, the gradient norm before clipping, and whether fp16 skipped it."""

    loss_sum: float
    label_tokens: float
    tokens: float
    samples: float
    learning_rate: float
    grad_norm: float
    skipped: bool


def optimizer_step(
    model: nn.Module,
    micro: list[Batch],
    *,
    spec: JobSpec,
    policy: PrecisionPolicy,
    dist: DistContext,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    scaler: torch.amp.GradScaler | None,
    params: list[nn.Parameter],
    divisor: float | None = None,
) -> StepTotals:
    """Train `model` (DDP-wrapped where distributed) on the micro-batches of one window; the loss
    sum is divided by `divisor` (`loss.step_divisor`), or by the window's label tokens over all
    ranks when None (a token mean per step)."""
    label_tokens, tokens, samples = dist.all_reduce_sum(
        [
            sum(b.num_label_tokens for b in micro),
            sum(b.num_tokens for b in micro),
            sum(b.rows.size for b in micro),
        ]
    )
    local_loss = backward_window(
        model,
        micro,
        task=spec.task,
        policy=policy,
        divisor=label_tokens if divisor is None else divisor,
        world_size=dist.world_size,
        scaler=scaler,
    )
    if scaler is not None:
        scaler.unscale_(optimizer)
    limit = spec.max_grad_norm if spec.max_grad_norm > 0 else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, limit)
    learning_rate = float(optimizer.param_groups[0]["lr"])
    skipped = False
    if scaler is not None:
        scale = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        skipped = scaler.get_scale() < scale
    else:
        optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    loss_sum = dist.all_reduce_sum([float(local_loss)])[0]
    return StepTotals(loss_sum, label_tokens, tokens, samples, learning_rate, float(grad_norm), skipped)


def to_device(batch: Batch, device: torch.device) -> Batch:
    """`batch` on `device`: pinned and copied without blocking on CUDA, as it is elsewhere."""
    if device.type != "cuda":
        return batch
    types = batch.token_type_ids
    pinned = replace(
        batch,
        input_ids=batch.input_ids.pin_memory(),
        attention_mask=batch.attention_mask.pin_memory(),
        token_type_ids=types.pin_memory() if types is not None else None,
        labels=batch.labels.pin_memory(),
    )
    return pinned.to(device, non_blocking=True)


class StepMeter:
    """The steps since the last report: `event()` reports them as one `StepEvent` (loss over their
    label tokens, throughput over their time) and starts over."""

    def __init__(self) -> None:
        self._sums = [0.0] * 5  # loss sum, label tokens, tokens, samples, seconds

    def add(self, done: StepTotals, seconds: float) -> None:
        step = [done.loss_sum, done.label_tokens, done.tokens, done.samples, seconds]
        self._sums = [a + b for a, b in zip(self._sums, step, strict=True)]

    def event(
        self, step: int, total_steps: int, epoch: float, learning_rate: float, grad_norm: float
    ) -> StepEvent:
        loss_sum, label_tokens, tokens, samples, seconds = self._sums
        self._sums = [0.0] * 5
        return StepEvent(
            step=step,
            total_steps=total_steps,
            epoch=epoch,
            loss=loss_sum / max(label_tokens, 1.0),
            learning_rate=learning_rate,
            grad_norm=grad_norm,
            tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
            samples_per_s=samples / seconds if seconds > 0 else 0.0,
            num_tokens=int(tokens),
            num_samples=int(samples),
        )
