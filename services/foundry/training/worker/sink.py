"""The worker's outlets into the object store: `StoreSink`, the loop's `EventSink` (loop events to
the job's stored progress events, train events throttled; checkpoints uploaded to the job's
latest and best slots), and `CancelPoller`, the loop's `should_stop` (the cancel marker, polled at
most every `interval_s`)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from foundry.runtime.errors import FoundryError
from foundry.runtime.objectstore import ObjectStore
from foundry.training import jobcheckpoints, jobstore
from foundry.training.jobstore import EventKind, EventWriter
from foundry.training.loop.events import CheckpointEvent, EvalEvent, StateEvent, StepEvent
from foundry.training.worker.options import WorkerOptions

log = logging.getLogger("foundry.training.worker")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class StoreSink:
    """The loop's `EventSink` for a worker: events to the job's stream, checkpoints uploaded."""

    def __init__(self, writer: EventWriter, store: ObjectStore, job_id: str, options: WorkerOptions) -> None:
        self.writer, self.store, self.job_id, self.options = writer, store, job_id, options
        self._last_train = -math.inf
        self._last_train_step = 0
        self._pending: list[StepEvent] = []
        self.uploaded_steps: list[int] = []

    def on_state(self, event: StateEvent) -> None:
        self._flush()
        self.writer.state(
            event.state, event.message, step=event.step, total_steps=event.total_steps, epoch=event.epoch
        )

    def on_step(self, event: StepEvent) -> None:
        self._pending.append(event)
        now = time.monotonic()
        every = self.options.train_event_every_steps
        if (
            now - self._last_train >= self.options.train_event_interval_s
            or event.step >= event.total_steps
            or (every and event.step - self._last_train_step >= every)
        ):
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        events, self._pending = self._pending, []
        last = events[-1]
        tokens = sum(e.num_tokens for e in events)
        samples = sum(e.num_samples for e in events)
        seconds = sum(e.num_tokens / e.tokens_per_s for e in events if e.tokens_per_s > 0)
        self.writer.append(
            EventKind.TRAIN,
            step=last.step,
            total_steps=last.total_steps,
            epoch=last.epoch,
            loss=_finite(float(np.mean([e.loss for e in events]))),
            learning_rate=last.learning_rate,
            throughput_tokens_per_s=tokens / seconds if seconds > 0 else last.tokens_per_s,
            throughput_samples_per_s=samples / seconds if seconds > 0 else last.samples_per_s,
        )
        self._last_train = time.monotonic()
        self._last_train_step = last.step

    def on_eval(self, event: EvalEvent) -> None:
        self._flush()
        metrics = {k: v for k, v in event.metrics.items() if math.isfinite(v)}
        self.writer.append(
            EventKind.EVAL,
            step=event.step,
            total_steps=event.total_steps,
            epoch=event.epoch,
            eval_metrics=metrics,
            message=f"{event.objective} {event.objective_value:.4f}" + (" (best)" if event.is_best else ""),
        )

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self._flush()
        try:
            index = jobcheckpoints.upload_checkpoint(self.store, self.job_id, event.path, event.step)
            if event.is_best:
                jobcheckpoints.upload_checkpoint(
                    self.store, self.job_id, event.path, event.step, jobcheckpoints.BEST_SLOT
                )
        except FoundryError as exc:  # a failed upload only makes the resume point older
            log.warning("checkpoint %s of job %s was not uploaded: %s", event.path.name, self.job_id, exc)
            self.writer.log(f"checkpoint {event.path.name} was not uploaded: {exc}", step=event.step)
            return
        self.uploaded_steps.append(event.step)
        self.writer.append(
            EventKind.CHECKPOINT,
            step=event.step,
            epoch=event.epoch,
            message=f"checkpoint {index.folder} ({event.reason.value}) uploaded to "
            f"{jobcheckpoints.checkpoint_prefix(self.job_id)}",
        )

    def on_checkpoint_removed(self, path: Path) -> None:
        pass  # the stored slot always holds the newest; the local folder is gone already

    def on_log(self, message: str) -> None:
        self._flush()
        self.writer.log(message)


class CancelPoller:
    """`should_stop` for the loop: looks at the cancel marker at most every `interval_s`."""

    def __init__(self, store: ObjectStore, job_id: str, interval_s: float) -> None:
        self.store, self.job_id, self.interval_s = store, job_id, interval_s
        self._last = -math.inf
        self.cancelled = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self._last >= self.interval_s:
            self._last = now
            self.cancelled = jobstore.cancel_requested(self.store, self.job_id)
        return self.cancelled
