"""What a training run leaves behind: its history (for curves) and its result.

`TrainHistory` holds one entry per optimizer step (loss, learning rate, gradient norm, real
tokens/s) in columns, and one `EvalRecord` per evaluation. It is stored in every checkpoint (as
plain lists and dicts, loadable with `weights_only=True`), so a resumed run returns the whole
history, not only its own part.

`TrainResult` is what `train()` returns: the state the loop ended in (SUCCEEDED when training
ran to its end, by plan or by early stopping; CANCELLED on request), why it stopped, the final
and best metrics, the best and last checkpoints, throughput and the history. `to_dict()` is its
JSON form (the worker's training report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from foundry.training.loop.events import JobState, StopReason


@dataclass(frozen=True, slots=True)
class EvalRecord:
    step: int
    epoch: float
    metrics: dict[str, float]


@dataclass
class TrainHistory:
    """Per-step training signals (parallel lists) and per-evaluation metrics."""

    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    evals: list[EvalRecord] = field(default_factory=list)

    def add_step(
        self,
        step: int,
        epoch: float,
        loss: float,
        learning_rate: float,
        grad_norm: float,
        tokens_per_s: float,
    ) -> None:
        self.step.append(step)
        self.epoch.append(epoch)
        self.loss.append(loss)
        self.learning_rate.append(learning_rate)
        self.grad_norm.append(grad_norm)
        self.tokens_per_s.append(tokens_per_s)

    def metric(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of one evaluation metric, over the evaluations that reported it."""
        pairs = [(record.step, record.metrics[key]) for record in self.evals if key in record.metrics]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["evals"] = [asdict(record) for record in self.evals]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainHistory:
        return cls(
            step=[int(v) for v in data.get("step", [])],
            epoch=[float(v) for v in data.get("epoch", [])],
            loss=[float(v) for v in data.get("loss", [])],
            learning_rate=[float(v) for v in data.get("learning_rate", [])],
            grad_norm=[float(v) for v in data.get("grad_norm", [])],
            tokens_per_s=[float(v) for v in data.get("tokens_per_s", [])],
            evals=[
                EvalRecord(int(r["step"]), float(r["epoch"]), {k: float(v) for k, v in r["metrics"].items()})
                for r in data.get("evals", [])
            ],
        )


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `train()` (see the module docstring)."""

    state: JobState
    stop_reason: StopReason
    #: a sentence on why training stopped
    message: str
    steps: int
    total_steps: int
    epoch: float
    objective: str
    objective_goal: str
    #: the last evaluation's flat metrics and full report (None without an eval split)
    final_metrics: dict[str, float] | None
    final_details: dict[str, Any] | None
    best_metrics: dict[str, float] | None
    best_details: dict[str, Any] | None
    best_step: int | None
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    #: real (non-padding) tokens and samples trained on, all ranks, and the seconds it took
    #: (evaluation and checkpoints excluded)
    train_tokens: int
    train_samples: int
    train_seconds: float
    #: fp16 steps skipped by the gradient scaler (inf/nan gradients)
    skipped_steps: int
    history: TrainHistory
    #: the precision that ran ("fp32", "bf16", "fp16")
    precision: str = "fp32"
    world_size: int = 1

    @property
    def tokens_per_s(self) -> float:
        return self.train_tokens / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def samples_per_s(self) -> float:
        return self.train_samples / self.train_seconds if self.train_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "stop_reason": self.stop_reason.value,
            "message": self.message,
            "steps": self.steps,
            "total_steps": self.total_steps,
            "epoch": self.epoch,
            "objective": self.objective,
            "objective_goal": self.objective_goal,
            "final_metrics": self.final_metrics,
            "final_details": self.final_details,
            "best_metrics": self.best_metrics,
            "best_details": self.best_details,
            "best_step": self.best_step,
            "best_checkpoint": str(self.best_checkpoint) if self.best_checkpoint else None,
            "last_checkpoint": str(self.last_checkpoint) if self.last_checkpoint else None,
            "train_tokens": self.train_tokens,
            "train_samples": self.train_samples,
            "train_seconds": self.train_seconds,
            "tokens_per_s": self.tokens_per_s,
            "samples_per_s": self.samples_per_s,
            "skipped_steps": self.skipped_steps,
            "precision": self.precision,
            "world_size": self.world_size,
            "history": self.history.to_dict(),
        }


__all__ = ["EvalRecord", "TrainHistory", "TrainResult"]
