"""What model-backed labeling work (`foundry.labeling.modelwork`) takes and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from foundry.labeling import selection
from foundry.runtime.examples import Span


@dataclass(frozen=True)
class ModelSpec:
    name: str
    version_id: str = ""
    int8: bool = False


@dataclass(frozen=True)
class PreLabelOutcome:
    #: `model:<version id>`, the annotator the pre-labels are stored as
    annotator: str
    items_labeled: int
    model_name: str
    model_version_id: str


@dataclass(frozen=True)
class SelectSpec:
    """Which items a model is least sure of, and how to choose among them."""

    model: ModelSpec
    count: int
    strategy: selection.Strategy
    reduction: selection.Reduction
    unlabeled_only: bool = True
    diversity_weight: float = 0.0
    seed: int = 0
    #: put the chosen items first in every annotator's queue
    prioritize: bool = False


@dataclass(frozen=True)
class SelectedItem:
    item_id: str
    score: float
    uncertainty: float


@dataclass(frozen=True)
class SelectOutcome:
    items: list[SelectedItem]
    candidates: int


@dataclass(frozen=True)
class ProbabilityRow:
    item_id: str
    probabilities: tuple[float, ...]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class IssueSpec:
    """Where the given labels come from ("dataset", "annotator" or "aggregate") and where the
    predicted probabilities do (a model, else the table)."""

    given: str
    annotator: str = ""
    model: ModelSpec | None = None
    table: Sequence[ProbabilityRow] = ()
    limit: int = 100
    #: ask the annotators to look at the items again
    create_tasks: bool = False


@dataclass(frozen=True)
class LabelIssue:
    item_id: str
    given: str
    suggested: str
    quality: float
    span: Span | None = None


@dataclass(frozen=True)
class IssuesOutcome:
    #: worst first
    issues: list[LabelIssue]
    items_checked: int
    estimated_noise_rate: float
    tasks_created: int
