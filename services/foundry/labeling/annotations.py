"""Annotations (one annotator's label for one item) and their JSON form in the store."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from foundry.runtime.examples import Span

MODEL_PREFIX = "model:"
RULE_PREFIX = "rule:"


class Source(StrEnum):
    HUMAN = "human"
    MODEL = "model"
    RULE = "rule"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class Annotation:
    """One annotator's label for one item at one revision (see project.proto `Annotation`).

    Token classification keeps both `tags` and `spans` filled in (the other is derived on
    submit); `score`/`label_scores` come with model pre-labels."""

    item_id: str
    annotator: str
    revision: int = 1
    source: Source = Source.HUMAN
    label: str = ""
    labels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    spans: tuple[Span, ...] = ()
    skipped: bool = False
    score: float | None = None
    label_scores: dict[str, float] = field(default_factory=dict)
    created_at: str = ""

    def content(self) -> dict[str, Any]:
        """What the annotation says (for idempotency: equal content means the same revision)."""
        return {
            "source": self.source.value,
            "label": self.label,
            "labels": list(self.labels),
            "tags": list(self.tags),
            "spans": [[s.start, s.end, s.label] for s in self.spans],
            "skipped": self.skipped,
            "score": self.score,
            "label_scores": dict(sorted(self.label_scores.items())),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "annotator": self.annotator,
            "revision": self.revision,
            "created_at": self.created_at,
            **self.content(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Annotation:
        score = raw.get("score")
        return cls(
            item_id=str(raw["item_id"]),
            annotator=str(raw["annotator"]),
            revision=int(raw["revision"]),
            source=Source(raw["source"]),
            label=str(raw.get("label", "")),
            labels=tuple(raw.get("labels", ())),
            tags=tuple(raw.get("tags", ())),
            spans=tuple(Span(int(s), int(e), str(lab)) for s, e, lab in raw.get("spans", ())),
            skipped=bool(raw.get("skipped", False)),
            score=None if score is None else float(score),
            label_scores={str(k): float(v) for k, v in raw.get("label_scores", {}).items()},
            created_at=str(raw.get("created_at", "")),
        )

    def stamped(self, created_at: str) -> Annotation:
        return replace(self, created_at=created_at)


def is_model(annotator: str) -> bool:
    return annotator.startswith(MODEL_PREFIX)


def is_rule(annotator: str) -> bool:
    return annotator.startswith(RULE_PREFIX)


@dataclass(frozen=True)
class AnnotatorFilter:
    """Which annotations take part: `annotators` (empty: every human and imported one), plus
    model pre-labels and rule votes when asked."""

    annotators: tuple[str, ...] = ()
    include_models: bool = False
    include_rules: bool = False

    def admits(self, annotator: str) -> bool:
        if is_model(annotator):
            return self.include_models or annotator in self.annotators
        if is_rule(annotator):
            return self.include_rules or annotator in self.annotators
        return not self.annotators or annotator in self.annotators
