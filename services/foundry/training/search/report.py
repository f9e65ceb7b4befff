"""A search job's record of its trials, `jobs/<job_id>/search.json`: the budget, what was spent,
every trial (its child job, recipe, examples, cost, state and score) and the final job. The
runner rewrites it whenever a child starts or ends; `GetJob` reports it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from foundry.runtime.errors import NotFoundError
from foundry.runtime.objectstore import ObjectStore
from foundry.training import jobstore


def report_key(job_id: str) -> str:
    return f"{jobstore.job_prefix(job_id)}search.json"


@dataclass(slots=True)
class TrialRecord:
    job_id: str
    rung: int
    learning_rate: float
    epochs: int
    train_examples: int
    cost_units: int
    state: str = "queued"
    #: the best objective value on the eval split; None until the trial succeeded
    objective_value: float | None = None


@dataclass(slots=True)
class SearchReport:
    objective: str
    budget_units: int
    trials: list[TrialRecord] = field(default_factory=list)
    final_job_id: str = ""
    final_learning_rate: float = 0.0
    final_epochs: int = 0
    final_cost_units: int = 0

    @property
    def spent_units(self) -> int:
        return sum(t.cost_units for t in self.trials) + self.final_cost_units

    @property
    def child_job_ids(self) -> list[str]:
        return [t.job_id for t in self.trials] + ([self.final_job_id] if self.final_job_id else [])

    def trial(self, job_id: str) -> TrialRecord | None:
        return next((t for t in self.trials if t.job_id == job_id), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for trial in data["trials"]:
            value = trial["objective_value"]
            trial["objective_value"] = value if value is not None and math.isfinite(value) else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchReport:
        trials = [TrialRecord(**t) for t in data.get("trials", [])]
        return cls(**{**data, "trials": trials})


def write_report(store: ObjectStore, job_id: str, report: SearchReport) -> None:
    jobstore.put_json(store, report_key(job_id), report.to_dict())


def read_report(store: ObjectStore, job_id: str) -> SearchReport | None:
    """The job's report; None before the search wrote one."""
    try:
        return SearchReport.from_dict(jobstore.get_json(store, report_key(job_id)))
    except NotFoundError:
        return None
