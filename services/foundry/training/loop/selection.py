"""The objective: which evaluation is the best, and when to stop early.

`Objective(metric, goal, patience, min_delta)` judges each evaluation against the best so far
(kept in `LoopState`):

- best: the objective is strictly better than every earlier evaluation (any margin): its
  checkpoint becomes the best checkpoint;
- early stopping (patience > 0): an evaluation *improves* when it beats the best so far by more
  than `min_delta`; `patience` evaluations in a row without such an improvement stop training.
  The first evaluation always improves. So with `min_delta` 0.01 an evaluation 0.005 better
  than the best becomes the new best checkpoint and still counts towards patience.

`Judgement.stop_message` says in one sentence why training stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from foundry.runtime.errors import FailedPreconditionError
from foundry.training.loop.state import LoopState
from foundry.training.spec import JobSpec, MetricGoal


@dataclass(frozen=True, slots=True)
class Judgement:
    value: float
    is_best: bool
    improved: bool
    #: evaluations in a row without improvement, after this one
    bad_evaluations: int
    stop: bool
    stop_message: str = ""


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    goal: MetricGoal
    patience: int = 0
    min_delta: float = 0.0

    @classmethod
    def of(cls, spec: JobSpec) -> Objective:
        return cls(
            metric=spec.objective_metric,
            goal=spec.objective_goal,
            patience=spec.early_stopping.patience,
            min_delta=spec.early_stopping.min_delta,
        )

    def better(self, value: float, than: float | None, margin: float = 0.0) -> bool:
        """Whether `value` beats `than` by more than `margin` (anything beats None)."""
        if than is None:
            return True
        if self.goal is MetricGoal.MAXIMIZE:
            return value - than > margin
        return than - value > margin

    def judge(self, metrics: dict[str, float], state: LoopState) -> Judgement:
        """Judge an evaluation's metrics against `state` (which is not changed)."""
        if self.metric not in metrics:
            raise FailedPreconditionError(
                f"the evaluation reports no {self.metric!r} (it has {', '.join(sorted(metrics))})",
                reason="OBJECTIVE_NOT_REPORTED",
            )
        value = metrics[self.metric]
        is_best = math.isfinite(value) and self.better(value, state.best_value)
        improved = math.isfinite(value) and self.better(value, state.best_value, self.min_delta)
        bad = 0 if improved else state.bad_evaluations + 1
        stop = self.patience > 0 and bad >= self.patience
        message = ""
        if stop:
            best = "none" if state.best_value is None else f"{state.best_value:.4f} at step {state.best_step}"
            message = (
                f"early stopping at step {state.step}: {self.metric} ({self.goal.value}) did not improve "
                f"by more than {self.min_delta:g} for {bad} evaluations in a row (patience {self.patience}); "
                f"best {best}"
            )
        return Judgement(value, is_best, improved, bad, stop, message)


__all__ = ["Judgement", "Objective"]
