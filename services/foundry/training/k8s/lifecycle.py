"""What a trainer workload's status means, and what the executor does about it.

`phase_of(workload)` reads a Job's (or PyTorchJob's) conditions: running, succeeded or failed
(with the reason). `decide(...)` combines that with the job's state in the object store, the way
the `LocalExecutor` settles a worker that ended:

| store state | workload | action |
| --- | --- | --- |
| succeeded / failed / cancelled | any | nothing (a finished Job goes by its TTL) |
| cancelling | running, cancel older than the grace | delete it, record CANCELLED |
| cancelling | ended or gone | record CANCELLED |
| queued / running | ended or gone, attempts left, not timed out | start the next attempt (it resumes from the checkpoint) |
| queued / running | ended or gone, otherwise | record FAILED with the reason |
| anything else | | nothing |

A workload "ended" without its job reaching a final state when its worker died in a way that
Kubernetes gave up on (exit code 1 from torchrun, `backoffLimit` pod replacements used up, a
multi-node peer lost): a whole-job restart is the next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from foundry.training.jobstore import TERMINAL_STATES
from foundry.training.loop.events import JobState


class Phase(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    GONE = "gone"


class Action(StrEnum):
    NOTHING = "nothing"
    DELETE_AND_CANCEL = "delete-and-cancel"
    MARK_CANCELLED = "mark-cancelled"
    RESTART = "restart"
    MARK_FAILED = "mark-failed"


@dataclass(frozen=True)
class Observed:
    phase: Phase
    #: the Failed condition's reason (BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy, ...)
    reason: str = ""
    message: str = ""


_SUCCESS = {"Complete", "Succeeded", "SuccessCriteriaMet"}
_FAILURE = {"Failed", "FailureTarget"}
#: failures a restart cannot fix
_FINAL_REASONS = {"DeadlineExceeded"}


def phase_of(workload: dict[str, Any] | None) -> Observed:
    """The phase of a Job or PyTorchJob (as a dict); GONE for None."""
    if workload is None:
        return Observed(Phase.GONE)
    conditions = (workload.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if str(condition.get("status")) != "True":
            continue
        kind = condition.get("type")
        if kind in _FAILURE:
            return Observed(
                Phase.FAILED, str(condition.get("reason") or ""), str(condition.get("message") or "")
            )
        if kind in _SUCCESS:
            return Observed(Phase.SUCCEEDED)
    return Observed(Phase.RUNNING)


def decide(
    state: JobState,
    observed: Observed,
    *,
    attempts: int,
    max_attempts: int,
    cancel_age_s: float | None,
    cancel_grace_s: float,
) -> Action:
    """What to do about a job's latest workload (see the module docstring's table)."""
    if state in TERMINAL_STATES:
        return Action.NOTHING
    ended = observed.phase is not Phase.RUNNING
    if state is JobState.CANCELLING:
        if ended:
            return Action.MARK_CANCELLED
        if cancel_age_s is not None and cancel_age_s >= cancel_grace_s:
            return Action.DELETE_AND_CANCEL
        return Action.NOTHING
    if not ended:
        return Action.NOTHING
    if attempts < max_attempts and observed.reason not in _FINAL_REASONS:
        return Action.RESTART
    return Action.MARK_FAILED


def describe(name: str, observed: Observed) -> str:
    """A sentence for the job's event stream."""
    if observed.phase is Phase.GONE:
        return f"the trainer workload {name} is gone before the job finished"
    detail = ": ".join(p for p in (observed.reason, observed.message) if p)
    return f"the trainer workload {name} {observed.phase.value} before the job finished" + (
        f" ({detail})" if detail else ""
    )
