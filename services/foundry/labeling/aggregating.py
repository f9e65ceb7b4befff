"""Aggregating a project's annotations into one answer per item, paged through a stored snapshot;
agreement between annotators; labeling rules (weak supervision) and their votes. It knows
nothing of gRPC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from foundry.labeling import rules
from foundry.labeling.aggregation.levels import (
    AggregatedItem,
    Aggregation,
    Level,
    Method,
    Reliability,
    aggregate,
    default_level,
)
from foundry.labeling.agreement import AgreementReport, measure
from foundry.labeling.annotations import Annotation, AnnotatorFilter, Source, is_model, is_rule
from foundry.labeling.project import Project, validate_annotation
from foundry.labeling.projects import Projects
from foundry.runtime import paging
from foundry.runtime.examples import Span
from foundry.runtime.hashing import canonical_json_sha256
from foundry.runtime.limits import Limits

DEFAULT_PAGE = 1000
MAX_PAGE = 10_000
#: the most Dawid-Skene EM iterations one Aggregate may ask for (each is O(votes x labels))
MAX_ITERATIONS = 10_000
#: the most votes an item may be required to have
MAX_MIN_VOTES = 1000
#: the largest convergence tolerance (a log-likelihood gain); 0 runs to max_iterations
MAX_TOLERANCE = 1e6
#: the most rules one ApplyRules call may apply
MAX_RULES = 100


@dataclass(frozen=True)
class AggregateSpec:
    """How to aggregate: the method, the level (None: the task's default), whose annotations."""

    method: Method
    level: Level | None
    selection: AnnotatorFilter
    min_votes: int = 1
    max_iterations: int = 100
    tolerance: float = 1e-6


@dataclass(frozen=True)
class Aggregated:
    #: the same annotations aggregated the same way give the same id
    aggregation_id: str
    result: Aggregation


@dataclass(frozen=True)
class AggregationPage:
    """One page of an aggregation: `result.items` holds this page's items only."""

    aggregation_id: str
    result: Aggregation
    total_items: int
    next_page_token: str


@dataclass(frozen=True)
class RulesOutcome:
    stats: list[rules.RuleStats]
    items_covered: int
    items: int
    votes_stored: int


class Aggregating:
    def __init__(self, projects: Projects, *, rule_timeout_s: float = 1.0) -> None:
        self.projects = projects
        self.rule_timeout_s = rule_timeout_s

    def aggregate(self, project_id: str, spec: AggregateSpec) -> Aggregated:
        check_spec(spec)
        project = self.projects.project(project_id)
        level = self.projects.level(project, spec.level)
        annotations = self.projects.current(project, spec.selection)
        aggregation_id = canonical_json_sha256(
            {
                "annotations": sorted((a.annotator, a.item_id, a.revision) for a in annotations),
                "method": spec.method.value,
                "level": level.value,
                "min_votes": spec.min_votes,
                "max_iterations": spec.max_iterations,
                "tolerance": spec.tolerance,
            }
        )
        result = aggregate(
            project,
            annotations,
            self.projects.item_map(project),
            method=spec.method,
            level=level,
            min_votes=spec.min_votes,
            max_iterations=spec.max_iterations,
            tolerance=spec.tolerance,
        )
        return Aggregated(aggregation_id, result)

    def check(self, spec: AggregateSpec, page_size: int = 0) -> None:
        """INVALID_ARGUMENT for a spec or page size beyond the documented maxima; cheap, so the
        servicer runs it before the call takes a worker."""
        check_spec(spec)
        Limits().whole("page_size", page_size, MAX_PAGE).check()

    def aggregate_page(
        self, project_id: str, spec: AggregateSpec, page_token: str, page_size: int
    ) -> AggregationPage:
        """The first page aggregates (and, when there are more pages, stores the result); a page
        token (`<aggregation id>:<offset>`) reads the stored result, so pages never mix two runs."""
        self.check(spec, page_size)
        size = page_size or DEFAULT_PAGE
        aggregation_id, _, offset = page_token.partition(":")
        if page_token:
            stored = self.projects.store.get_aggregation(project_id, aggregation_id)
            result = _aggregation_from_json(stored["aggregation"])
        else:
            aggregated = self.aggregate(project_id, spec)
            aggregation_id, result = aggregated.aggregation_id, aggregated.result
            if len(result.items) > size:
                payload = {"aggregation": asdict(result)}
                self.projects.store.put_aggregation(project_id, aggregation_id, payload)
        start = paging.offset(offset)
        total = len(result.items)
        token = f"{aggregation_id}:{start + size}" if start + size < total else ""
        page = replace(result, items=result.items[start : start + size])
        return AggregationPage(aggregation_id, page, total, token)

    def agreement(
        self, project_id: str, level: Level | None, selection: AnnotatorFilter, method: Method
    ) -> AgreementReport:
        project = self.projects.project(project_id)
        level = self.projects.level(project, level)
        return measure(
            project,
            self.projects.current(project, selection),
            self.projects.item_map(project),
            level=level,
            method=method,
        )

    def apply_rules(self, project_id: str, rule_list: Sequence[rules.Rule], store: bool) -> RulesOutcome:
        Limits().count("rules", rule_list, MAX_RULES).check()
        project = self.projects.project(project_id)
        items = self.projects.items(project)
        resolved = [self._resolve_entries(r) for r in rule_list]
        votes = rules.apply_rules(project, resolved, items, timeout_s=self.rule_timeout_s)
        humans = [
            a
            for a in self.projects.store.state(project_id).current()
            if not (is_model(a.annotator) or is_rule(a.annotator))
        ]
        reference = aggregate(
            project,
            humans,
            self.projects.item_map(project),
            method=Method.MAJORITY_VOTE,
            level=default_level(project.task),
        )
        stats = rules.statistics(
            votes,
            len(items),
            {i.item_id: i.label for i in reference.items},
            {i.item_id: i.spans for i in reference.items},
        )
        covered = len(set().union(*(v.items for v in votes))) if votes else 0
        stored = self._store_rule_votes(project, votes) if store else 0
        return RulesOutcome(stats, covered, len(items), stored)

    def _resolve_entries(self, rule: rules.Rule) -> rules.Rule:
        """A gazetteer's stored entry list joined to its inline entries (read verified)."""
        if not rule.entries_key:
            return rule
        lines = self.projects.objects.get_bytes(rule.entries_key).decode("utf-8").splitlines()
        return replace(
            rule, terms=(*rule.terms, *(line.strip() for line in lines if line.strip())), entries_key=""
        )

    def _store_rule_votes(self, project: Project, all_votes: Sequence[rules.RuleVotes]) -> int:
        store = self.projects.store
        state = store.state(project.project_id)
        items = self.projects.item_map(project)
        candidates: list[Annotation] = []
        for votes in all_votes:
            name = f"rule:{votes.rule.name}"
            for item in sorted(votes.items):
                a = Annotation(
                    item,
                    name,
                    1,
                    Source.RULE,
                    label=votes.labels.get(item, ""),
                    spans=votes.spans.get(item, ()),
                )
                candidates.append(validate_annotation(project, items[item], a, "rule"))
            for (annotator, item), current in state.latest.items():  # items it no longer votes on
                if annotator == name and item not in votes.items and not current.skipped:
                    candidates.append(Annotation(item, name, 1, Source.RULE, skipped=True))
        stored, _ = store.append(project.project_id, self.projects.next_revisions(state, candidates), state)
        return stored


def check_spec(spec: AggregateSpec) -> None:
    """INVALID_ARGUMENT for a spec beyond the documented maxima (before any work)."""
    limits = Limits().whole("max_iterations", spec.max_iterations, MAX_ITERATIONS)
    limits.whole("min_votes", spec.min_votes, MAX_MIN_VOTES)
    limits.number("tolerance", spec.tolerance, MAX_TOLERANCE).check()


def _aggregation_from_json(raw: dict[str, Any]) -> Aggregation:
    """An `Aggregation` as `dataclasses.asdict` stored it (in JSON)."""
    items = [
        AggregatedItem(
            **{
                **i,
                "labels": tuple(i["labels"]),
                "tags": tuple(i["tags"]),
                "spans": tuple(Span(**s) for s in i["spans"]),
            }
        )
        for i in raw["items"]
    ]
    annotators = [
        Reliability(
            **{
                **r,
                "confusion_labels": tuple(r["confusion_labels"]),
                "confusion_counts": tuple(r["confusion_counts"]),
            }
        )
        for r in raw["annotators"]
    ]
    return Aggregation(
        Method(raw["method"]), Level(raw["level"]), items, annotators, raw["iterations"], raw["converged"]
    )
