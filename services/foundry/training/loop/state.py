"""The loop's bookkeeping: the step plan, and the counters a checkpoint carries.

`plan_steps(spec, micro_batches_per_epoch)`: every rank has the same number of micro-batches
per epoch (`data.batching.train_batches` guarantees it) and it is the same every epoch, so an
epoch has `ceil(micro / accumulation)` optimizer steps (the last window of an epoch may be
shorter; its loss sum is divided by the run's divisor like every other, so its tokens weigh the
same as everyone's, `loop.loss`). The
run has `epochs * steps_per_epoch` steps, or `max_steps` when that is set (then the epochs run
on, each with its own shuffle, until the steps are done). Warmup is `ceil(warmup_ratio * total)`.

`LoopState` is where the loop is (step, epoch, micro-batches of that epoch already done), the
best evaluation so far, the early-stopping count, running totals and the history. `to_dict()`
gives plain Python values only (numbers, strings, lists, dicts), so `torch.save` of it loads
back under `torch.load(weights_only=True)`; `plan_fingerprint` is what must not change between a
checkpoint and the run that resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foundry.training.loop.events import StopReason
from foundry.training.loop.optim import warmup_steps_for
from foundry.training.loop.results import TrainHistory
from foundry.training.spec import JobSpec


@dataclass(frozen=True, slots=True)
class StepPlan:
    micro_batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int


def plan_steps(spec: JobSpec, micro_batches_per_epoch: int) -> StepPlan:
    """The step plan of `spec` for an epoch of `micro_batches_per_epoch` micro-batches per rank."""
    accumulation = spec.gradient_accumulation_steps
    steps_per_epoch = -(-micro_batches_per_epoch // accumulation)
    total = spec.max_steps if spec.max_steps else spec.epochs * steps_per_epoch
    return StepPlan(
        micro_batches_per_epoch=micro_batches_per_epoch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        warmup_steps=warmup_steps_for(spec.warmup_ratio, total),
    )


def plan_fingerprint(spec: JobSpec, plan: StepPlan, world_size: int, train_rows: int) -> dict[str, Any]:
    """What a resumed run must share with its checkpoint for the batches to line up."""
    return {
        "world_size": world_size,
        "train_rows": train_rows,
        "batch_size": spec.batch_size,
        "gradient_accumulation_steps": spec.gradient_accumulation_steps,
        "group_by_length": spec.group_by_length,
        "seed": spec.seed,
        "micro_batches_per_epoch": plan.micro_batches_per_epoch,
        "total_steps": plan.total_steps,
    }


@dataclass
class LoopState:
    """Where the loop is and what it has seen (see the module docstring)."""

    step: int = 0
    epoch: int = 0
    #: micro-batches of `epoch` already trained on (this rank's plan; a multiple of the accumulation)
    position: int = 0
    best_value: float | None = None
    best_step: int | None = None
    #: folder name of the best checkpoint under the checkpoint directory
    best_checkpoint: str | None = None
    best_metrics: dict[str, float] | None = None
    best_details: dict[str, Any] | None = None
    last_metrics: dict[str, float] | None = None
    last_details: dict[str, Any] | None = None
    last_eval_step: int = -1
    #: evaluations in a row without an improvement larger than min_delta
    bad_evaluations: int = 0
    train_tokens: int = 0
    train_samples: int = 0
    train_seconds: float = 0.0
    skipped_steps: int = 0
    #: set when training has ended (planned steps done, early stopping): a run resumed from a
    #: checkpoint that has it trains no further
    stop_reason: StopReason | None = None
    stop_message: str = ""
    history: TrainHistory = field(default_factory=TrainHistory)

    def epoch_progress(self, micro_batches_per_epoch: int) -> float:
        """The fractional epoch (1.5: halfway through the second)."""
        return self.epoch + self.position / max(1, micro_batches_per_epoch)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "best_checkpoint": self.best_checkpoint,
            "best_metrics": self.best_metrics,
            "best_details": self.best_details,
            "last_metrics": self.last_metrics,
            "last_details": self.last_details,
            "last_eval_step": self.last_eval_step,
            "bad_evaluations": self.bad_evaluations,
            "train_tokens": self.train_tokens,
            "train_samples": self.train_samples,
            "train_seconds": self.train_seconds,
            "skipped_steps": self.skipped_steps,
            "stop_reason": self.stop_reason.value if self.stop_reason is not None else None,
            "stop_message": self.stop_message,
            "history": self.history.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        values = dict(data)
        history = TrainHistory.from_dict(values.pop("history", {}))
        reason = values.pop("stop_reason", None)
        return cls(history=history, stop_reason=StopReason(reason) if reason else None, **values)


__all__ = ["LoopState", "StepPlan", "plan_fingerprint", "plan_steps"]
