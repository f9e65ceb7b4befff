"""`foundry ingest` and `foundry datasets ls / show`: clients of the ingestion service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import json_format
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from foundry.api.common.v1 import dataset_pb2, example_pb2, listing_pb2, task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2, ingestion_service_pb2
from foundry.cli import plots
from foundry.client.ingestion import IngestionClient
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.hashing import file_sha256
from foundry.runtime.settings import Settings

FORMAT_CONLL = ingest_recipe_pb2.FORMAT_CONLL
TASKS = {
    "ner": task_pb2.TASK_TOKEN_CLASSIFICATION,
    "token_classification": task_pb2.TASK_TOKEN_CLASSIFICATION,
    "classification": task_pb2.TASK_TEXT_CLASSIFICATION,
    "text_classification": task_pb2.TASK_TEXT_CLASSIFICATION,
    "multilabel": task_pb2.TASK_MULTILABEL_CLASSIFICATION,
    "chat": task_pb2.TASK_CHAT,
}
SPLITS = {
    "train": example_pb2.SPLIT_TRAIN,
    "validation": example_pb2.SPLIT_VALIDATION,
    "dev": example_pb2.SPLIT_VALIDATION,
    "test": example_pb2.SPLIT_TEST,
}


@dataclass(frozen=True)
class FileArg:
    path: Path
    split: example_pb2.Split.ValueType

    @classmethod
    def parse(cls, spec: str) -> FileArg:
        """`path` or `path:split` (split: train, validation/dev, test)."""
        path, _, split = spec.rpartition(":") if spec.rpartition(":")[2] in SPLITS else (spec, "", "")
        if not Path(path).is_file():
            raise InvalidArgumentError(f"no such file: {path}", violations=[FieldViolation("FILE", path)])
        return cls(Path(path), SPLITS[split] if split else example_pb2.SPLIT_UNSPECIFIED)


def parse_task(task: str) -> task_pb2.Task.ValueType:
    if task not in TASKS:
        raise InvalidArgumentError(
            f"unknown task {task!r}; one of {', '.join(TASKS)}", violations=[FieldViolation("--task", task)]
        )
    return TASKS[task]


def upload(
    settings: Settings,
    console: Console,
    files: Sequence[FileArg],
    *,
    name: str,
    task: task_pb2.Task.ValueType,
    fmt: ingest_recipe_pb2.Format.ValueType,
    recipe: ingest_recipe_pb2.IngestRecipe,
    source: ingest_recipe_pb2.SourceSpec | None = None,
) -> ingestion_service_pb2.UploadResponse:
    """Stream the files to Upload (chunks of at most 1 MiB) with a progress bar."""
    spec = ingest_recipe_pb2.SourceSpec()
    if source is not None:
        spec.CopyFrom(source)
    if fmt != ingest_recipe_pb2.FORMAT_UNSPECIFIED:
        spec.format = fmt  # else the source's own (a recipe's source.format), else detected
    header = ingestion_service_pb2.UploadHeader(dataset_name=name, task=task, source=spec, recipe=recipe)
    for f in files:
        header.files.add(
            file_name=f.path.name, split=f.split, size_bytes=f.path.stat().st_size, sha256=file_sha256(f.path)
        )
    total = sum(f.path.stat().st_size for f in files)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with IngestionClient(settings) as client, progress:
        bar = progress.add_task(f"uploading {len(files)} file(s)", total=total)
        return client.upload_files(
            header,
            [f.path for f in files],
            on_bytes=lambda size: progress.update(bar, advance=size),
            on_sent=lambda: progress.update(bar, description=f"ingesting {name}"),
        )


def get_dataset(settings: Settings, name: str, version_id: str = "") -> dataset_pb2.DatasetVersion:
    with IngestionClient(settings) as client:
        return client.dataset_version(name, version_id)


def list_datasets(
    settings: Settings, name: str = "", *, corrupt: list[listing_pb2.CorruptEntry] | None = None
) -> list[dataset_pb2.DatasetVersion]:
    with IngestionClient(settings) as client:
        return client.all_datasets(name, corrupt=corrupt)


# --- rendering ------------------------------------------------------------------------------------------

SPLIT_NAMES = {
    example_pb2.SPLIT_TRAIN: "train",
    example_pb2.SPLIT_VALIDATION: "validation",
    example_pb2.SPLIT_TEST: "test",
    example_pb2.SPLIT_UNASSIGNED: "unassigned",
}


def versions_table(versions: Sequence[dataset_pb2.DatasetVersion]) -> Table:
    table = Table(title="datasets")
    for column in (
        "name",
        "version",
        "task",
        "train",
        "validation",
        "test",
        "unassigned",
        "labels",
        "created",
    ):
        table.add_column(
            column, justify="right" if column in ("train", "validation", "test", "unassigned") else "left"
        )
    for v in versions:
        table.add_row(
            v.name,
            v.version_id[:12],
            task_pb2.Task.Name(v.task).removeprefix("TASK_").lower(),
            f"{v.counts.train:,}",
            f"{v.counts.validation:,}",
            f"{v.counts.test:,}",
            f"{v.counts.unassigned:,}",
            str(len(v.label_set)),
            v.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
        )
    return table


def show(console: Console, version: dataset_pb2.DatasetVersion, plot: Path | None) -> Path | None:
    """The statistics of a version as tables (and a plot of the label distribution)."""
    console.print(f"[bold]{version.name}[/bold] @ {version.version_id}")
    console.print(
        f"task {task_pb2.Task.Name(version.task)}, {version.counts.total:,} rows, "
        f"{len(version.shards)} shard(s), labels: {', '.join(version.label_set) or '-'}"
    )
    steps = Table(title="steps")
    for column in ("step", "in", "out", "modified", "dropped", "time (s)"):
        steps.add_column(column, justify="left" if column == "step" else "right")
    details: list[str] = []
    for s in version.statistics.steps:
        steps.add_row(
            s.step,
            f"{s.rows_in:,}",
            f"{s.rows_out:,}",
            f"{s.rows_modified:,}",
            f"{sum(s.drop_reasons.values()):,}",
            f"{s.wall_time_s:.2f}",
        )
        facts = [f"{k}={v:,}" for k, v in sorted(s.drop_reasons.items())]
        facts += [f"{k}={v:,}" for k, v in sorted(s.counters.items()) if v]
        if facts:
            details.append(f"  [bold]{s.step}[/bold]: {', '.join(facts)}")
    console.print(steps)
    for line in details:
        console.print(line)
    counts: dict[str, dict[str, int]] = {}
    dist = Table(title="labels per split")
    dist.add_column("label")
    per_split = list(version.statistics.splits)
    for split_stats in per_split:
        split_name = SPLIT_NAMES.get(split_stats.split, "?")
        dist.add_column(f"{split_name} ({split_stats.rows:,})", justify="right")
        counts[split_name] = dict(split_stats.label_counts) or dict(split_stats.entity_type_counts)
    labels = sorted({label for c in counts.values() for label in c})
    for label in labels:
        dist.add_row(label, *(f"{c.get(label, 0):,}" for c in counts.values()))
    if labels:
        console.print(dist)
    d = version.statistics.duplicates
    console.print(
        f"duplicates: {d.exact_duplicates_removed:,} exact removed, {d.near_duplicate_clusters:,} near clusters "
        f"({d.rows_in_near_duplicate_clusters:,} rows, {d.near_duplicates_removed:,} removed), "
        f"{d.label_conflict_groups:,} label conflicts"
    )
    for leak in version.statistics.leakage:
        console.print(
            f"[yellow]leakage[/yellow] {SPLIT_NAMES.get(leak.split_a)}↔{SPLIT_NAMES.get(leak.split_b)}: "
            f"{leak.clusters:,} clusters, {leak.rows:,} rows"
        )
    if version.statistics.pii.counts_by_type:
        console.print(
            "PII: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(version.statistics.pii.counts_by_type.items()))
        )
    if plot is not None and labels:
        return plots.label_distribution(counts, f"{version.name} label distribution", plot)
    return None


def response_summary(console: Console, response: ingestion_service_pb2.UploadResponse) -> None:
    v = response.dataset_version
    state = "new version" if response.report.created else "identical version already stored"
    console.print(
        f"[green]{state}[/green] {v.name}@{v.version_id[:12]}: {v.counts.total:,} rows in "
        f"{response.report.wall_time_s:.1f}s"
    )


def encoding_hint(console: Console, version: dataset_pb2.DatasetVersion, encoding: str) -> None:
    """Name the flag to use when rows were dropped because they did not decode."""
    bad = sum(s.drop_reasons.get("bad_encoding", 0) for s in version.statistics.steps)
    if bad:
        console.print(
            f"[yellow]{bad:,} row(s) were not valid {encoding}[/yellow]: if the file is in another "
            "encoding, name it with --encoding (e.g. --encoding latin-1 or --encoding cp1252)"
        )


def dump_json(version: dataset_pb2.DatasetVersion) -> str:
    return json.dumps(json_format.MessageToDict(version, preserving_proto_field_name=True), indent=2)
