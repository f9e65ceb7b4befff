"""Inter-annotator agreement, vectorized: Cohen's kappa per pair, Fleiss' kappa, Krippendorff's
alpha (nominal, missing data allowed), span-level F1, and each annotator against the aggregate.

The coefficients work on a `VoteTable` (tasks x workers), so they serve every level: class
labels (multi-label: one yes/no task per label), token tags, and at the span level the token
tags too (spans are runs of tokens), with span F1 added on the spans themselves.

Formulas as in the reference implementations the tests compare with: `sklearn.metrics.
cohen_kappa_score`, `statsmodels.stats.inter_rater.fleiss_kappa` (over the tasks with the modal
number of raters), and the `krippendorff` package (nominal; units with one value are not
pairable and drop out).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from foundry.labeling.aggregation.levels import (
    Level,
    Method,
    aggregate,
    class_votes,
    group_by_item,
    run_model,
    token_votes,
)
from foundry.labeling.aggregation.votes import FloatArray, IntArray, VoteTable
from foundry.labeling.annotations import Annotation
from foundry.labeling.project import Project
from foundry.runtime.examples import Example, Span


def cohen_kappa(a: IntArray, b: IntArray, n_labels: int) -> float | None:
    """Cohen's kappa of two equally long label-code vectors; None when undefined."""
    if a.size == 0:
        return None
    confusion = np.bincount(a * n_labels + b, minlength=n_labels * n_labels).reshape(n_labels, n_labels)
    total = confusion.sum()
    observed = np.trace(confusion) / total
    expected = float(confusion.sum(axis=1) @ confusion.sum(axis=0)) / total**2
    if expected >= 1.0:
        return None
    return float((observed - expected) / (1.0 - expected))


def fleiss_kappa(counts: FloatArray) -> float | None:
    """Fleiss' kappa over the rows (tasks x label counts) with the modal number of raters."""
    raters = counts.sum(axis=1).astype(np.int64)
    raters_ok = raters[raters >= 2]
    if raters_ok.size == 0:
        return None
    modal = int(np.bincount(raters_ok).argmax())
    table = counts[raters == modal]
    n_tasks = table.shape[0]
    p_label = table.sum(axis=0) / (n_tasks * modal)
    p_task = ((table * table).sum(axis=1) - modal) / (modal * (modal - 1))
    p_bar, p_e = p_task.mean(), float((p_label * p_label).sum())
    if p_e >= 1.0:
        return None
    return float((p_bar - p_e) / (1.0 - p_e))


def krippendorff_alpha(counts: FloatArray) -> float | None:
    """Krippendorff's alpha, nominal, from value counts per unit (missing data: fewer values)."""
    m = counts.sum(axis=1)
    pairable = counts[m >= 2]
    if pairable.size == 0:
        return None
    weights = 1.0 / (pairable.sum(axis=1) - 1.0)
    coincidence = (pairable * weights[:, None]).T @ pairable - np.diag(
        (pairable * weights[:, None]).sum(axis=0)
    )
    n_c = coincidence.sum(axis=0)
    n = n_c.sum()
    disagreement_expected = n * n - float((n_c * n_c).sum())
    if disagreement_expected <= 0:
        return None
    disagreement_observed = n - float(np.trace(coincidence))
    return float(1.0 - (n - 1.0) * disagreement_observed / disagreement_expected)


def span_f1(a: Sequence[Sequence[Span]], b: Sequence[Sequence[Span]]) -> float | None:
    """Exact-match span F1 of `b` against `a` over the same items (symmetric); None when neither
    marked any span."""
    matched = total = 0
    for spans_a, spans_b in zip(a, b, strict=True):
        set_a, set_b = set(spans_a), set(spans_b)
        matched += len(set_a & set_b)
        total += len(set_a) + len(set_b)
    return None if total == 0 else 2.0 * matched / total


@dataclass(frozen=True)
class PairAgreement:
    annotator_a: str
    annotator_b: str
    items: int
    observed_agreement: float
    cohen_kappa: float | None
    span_f1: float | None = None


@dataclass(frozen=True)
class AnnotatorVsAggregate:
    annotator: str
    items: int
    agreement: float
    kappa: float | None
    span_f1: float | None = None


@dataclass(frozen=True)
class AgreementReport:
    level: Level
    items: int
    annotations: int
    pairs: list[PairAgreement]
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    annotators: list[AnnotatorVsAggregate]


def measure(
    project: Project,
    annotations: Sequence[Annotation],
    examples: Mapping[str, Example],
    *,
    level: Level,
    method: Method,
) -> AgreementReport:
    """Agreement among the given (current, filtered) annotations."""
    groups = group_by_item(annotations, 1)
    table = class_votes(project, groups) if level is Level.CLASS else token_votes(project, groups)
    dense = table.dense()
    counts = table.counts()
    winners = run_model(table, method, 100, 1e-6).winners
    spans: dict[str, dict[str, tuple[Span, ...]]] = defaultdict(dict)
    aggregated_spans: dict[str, tuple[Span, ...]] = {}
    if level is Level.SPAN:
        for a in annotations:
            if not a.skipped:
                spans[a.annotator][a.item_id] = a.spans
        result = aggregate(project, annotations, examples, method=method, level=Level.SPAN)
        aggregated_spans = {item.item_id: item.spans for item in result.items}
    pairs = [_pair(table, dense, level, spans, i, j) for i, j in combinations(range(table.n_workers), 2)]
    versus = [
        _versus(table, dense, winners, level, spans, aggregated_spans, w) for w in range(table.n_workers)
    ]
    item_raters: dict[str, int] = {item: len(group) for item, group in groups.items()}
    return AgreementReport(
        level=level,
        items=sum(1 for n in item_raters.values() if n >= 2),
        annotations=sum(item_raters.values()),
        pairs=[p for p in pairs if p.items > 0],
        fleiss_kappa=fleiss_kappa(counts),
        krippendorff_alpha=krippendorff_alpha(counts),
        annotators=versus,
    )


def _pair(
    table: VoteTable,
    dense: IntArray,
    level: Level,
    spans: dict[str, dict[str, tuple[Span, ...]]],
    i: int,
    j: int,
) -> PairAgreement:
    both = (dense[i] >= 0) & (dense[j] >= 0)
    a, b = dense[i][both], dense[j][both]
    name_a, name_b = table.worker_names[i], table.worker_names[j]
    f1 = None
    items = int(both.sum())
    if level is Level.SPAN:
        shared = sorted(spans[name_a].keys() & spans[name_b].keys())
        f1 = span_f1([spans[name_a][k] for k in shared], [spans[name_b][k] for k in shared])
        items = len(shared)
    observed = float((a == b).mean()) if a.size else 0.0
    return PairAgreement(name_a, name_b, items, observed, cohen_kappa(a, b, table.n_labels), f1)


def _versus(
    table: VoteTable,
    dense: IntArray,
    winners: IntArray,
    level: Level,
    spans: dict[str, dict[str, tuple[Span, ...]]],
    aggregated: dict[str, tuple[Span, ...]],
    w: int,
) -> AnnotatorVsAggregate:
    voted = dense[w] >= 0
    mine, agg = dense[w][voted], winners[voted]
    name = table.worker_names[w]
    items = int(voted.sum())
    f1 = None
    if level is Level.SPAN:
        keys = sorted(spans[name].keys() & aggregated.keys())
        f1 = span_f1([spans[name][k] for k in keys], [aggregated[k] for k in keys])
        items = len(keys)
    agreement = float((mine == agg).mean()) if mine.size else 0.0
    return AnnotatorVsAggregate(name, items, agreement, cohen_kappa(mine, agg, table.n_labels), f1)
