"""Annotations → vote tables at one level (class, token, span), a label model → aggregated items.

- class: one task per item, the annotators' labels are the votes. Multi-label: one yes/no task
  per (item, label) ("each label of a multi-label set on its own").
- token: one task per (item, token), tags as labels; each item's winning tags are repaired to
  valid IOB2 afterwards.
- span: one yes/no task per candidate span (exact start, end and type marked by anyone); each
  annotator of the item votes yes if they marked it, no otherwise. Accepted spans that overlap
  are resolved greedily by confidence.

Rules abstain where they do not fire (as labeling functions do in Snorkel): a rule votes only on
the items it matched (class level), the tokens it tagged (token level) and the spans it marked
(span level); a rule that knows one entity type has no say on the others.

The same label model (majority vote or Dawid-Skene) runs at every level, so an annotator's
reliability is estimated at that level.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from foundry.domain.tags import OUTSIDE, repair_iob2
from foundry.labeling.aggregation.models import LabelModelResult, dawid_skene, majority_vote
from foundry.labeling.aggregation.votes import FloatArray, VoteTable
from foundry.labeling.annotations import Annotation, Source
from foundry.labeling.project import Project, item_spans, item_tags
from foundry.runtime.examples import Example, Span, Task

NO, YES = "no", "yes"
SEP = "\x1f"


class Method(StrEnum):
    MAJORITY_VOTE = "majority_vote"
    DAWID_SKENE = "dawid_skene"


class Level(StrEnum):
    CLASS = "class"
    TOKEN = "token"
    SPAN = "span"


def default_level(task: Task) -> Level:
    return Level.SPAN if task is Task.TOKEN_CLASSIFICATION else Level.CLASS


@dataclass(frozen=True)
class AggregatedItem:
    item_id: str
    confidence: float
    votes: int
    label: str = ""
    labels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    spans: tuple[Span, ...] = ()
    #: annotator → what they said (label, labels, or [[start, end, label], ...])
    by_annotator: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reliability:
    annotator: str
    accuracy: float
    annotations: int
    confusion_labels: tuple[str, ...] = ()
    confusion_counts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Aggregation:
    method: Method
    level: Level
    items: list[AggregatedItem]
    annotators: list[Reliability]
    iterations: int = 0
    converged: bool = True


def run_model(table: VoteTable, method: Method, max_iterations: int, tolerance: float) -> LabelModelResult:
    if method is Method.MAJORITY_VOTE:
        return majority_vote(table)
    return dawid_skene(table, max_iterations=max_iterations, tolerance=tolerance)


def _said(project: Project, annotation: Annotation) -> Any:
    if project.task is Task.TEXT_CLASSIFICATION:
        return annotation.label
    if project.task is Task.MULTILABEL_CLASSIFICATION:
        return list(annotation.labels)
    return [[s.start, s.end, s.label] for s in annotation.spans]


def group_by_item(annotations: Sequence[Annotation], min_votes: int) -> dict[str, list[Annotation]]:
    groups: dict[str, list[Annotation]] = defaultdict(list)
    for annotation in annotations:
        if not annotation.skipped:
            groups[annotation.item_id].append(annotation)
    return {item: group for item, group in groups.items() if len(group) >= min_votes}


def class_votes(project: Project, groups: dict[str, list[Annotation]]) -> VoteTable:
    if project.task is Task.MULTILABEL_CLASSIFICATION:
        return VoteTable.build(
            (
                (f"{item}{SEP}{label}", a.annotator, YES if label in a.labels else NO)
                for item, group in groups.items()
                for label in project.labels
                for a in group
            ),
            [NO, YES],
        )
    return VoteTable.build(
        ((item, a.annotator, a.label) for item, group in groups.items() for a in group),
        project.labels,
        tasks=list(groups),
    )


def token_votes(project: Project, groups: dict[str, list[Annotation]]) -> VoteTable:
    return VoteTable.build(
        (
            (f"{item}{SEP}{position}", a.annotator, tag)
            for item, group in groups.items()
            for a in group
            for position, tag in enumerate(a.tags)
            if tag != OUTSIDE or a.source is not Source.RULE  # rules abstain where they did not fire
        ),
        project.tag_set(),
    )


def span_votes(groups: dict[str, list[Annotation]]) -> VoteTable:
    def candidates() -> Any:
        for item, group in groups.items():
            marked = {(s.start, s.end, s.label) for a in group for s in a.spans}
            for start, end, label in sorted(marked):
                for a in group:
                    has = any((s.start, s.end, s.label) == (start, end, label) for s in a.spans)
                    if has or a.source is not Source.RULE:  # rules abstain where they did not fire
                        yield f"{item}{SEP}{start}{SEP}{end}{SEP}{label}", a.annotator, YES if has else NO

    return VoteTable.build(candidates(), [NO, YES])


def _reliabilities(
    table: VoteTable, result: LabelModelResult, groups: dict[str, list[Annotation]]
) -> list[Reliability]:
    """Per annotator: estimated accuracy at the level, the annotations (items) that took part,
    and the expected confusion counts over the level's votes (Dawid-Skene)."""
    annotations = Counter(a.annotator for group in groups.values() for a in group)
    out = []
    counts = expected_confusion(table, result.posteriors) if result.confusion is not None else None
    for w, name in enumerate(table.worker_names):
        confusion: tuple[int, ...] = ()
        if counts is not None:
            confusion = tuple(int(c) for c in np.rint(counts[w]).ravel())
        out.append(
            Reliability(
                name,
                float(result.worker_accuracy[w]),
                annotations[name],
                tuple(table.labels) if counts is not None else (),
                confusion,
            )
        )
    return out


def expected_confusion(table: VoteTable, posteriors: FloatArray) -> FloatArray:
    """Expected counts (worker, true, given) under the posteriors."""
    k, nw = table.n_labels, table.n_workers
    given = table.worker * k + table.label
    counts = np.empty((nw * k, k))
    for true in range(k):
        counts[:, true] = np.bincount(given, weights=posteriors[table.task, true], minlength=nw * k)
    return counts.reshape(nw, k, k).transpose(0, 2, 1)


def aggregate(
    project: Project,
    annotations: Sequence[Annotation],
    examples: Mapping[str, Example],
    *,
    method: Method,
    level: Level,
    min_votes: int = 1,
    max_iterations: int = 100,
    tolerance: float = 1e-6,
) -> Aggregation:
    """Aggregate the given (current, filtered, validated) annotations of a project; `examples`
    holds every annotated item (token classification needs their tokens and text)."""
    groups = group_by_item(annotations, max(min_votes, 1))
    if level is Level.CLASS:
        table = class_votes(project, groups)
    elif level is Level.TOKEN:
        table = token_votes(project, groups)
    else:
        table = span_votes(groups)
    result = run_model(table, method, max_iterations, tolerance)
    builders = {Level.CLASS: _class_items, Level.TOKEN: _token_items, Level.SPAN: _span_items}
    items = builders[level](project, groups, examples, table, result)
    return Aggregation(
        method, level, items, _reliabilities(table, result, groups), result.iterations, result.converged
    )


def _item(
    project: Project, item: str, group: list[Annotation], confidence: float, **payload: Any
) -> AggregatedItem:
    return AggregatedItem(
        item,
        float(confidence),
        len(group),
        by_annotator={a.annotator: _said(project, a) for a in group},
        **payload,
    )


def _class_items(
    project: Project,
    groups: dict[str, list[Annotation]],
    examples: Mapping[str, Example],
    table: VoteTable,
    result: LabelModelResult,
) -> list[AggregatedItem]:
    if project.task is not Task.MULTILABEL_CLASSIFICATION:
        return [
            _item(project, item, groups[item], result.confidence[t], label=table.labels[result.winners[t]])
            for t, item in enumerate(table.task_names)
        ]
    chosen: dict[str, list[str]] = defaultdict(list)
    confidences: dict[str, list[float]] = defaultdict(list)
    for t, name in enumerate(table.task_names):
        item, label = name.split(SEP)
        confidences[item].append(float(result.confidence[t]))
        if table.labels[result.winners[t]] == YES:
            chosen[item].append(label)
    return [
        _item(project, item, group, float(np.mean(confidences[item])), labels=tuple(sorted(chosen[item])))
        for item, group in groups.items()
    ]


def _token_items(
    project: Project,
    groups: dict[str, list[Annotation]],
    examples: Mapping[str, Example],
    table: VoteTable,
    result: LabelModelResult,
) -> list[AggregatedItem]:
    tags: dict[str, dict[int, str]] = defaultdict(dict)
    confidences: dict[str, list[float]] = defaultdict(list)
    for t, name in enumerate(table.task_names):
        item, position = name.split(SEP)
        tags[item][int(position)] = table.labels[result.winners[t]]
        confidences[item].append(float(result.confidence[t]))
    out = []
    for item, group in groups.items():
        # a token nobody voted on (only rules annotated the item, and none fired there) is outside
        sequence = [tags[item].get(i, OUTSIDE) for i in range(len(examples[item].tokens or []))]
        repaired, _ = repair_iob2(sequence)
        spans = item_spans(examples[item], repaired)
        conf = float(np.mean(confidences[item])) if confidences[item] else 1.0
        out.append(_item(project, item, group, conf, tags=tuple(repaired), spans=tuple(spans)))
    return out


def _span_items(
    project: Project,
    groups: dict[str, list[Annotation]],
    examples: Mapping[str, Example],
    table: VoteTable,
    result: LabelModelResult,
) -> list[AggregatedItem]:
    accepted: dict[str, list[tuple[float, Span]]] = defaultdict(list)
    rejected: dict[str, list[float]] = defaultdict(list)
    for t, name in enumerate(table.task_names):
        item, start, end, label = name.split(SEP)
        if table.labels[result.winners[t]] == YES:
            accepted[item].append((float(result.confidence[t]), Span(int(start), int(end), label)))
        else:
            rejected[item].append(float(result.confidence[t]))
    out = []
    for item, group in groups.items():
        kept: list[tuple[float, Span]] = []
        for conf, span in sorted(accepted[item], key=lambda cs: (-cs[0], cs[1].start)):
            if all(span.end <= other.start or other.end <= span.start for _, other in kept):
                kept.append((conf, span))
        kept.sort(key=lambda cs: cs[1].start)
        spans = [s for _, s in kept]
        if kept:
            confidence = float(np.mean([c for c, _ in kept]))
        else:
            confidence = float(np.mean(rejected[item])) if rejected[item] else 1.0
        tags = item_tags(examples[item], spans, item)
        out.append(_item(project, item, group, confidence, tags=tuple(tags), spans=tuple(spans)))
    return out
