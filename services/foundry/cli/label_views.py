"""What `foundry label` shows: tables of projects, annotator reliability, agreement (pairwise
Cohen's kappa and span F1, Fleiss' kappa, Krippendorff's alpha), rules and label issues, and a
PNG plot of annotator reliability."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from rich.table import Table

from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2


def short(annotator: str) -> str:
    """An annotator as shown: model versions (`model:<sha256>`) cut to 12 hex digits."""
    if annotator.startswith("model:") and len(annotator) > 18:
        return annotator[:18] + "…"
    return annotator


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def project_table(projects: Sequence[project_pb2.Project]) -> Table:
    table = Table(title="labeling projects")
    for column in (
        "project id",
        "name",
        "dataset",
        "annotators",
        "overlap",
        "items",
        "complete",
        "annotations",
    ):
        table.add_column(
            column, justify="right" if column in ("overlap", "items", "complete", "annotations") else "left"
        )
    for p in projects:
        table.add_row(
            p.project_id,
            p.name,
            f"{p.dataset.name}@{p.dataset.version_id[:12]}",
            ", ".join(p.annotators),
            str(p.overlap),
            str(p.progress.items),
            str(p.progress.items_complete),
            str(p.progress.annotations),
        )
    return table


def reliability_table(response: pb.AggregateResponse) -> Table:
    method = pb.AggregationMethod.Name(response.method).removeprefix("AGGREGATION_METHOD_").lower()
    level = pb.AnnotationLevel.Name(response.level).removeprefix("ANNOTATION_LEVEL_").lower()
    done = "converged" if response.converged else "not converged"
    table = Table(
        title=f"annotator reliability ({method}, {level} level, {response.items} items, "
        f"{response.iterations} iterations, {done})"
    )
    for column in ("annotator", "estimated accuracy", "annotations"):
        table.add_column(column, justify="left" if column == "annotator" else "right")
    for a in sorted(response.annotators, key=lambda a: -a.accuracy):
        table.add_row(short(a.annotator), f"{a.accuracy:.3f}", f"{a.annotations:,}")
    return table


def agreement_tables(response: pb.AgreementResponse) -> tuple[Table, Table]:
    level = pb.AnnotationLevel.Name(response.level).removeprefix("ANNOTATION_LEVEL_").lower()
    fleiss = _num(response.fleiss_kappa if response.HasField("fleiss_kappa") else None)
    alpha = _num(response.krippendorff_alpha if response.HasField("krippendorff_alpha") else None)
    pairs = Table(
        title=f"pairwise agreement ({level} level, {response.items} items, {response.annotations} annotations); "
        f"Fleiss' kappa {fleiss}, Krippendorff's alpha {alpha}"
    )
    for column in ("annotator A", "annotator B", "shared items", "Cohen's kappa", "observed", "span F1"):
        pairs.add_column(column, justify="left" if column.startswith("annotator") else "right")
    for p in response.pairs:
        pairs.add_row(
            short(p.annotator_a),
            short(p.annotator_b),
            str(p.items),
            _num(p.cohen_kappa if p.HasField("cohen_kappa") else None),
            _num(p.observed_agreement),
            _num(p.span_f1 if p.HasField("span_f1") else None),
        )
    each = Table(title="each annotator against the aggregate")
    for column in ("annotator", "items", "agreement", "kappa", "span F1"):
        each.add_column(column, justify="left" if column == "annotator" else "right")
    for a in response.annotators:
        each.add_row(
            short(a.annotator),
            str(a.items),
            _num(a.agreement_with_aggregate),
            _num(a.kappa_with_aggregate if a.HasField("kappa_with_aggregate") else None),
            _num(a.span_f1_with_aggregate if a.HasField("span_f1_with_aggregate") else None),
        )
    return pairs, each


def rules_table(response: pb.ApplyRulesResponse) -> Table:
    table = Table(
        title=f"labeling rules: {response.items_covered} of {response.items} items covered, "
        f"{response.votes_stored} votes stored"
    )
    for column in (
        "rule",
        "items",
        "coverage",
        "overlap",
        "conflict",
        "accuracy vs humans",
        "votes by label",
    ):
        table.add_column(column, justify="left" if column in ("rule", "votes by label") else "right")
    for r in response.rules:
        table.add_row(
            r.name,
            str(r.items_covered),
            f"{r.coverage:.1%}",
            f"{r.overlap:.1%}",
            f"{r.conflict:.1%}",
            _num(r.empirical_accuracy if r.HasField("empirical_accuracy") else None),
            ", ".join(f"{k} {v}" for k, v in sorted(r.votes_by_label.items())),
        )
    return table


def reliability_plot(response: pb.AggregateResponse, out: Path) -> Path:
    """A horizontal bar per annotator: estimated accuracy, with the number of annotations."""
    rows = sorted(response.annotators, key=lambda a: a.accuracy)
    fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.45 * len(rows)))
    colours = ["#4c72b0" if not a.annotator.startswith(("model:", "rule:")) else "#dd8452" for a in rows]
    bars = ax.barh([short(a.annotator) for a in rows], [a.accuracy for a in rows], color=colours)
    ax.bar_label(
        bars, labels=[f"{a.accuracy:.3f} ({a.annotations:,} items)" for a in rows], padding=3, fontsize=8
    )
    ax.set_xlim(0, 1.25)
    ax.set_xlabel("estimated accuracy (humans blue, models and rules orange)")
    method = pb.AggregationMethod.Name(response.method).removeprefix("AGGREGATION_METHOD_").lower()
    ax.set_title(f"annotator reliability ({method}, {response.items:,} items)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def issues_table(response: pb.FindLabelIssuesResponse) -> Table:
    table = Table(
        title=f"label issues: {len(response.issues)} shown of {response.items_checked} items checked, "
        f"estimated noise {response.estimated_noise_rate:.1%}, {response.tasks_created} re-annotation tasks"
    )
    for column in ("item", "given", "suggested", "quality", "span"):
        table.add_column(column, justify="right" if column == "quality" else "left")
    for i in response.issues:
        span = f"[{i.span.start}, {i.span.end}) {i.span.label}" if i.HasField("span") else ""
        table.add_row(i.item_id, i.given_label, i.suggested_label, f"{i.label_quality:.4f}", span)
    return table
