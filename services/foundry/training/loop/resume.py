"""Exact resume: the training state a checkpoint carries beside the weights, and its restore.

The state is the format, the plan's fingerprint (data, batch size, accumulation, seed, steps,
world size), the loop's counters (`LoopState`, with the position in the epoch's batch order), the
optimizer, the scheduler and the scaler; the RNG states are stored per rank by the checkpoint
itself. Since the batch plan is a pure function of the seed and the epoch, a restored run goes on
with the next batch and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from foundry.runtime.errors import FailedPreconditionError
from foundry.training.loop import checkpoints
from foundry.training.loop.state import LoopState

STATE_FORMAT = 1


def training_state(
    fingerprint: dict[str, Any],
    state: LoopState,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    scaler: torch.amp.GradScaler | None,
) -> dict[str, Any]:
    """What a checkpoint stores beside the weights to resume exactly."""
    return {
        "format": STATE_FORMAT,
        "plan": fingerprint,
        "loop": state.to_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
    }


def restore(
    folder: Path,
    *,
    fingerprint: dict[str, Any],
    model: nn.Module,
    optimizer: Optimizer,
    scheduler: LRScheduler,
    scaler: torch.amp.GradScaler | None,
    rank: int,
) -> LoopState:
    """Load checkpoint `folder` into the model, optimizer, scheduler, scaler and this rank's RNGs;
    return the loop's counters. `FailedPreconditionError` if it belongs to another plan."""
    training = checkpoints.read_training_state(folder)
    saved = training.get("plan", {})
    changed = sorted(k for k in fingerprint if saved.get(k) != fingerprint[k])
    if training.get("format") != STATE_FORMAT or changed:
        detail = ", ".join(f"{k}: {saved.get(k)} → {fingerprint[k]}" for k in changed)
        raise FailedPreconditionError(
            f"checkpoint {folder.name} belongs to another training plan ({detail or 'format'}); "
            "exact resume needs the same data, batch size, accumulation, seed, steps and world size",
            reason="CHECKPOINT_MISMATCH",
        )
    checkpoints.load_weights(model, folder)
    optimizer.load_state_dict(training["optimizer"])
    scheduler.load_state_dict(training["scheduler"])
    if scaler is not None and training.get("scaler"):
        scaler.load_state_dict(training["scaler"])
    state = LoopState.from_dict(training["loop"])
    checkpoints.restore_rng(checkpoints.read_rng(folder, rank))
    return state
