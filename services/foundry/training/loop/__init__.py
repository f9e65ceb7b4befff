"""The training loop: AdamW with warmup schedules, mixed precision, DDP, exact resume.

- `trainer`: `train(spec, model, train, eval, tokenizer_info, label_map, *, sink, checkpoint_dir,
  resume_from=None, should_stop=..., options=None) -> TrainResult`;
- `setup`: `LoopOptions`, the input checks, seeding;
- `events`: what the loop reports (`EventSink`, `StateEvent`, `StepEvent`, `EvalEvent`,
  `CheckpointEvent`) and `JobState` / `StopReason`;
- `results`: `TrainResult`, `TrainHistory` (per-step loss and learning rate, per-evaluation metrics);
- `loss`: the loss normalized by label tokens over a whole accumulation window (and all ranks);
- `step`: one optimizer step (backward, unscale, clip, AdamW, schedule) and the step reports;
- `optim`: AdamW parameter groups (no decay for biases and norms), linear / cosine / constant
  schedules with linear warmup;
- `precision`: the AMP policy (bf16 / fp16 + GradScaler on CUDA, fp32 on CPU);
- `distributed`: `DistContext` (torchrun env, gloo / NCCL, world size 1 without a process group);
- `evaluate`: loss and the task's metrics on an encoded split;
- `selection`: the objective (best checkpoint) and early stopping;
- `state`: the step plan and the loop's counters; `checkpoints`: resumable checkpoint folders
  (safetensors + `weights_only` state), pruning, `load_weights`;
- `resume`: the training state a checkpoint carries for an exact resume, and its restore;
- `curves`: `plot_curves(history, out_png)`.
"""

from foundry.training.loop.checkpoints import latest_checkpoint, list_checkpoints, load_weights
from foundry.training.loop.curves import plot_curves
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.evaluate import Evaluation, evaluate
from foundry.training.loop.events import (
    CheckpointEvent,
    CheckpointReason,
    EvalEvent,
    EventSink,
    FanoutSink,
    JobState,
    LoggingSink,
    NullSink,
    RecordingSink,
    StateEvent,
    StepEvent,
    StopReason,
)
from foundry.training.loop.precision import PrecisionPolicy, resolve_precision
from foundry.training.loop.results import EvalRecord, TrainHistory, TrainResult
from foundry.training.loop.setup import LoopOptions
from foundry.training.loop.trainer import train

__all__ = [
    "CheckpointEvent",
    "CheckpointReason",
    "DistContext",
    "EvalEvent",
    "EvalRecord",
    "Evaluation",
    "EventSink",
    "FanoutSink",
    "JobState",
    "LoggingSink",
    "LoopOptions",
    "NullSink",
    "PrecisionPolicy",
    "RecordingSink",
    "StateEvent",
    "StepEvent",
    "StopReason",
    "TrainHistory",
    "TrainResult",
    "evaluate",
    "latest_checkpoint",
    "list_checkpoints",
    "load_weights",
    "plot_curves",
    "resolve_precision",
    "train",
]
