"""How a training worker runs where the job's spec says nothing: event and cancel-poll intervals,
the device."""

from __future__ import annotations

from dataclasses import dataclass

#: most seconds between two stored train events (the last step is always stored)
TRAIN_EVENT_INTERVAL_S = 1.0
#: most seconds between two looks at the cancel marker
CANCEL_POLL_S = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker runs (what the spec does not say)."""

    train_event_interval_s: float = TRAIN_EVENT_INTERVAL_S
    #: store a train event at least every this many steps too (0: by time only)
    train_event_every_steps: int = 0
    cancel_poll_s: float = CANCEL_POLL_S
    #: the device to train on; None: the first GPU, else the CPU
    device: str | None = None
