"""What the training loop reports, and the sink interface it reports to.

The loop calls an `EventSink` (on rank 0 only, under DDP) as things happen:

- `on_state(StateEvent)`: the loop's state changed: RUNNING when it starts or resumes,
  CANCELLED when it stops on request (the job's other states belong to the worker: QUEUED
  before the loop, SUCCEEDED or FAILED after export);
- `on_step(StepEvent)`: every `log_every_steps` optimizer steps: the mean loss over the
  interval, the learning rate, the gradient norm, real (non-padding) tokens/s and samples/s;
- `on_eval(EvalEvent)`: an evaluation finished: its flat metrics (fractions, losses), whether it
  is the best so far by the job's objective, and the task's full report (per type, confusion);
- `on_checkpoint(CheckpointEvent)`: a checkpoint folder is complete on disk (the hook where a
  worker copies it to the object store), and `on_checkpoint_removed(path)`: an older one was
  pruned (the hook where the worker deletes its copy);
- `on_log(message)`: a line worth showing (why training stopped, a precision fallback).

These mirror `foundry.common.v1.ProgressEvent` (kinds STATE, TRAIN, EVAL, CHECKPOINT, LOG);
the worker converts them. A sink that raises fails the training run: a sink that must not
(a flaky upload) catches its own errors.

`NullSink` ignores everything, `RecordingSink` keeps every event in order (tests, the worker's
in-process buffer), `LoggingSink` writes them to `logging`, `FanoutSink` forwards to several.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("foundry.training.loop")


class JobState(StrEnum):
    """A training job's state (`foundry.common.v1.JobState` without its prefix)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class StopReason(StrEnum):
    """Why the loop returned."""

    #: the planned epochs or max_steps are done
    COMPLETED = "completed"
    #: the objective stopped improving for `early_stopping.patience` evaluations
    EARLY_STOPPING = "early_stopping"
    #: `should_stop()` returned True
    CANCELLED = "cancelled"


class CheckpointReason(StrEnum):
    """Why a checkpoint was written (several may apply; the first in this order is named)."""

    BEST = "best"
    INTERVAL = "interval"
    EVALUATION = "evaluation"
    CANCEL = "cancel"
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class StateEvent:
    state: JobState
    step: int
    total_steps: int
    epoch: float
    message: str = ""


@dataclass(frozen=True, slots=True)
class StepEvent:
    """One logging interval of training (the steps since the previous `StepEvent`)."""

    step: int
    total_steps: int
    epoch: float
    #: mean training loss per label token (per example for classification) over the interval
    loss: float
    learning_rate: float
    #: the gradient norm before clipping, at `step`
    grad_norm: float
    tokens_per_s: float
    samples_per_s: float
    #: real tokens and samples over the interval, all ranks
    num_tokens: int
    num_samples: int


@dataclass(frozen=True, slots=True)
class EvalEvent:
    step: int
    total_steps: int
    epoch: float
    #: flat metrics by key ("eval_loss", "eval_f1", ...)
    metrics: dict[str, float]
    objective: str
    objective_value: float
    is_best: bool
    #: the task's full report (per entity type or class, confusion matrix)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CheckpointEvent:
    step: int
    epoch: float
    path: Path
    reason: CheckpointReason
    is_best: bool


@runtime_checkable
class EventSink(Protocol):
    """Receives the loop's reports (see the module docstring)."""

    def on_state(self, event: StateEvent) -> None: ...

    def on_step(self, event: StepEvent) -> None: ...

    def on_eval(self, event: EvalEvent) -> None: ...

    def on_checkpoint(self, event: CheckpointEvent) -> None: ...

    def on_checkpoint_removed(self, path: Path) -> None: ...

    def on_log(self, message: str) -> None: ...


class NullSink:
    """Ignores every event (the sink of ranks other than 0)."""

    def on_state(self, event: StateEvent) -> None:
        pass

    def on_step(self, event: StepEvent) -> None:
        pass

    def on_eval(self, event: EvalEvent) -> None:
        pass

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        pass

    def on_checkpoint_removed(self, path: Path) -> None:
        pass

    def on_log(self, message: str) -> None:
        pass


Event = StateEvent | StepEvent | EvalEvent | CheckpointEvent


class RecordingSink(NullSink):
    """Keeps every event in order; removed checkpoints and log lines in their own lists."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.removed: list[Path] = []
        self.messages: list[str] = []

    def on_state(self, event: StateEvent) -> None:
        self.events.append(event)

    def on_step(self, event: StepEvent) -> None:
        self.events.append(event)

    def on_eval(self, event: EvalEvent) -> None:
        self.events.append(event)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self.events.append(event)

    def on_checkpoint_removed(self, path: Path) -> None:
        self.removed.append(path)

    def on_log(self, message: str) -> None:
        self.messages.append(message)

    def of(self, kind: type[Event]) -> list[Any]:
        """The recorded events of one kind, in order."""
        return [event for event in self.events if isinstance(event, kind)]


class LoggingSink(NullSink):
    """Writes the events to a logger, one line each."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or log

    def on_state(self, event: StateEvent) -> None:
        self.log.info("state %s at step %d/%d: %s", event.state, event.step, event.total_steps, event.message)

    def on_step(self, event: StepEvent) -> None:
        self.log.info(
            "step %d/%d epoch %.2f loss %.4f lr %.3g grad_norm %.3g %.0f tokens/s %.1f samples/s",
            event.step,
            event.total_steps,
            event.epoch,
            event.loss,
            event.learning_rate,
            event.grad_norm,
            event.tokens_per_s,
            event.samples_per_s,
        )

    def on_eval(self, event: EvalEvent) -> None:
        shown = " ".join(f"{key}={value:.4f}" for key, value in sorted(event.metrics.items()))
        self.log.info("eval at step %d%s: %s", event.step, " (best)" if event.is_best else "", shown)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self.log.info("checkpoint (%s) at step %d: %s", event.reason, event.step, event.path)

    def on_checkpoint_removed(self, path: Path) -> None:
        self.log.info("checkpoint removed: %s", path)

    def on_log(self, message: str) -> None:
        self.log.info("%s", message)


class FanoutSink:
    """Forwards every event to each of `sinks`, in order."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def on_state(self, event: StateEvent) -> None:
        for sink in self.sinks:
            sink.on_state(event)

    def on_step(self, event: StepEvent) -> None:
        for sink in self.sinks:
            sink.on_step(event)

    def on_eval(self, event: EvalEvent) -> None:
        for sink in self.sinks:
            sink.on_eval(event)

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        for sink in self.sinks:
            sink.on_checkpoint(event)

    def on_checkpoint_removed(self, path: Path) -> None:
        for sink in self.sinks:
            sink.on_checkpoint_removed(path)

    def on_log(self, message: str) -> None:
        for sink in self.sinks:
            sink.on_log(message)


__all__ = [
    "CheckpointEvent",
    "CheckpointReason",
    "EvalEvent",
    "EventSink",
    "FanoutSink",
    "JobState",
    "LoggingSink",
    "NullSink",
    "RecordingSink",
    "StateEvent",
    "StepEvent",
    "StopReason",
]
