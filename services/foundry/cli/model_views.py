"""`foundry models show`: a model version's headline metrics in both F1 modes, per-type (or
per-class) precision / recall / F1 tables, and its artifacts."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from foundry.api.common.v1 import artifact_pb2, example_pb2, model_pb2

#: the entity scores shown per mode: (label, key without the mode suffix)
_SCORES = (("precision", "eval_precision"), ("recall", "eval_recall"), ("F1", "eval_f1"))


def split_name(split: int) -> str:
    return example_pb2.Split.Name(split).removeprefix("SPLIT_").lower()  # type: ignore[arg-type]


def modes_table(splits: Sequence[model_pb2.SplitMetrics]) -> Table | None:
    """Micro precision / recall / F1 per split in seqeval's default and strict modes (token
    classification versions that recorded both), or None."""
    scored = [s for s in splits if "eval_f1_strict" in s.values]
    if not scored:
        return None
    table = Table(title="entity scores (micro) of the served predictions")
    table.add_column("split")
    table.add_column("mode")
    for label, _ in _SCORES:
        table.add_column(label, justify="right")
    for split in scored:
        for mode, note in (("default", "default (headline)"), ("strict", "strict IOB2")):
            table.add_row(
                split_name(split.split),
                note,
                *(f"{100 * split.values.get(f'{key}_{mode}', 0.0):.2f}" for _, key in _SCORES),
            )
    return table


def per_label_table(split: model_pb2.SplitMetrics, strict: bool = False) -> Table | None:
    """Per entity type (or class) precision / recall / F1 / support of one split, or None."""
    rows = split.per_label_strict if strict else split.per_label
    if not rows:
        return None
    kind = "strict IOB2" if strict else ("default mode" if split.per_label_strict else "")
    title = f"per label, {split_name(split.split)} split" + (f" ({kind})" if kind else "")
    table = Table(title=title)
    for column in ("label", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for row in sorted(rows, key=lambda r: r.label):
        table.add_row(
            row.label,
            f"{100 * row.precision:.2f}",
            f"{100 * row.recall:.2f}",
            f"{100 * row.f1:.2f}",
            str(row.support),
        )
    return table


def artifacts_table(version: model_pb2.ModelVersion) -> Table:
    table = Table(title="artifacts")
    for column in ("path", "kind", "bytes", "sha256"):
        table.add_column(column)
    for a in version.artifacts:
        kind = artifact_pb2.ArtifactKind.Name(a.kind).removeprefix("ARTIFACT_KIND_").lower()  # type: ignore[arg-type]
        table.add_row(a.path, kind, f"{a.ref.size_bytes:,}", a.ref.sha256[:12])
    return table


def show_metrics(
    console: Console, version: model_pb2.ModelVersion, *, strict_per_label: bool = False
) -> None:
    """Every split's scalar metrics, the two F1 modes, and the per-label tables."""
    splits = list(version.metrics.splits)
    for split in splits:
        values = ", ".join(f"{k} {v:.4f}" for k, v in sorted(split.values.items()))
        console.print(f"{split.split and split_name(split.split)}: {values}")
        if split.decoding:
            console.print(f"  decoded as served: {split.decoding}")
    modes = modes_table(splits)
    if modes is not None:
        console.print(modes)
    elif any("eval_f1" in s.values for s in splits):
        console.print("[dim]F1 on raw argmax tags, strict IOB2 (a version made before served decoding)[/dim]")
    for split in splits:
        for strict in (False, True) if strict_per_label else (False,):
            table = per_label_table(split, strict)
            if table is not None:
                console.print(table)
