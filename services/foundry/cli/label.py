"""`foundry label ...`: a client of the labeling service, one verb per RPC family, with tables of
agreement (pairwise Cohen's kappa and span F1, Fleiss' kappa, Krippendorff's alpha) and annotator
reliability, and a PNG plot of the reliability. The demo's stage is in `label_demo`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from google.protobuf import json_format
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from foundry.api.common.v1 import model_pb2, refs_pb2, task_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2
from foundry.cli.console import console, reports_errors
from foundry.cli.ingest import SPLITS, parse_task
from foundry.cli.label_args import (
    FORMATS,
    GIVEN,
    LEVELS,
    MATCHES,
    METHODS,
    REDUCTIONS,
    STRATEGIES,
    annotator_filter,
    bad,
    choice,
    load_rules,
    model_ref,
    read_lines,
)
from foundry.cli.label_crowd import CrowdOptions, import_crowd
from foundry.cli.label_views import (
    agreement_tables,
    issues_table,
    project_table,
    reliability_plot,
    reliability_table,
    rules_table,
)
from foundry.cli.stack import load_settings
from foundry.client.labeling import LabelingClient
from foundry.runtime.hashing import file_sha256

app = typer.Typer(
    help="Labeling projects: tasks, imports, pre-labels, aggregation, agreement.", no_args_is_help=True
)


def _client() -> LabelingClient:
    return LabelingClient(load_settings())


def import_file(
    client: LabelingClient, console: Console, header: pb.ImportAnnotationsHeader, path: Path
) -> pb.ImportAnnotationsResponse:
    """Stream a file to ImportAnnotations in 1 MiB chunks with a progress bar."""
    header.size_bytes, header.sha256 = path.stat().st_size, file_sha256(path)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"import {path.name}", total=header.size_bytes)
        return client.import_file(header, path, on_bytes=lambda size: progress.advance(bar, size))


@app.command("create")
@reports_errors
def create(
    name: str = typer.Argument(..., help="the project's name"),
    dataset: str = typer.Option(..., help="NAME or NAME@VERSION_ID of the dataset version"),
    annotators: str = typer.Option("", help="comma-separated annotator names"),
    overlap: int = typer.Option(1, help="annotators per item"),
    labels: str = typer.Option("", help="comma-separated labels (default: the dataset's label set)"),
    task: str = typer.Option("", help="ner, classification or multilabel (default: the dataset's)"),
    split: list[str] = typer.Option([], help="only these splits (repeatable)"),
    guidelines: Path | None = typer.Option(None, help="a text file of guidelines"),
) -> None:
    """Create a project over a dataset version."""
    ds_name, _, version_id = dataset.partition("@")
    request = pb.CreateProjectRequest(
        name=name,
        dataset=refs_pb2.DatasetRef(name=ds_name, version_id=version_id),
        task=parse_task(task) if task else task_pb2.TASK_UNSPECIFIED,
        schema=project_pb2.LabelSchema(labels=[x for x in labels.split(",") if x]),
        guidelines=guidelines.read_text() if guidelines else "",
        annotators=[a for a in annotators.split(",") if a],
        overlap=overlap,
        splits=[choice(SPLITS, s, "--split") for s in split],
    )
    with _client() as client:
        project = client.create_project(request).project
    console.print(f"created project {project.project_id}")
    console.print(project_table([project]))


@app.command("ls")
@reports_errors
def ls(
    dataset: str = typer.Option("", help="only projects over this dataset (NAME or NAME@VERSION_ID)"),
) -> None:
    """List projects with their progress."""
    ds_name, _, version_id = dataset.partition("@")
    request = pb.ListProjectsRequest(dataset=refs_pb2.DatasetRef(name=ds_name, version_id=version_id))
    with _client() as client:
        console.print(project_table(client.all_projects(request)))


@app.command("next")
@reports_errors
def next_tasks(
    project_id: str = typer.Argument(...),
    annotator: str = typer.Option(..., help="whose tasks"),
    limit: int = typer.Option(10, help="how many"),
    suggestions: bool = typer.Option(False, help="include model and rule suggestions"),
    as_json: bool = typer.Option(False, "--json", help="print the tasks as JSON lines"),
) -> None:
    """An annotator's next tasks (assigned, not yet done; priority items first)."""
    request = pb.NextTasksRequest(
        project_id=project_id, annotator=annotator, limit=limit, include_suggestions=suggestions
    )
    with _client() as client:
        response = client.next_tasks(request)
    if as_json:
        for task in response.tasks:
            print(json.dumps(json_format.MessageToDict(task), ensure_ascii=False))
        return
    table = Table(title=f"next tasks of {annotator} ({response.remaining} remaining)")
    for column in ("item", "text", "suggestions"):
        table.add_column(column)
    for t in response.tasks:
        text = t.example.text or " ".join(t.example.tokens)
        said = "; ".join(
            f"{s.annotator}: {s.label or ', '.join(s.labels) or ' '.join(f'{x.label}[{x.start}:{x.end}]' for x in s.spans)}"
            for s in t.suggestions
        )
        table.add_row(t.item_id, text[:100], said)
    console.print(table)


@app.command("submit")
@reports_errors
def submit(
    project_id: str = typer.Argument(...),
    path: Path = typer.Argument(
        ..., help="JSON lines of Annotation fields (item_id, label/labels/tags/spans, revision)"
    ),
    annotator: str = typer.Option("", help="the annotator of lines that name none"),
) -> None:
    """Submit annotations (all or nothing; resubmitting the same revision stores nothing)."""
    annotations = read_lines(path, project_pb2.Annotation)
    for message in annotations:
        message.annotator = message.annotator or annotator
        message.revision = message.revision or 1
    request = pb.SubmitAnnotationsRequest(project_id=project_id, annotations=annotations)
    with _client() as client:
        response = client.submit_annotations(request)
    console.print(f"stored {response.stored}, unchanged {response.unchanged}")


@app.command("import")
@reports_errors
def import_(
    project_id: str = typer.Argument(...),
    path: Path = typer.Argument(..., help="a Label Studio JSON export, a CoNLL file or a crowd CSV"),
    annotator: str = typer.Option("", help="store the work as this annotator's (a crowd CSV: its column)"),
    fmt: str = typer.Option(
        "", "--format", help="label-studio, conll or crowd-csv (default: .json, .csv, else conll)"
    ),
    match: str = typer.Option("auto", help="match records to items by id, text, or auto"),
    item_column: str = typer.Option("item", help="crowd CSV: the column with the item, as you know it"),
    annotator_column: str = typer.Option("annotator", help="crowd CSV: the column with the annotator"),
    label_column: str = typer.Option("label", help="crowd CSV: the column with the label (multi-label: a|b)"),
    item_key: str = typer.Option(
        "id", help="crowd CSV: the item column is the example's id, meta.FIELD or text"
    ),
    delimiter: str = typer.Option("", help="crowd CSV delimiter (default: tab for .tsv, else ,)"),
    encoding: str = typer.Option("utf-8", help="crowd CSV text encoding, e.g. latin-1"),
) -> None:
    """Import existing human work: one annotator's (Label Studio JSON, CoNLL), or a crowd CSV of
    (item, annotator, label) rows with any number of annotators."""
    chosen = fmt or {".json": "label-studio", ".csv": "crowd-csv"}.get(path.suffix.lower(), "conll")
    if chosen not in (*FORMATS, "crowd-csv"):
        raise bad("--format", f"{chosen!r} is not one of {', '.join(FORMATS)}, crowd-csv")
    if chosen == "crowd-csv":
        options = CrowdOptions(
            item_column, annotator_column, label_column, item_key, annotator, delimiter, encoding
        )
        import_crowd(load_settings(), console, project_id, path, options)
        return
    if not annotator:
        raise bad("--annotator", f"--annotator names whose work a {chosen} import is")
    header = pb.ImportAnnotationsHeader(
        project_id=project_id,
        annotator=annotator,
        format=FORMATS[chosen],
        match=choice(MATCHES, match, "--match"),
    )
    with _client() as client:
        response = import_file(client, console, header, path)
    console.print(f"imported {response.imported}, unmatched {response.unmatched}")
    for v in response.violations[:20]:
        console.print(f"  line {v.line}: {v.field or '-'}: {v.reason}: {v.description}")


@app.command("prelabel")
@reports_errors
def prelabel(
    project_id: str = typer.Argument(...),
    model: str = typer.Option(..., help="NAME or NAME@VERSION_ID of a model version"),
    int8: bool = typer.Option(False, help="use the int8 ONNX variant"),
) -> None:
    """Pre-label the project's items with a model (stored as the annotator model:<version>)."""
    variant = model_pb2.MODEL_VARIANT_INT8 if int8 else model_pb2.MODEL_VARIANT_FP32
    request = pb.PreLabelRequest(project_id=project_id, model=model_ref(model), variant=variant)
    with _client() as client, console.status("pre-labeling through the inference service..."):
        response = client.pre_label(request)
    console.print(f"{response.annotator}: {response.items_labeled} items labeled")


@app.command("aggregate")
@reports_errors
def aggregate(
    project_id: str = typer.Argument(...),
    method: str = typer.Option("dawid-skene", help="dawid-skene or majority"),
    level: str = typer.Option("", help="class, token or span (default: the task's)"),
    annotators: str = typer.Option("", help="only these annotators (comma-separated)"),
    models: bool = typer.Option(False, "--models", help="include model pre-labels"),
    rules: bool = typer.Option(False, "--rules", help="include rule votes"),
    plot: Path | None = typer.Option(None, help="write the reliability plot here (PNG)"),
    out: Path | None = typer.Option(None, help="write every aggregated item here (JSON lines)"),
) -> None:
    """Aggregate the votes; show each annotator's estimated reliability."""
    request = pb.AggregateRequest(
        project_id=project_id,
        method=choice(METHODS, method, "--method"),
        level=choice(LEVELS, level, "--level"),
        filter=annotator_filter(annotators, models, rules),
    )
    with _client() as client:
        first, items = client.aggregate_all(request)
    console.print(reliability_table(first))
    if plot is not None:
        console.print(f"plot: {reliability_plot(first, plot)}")
    if out is not None:
        with out.open("w") as handle:
            for item in items:
                handle.write(json.dumps(json_format.MessageToDict(item), ensure_ascii=False) + "\n")
        console.print(f"{len(items)} aggregated items: {out}")


@app.command("agreement")
@reports_errors
def agreement(
    project_id: str = typer.Argument(...),
    level: str = typer.Option("", help="class, token or span (default: the task's)"),
    annotators: str = typer.Option("", help="only these annotators (comma-separated)"),
    models: bool = typer.Option(False, "--models", help="include model pre-labels"),
    rules: bool = typer.Option(False, "--rules", help="include rule votes"),
) -> None:
    """Inter-annotator agreement: Cohen per pair, Fleiss, Krippendorff, span F1, vs the aggregate."""
    request = pb.AgreementRequest(
        project_id=project_id,
        level=choice(LEVELS, level, "--level"),
        filter=annotator_filter(annotators, models, rules),
    )
    with _client() as client:
        response = client.agreement(request)
    for table in agreement_tables(response):
        console.print(table)


@app.command("rules")
@reports_errors
def apply_rules(
    project_id: str = typer.Argument(...),
    path: Path = typer.Argument(..., help="YAML or JSON list of rules (keyword, regex, gazetteer)"),
    store: bool = typer.Option(False, "--store", help="store the votes as the annotators rule:<name>"),
) -> None:
    """Apply labeling rules: coverage, overlap, conflict and accuracy per rule."""
    request = pb.ApplyRulesRequest(project_id=project_id, rules=load_rules(path), store=store)
    with _client() as client:
        console.print(rules_table(client.apply_rules(request)))


@app.command("issues")
@reports_errors
def issues(
    project_id: str = typer.Argument(...),
    model: str = typer.Option("", help="NAME or NAME@VERSION_ID whose probabilities judge the labels"),
    table: Path | None = typer.Option(
        None, help="or out-of-sample probabilities: JSON lines of item_id, probabilities[, labels]"
    ),
    given: str = typer.Option("aggregate", help="aggregate, dataset or annotator"),
    annotator: str = typer.Option("", help="with --given annotator: whose labels"),
    limit: int = typer.Option(20, help="issues to show"),
    create_tasks: bool = typer.Option(False, "--create-tasks", help="queue the items for re-annotation"),
) -> None:
    """Likely wrong labels by confident learning, worst first."""
    if bool(model) == (table is not None):
        raise bad("--model", "give either --model or --table")
    request = pb.FindLabelIssuesRequest(
        project_id=project_id,
        given=choice(GIVEN, given, "--given"),
        annotator=annotator,
        limit=limit,
        create_tasks=create_tasks,
    )
    if table is None:
        request.model.CopyFrom(model_ref(model))
    else:
        request.table.CopyFrom(pb.ProbabilityTable(items=read_lines(table, pb.ItemProbabilities)))
    with _client() as client:
        console.print(issues_table(client.find_label_issues(request)))


@app.command("select")
@reports_errors
def select(
    project_id: str = typer.Argument(...),
    model: str = typer.Option(..., help="NAME or NAME@VERSION_ID whose scores rank the items"),
    strategy: str = typer.Option("least-confidence", help="least-confidence, margin, entropy or random"),
    reduction: str = typer.Option("mean", help="token scores per item (NER): mean, max or sum"),
    count: int = typer.Option(20, help="how many items"),
    diversity: float = typer.Option(0.0, help="diversity weight in [0, 1]"),
    seed: int = typer.Option(0, help="seed of random order and tie breaks"),
    prioritize: bool = typer.Option(False, "--prioritize", help="put them first in the annotators' queues"),
) -> None:
    """Active learning: the items to label next."""
    request = pb.SelectForLabelingRequest(
        project_id=project_id,
        model=model_ref(model),
        strategy=choice(STRATEGIES, strategy, "--strategy"),
        reduction=choice(REDUCTIONS, reduction, "--reduction"),
        count=count,
        diversity_weight=diversity,
        seed=seed,
        prioritize=prioritize,
    )
    with _client() as client:
        response = client.select_for_labeling(request)
    table = Table(title=f"selected {len(response.items)} of {response.candidates} candidates ({strategy})")
    for column in ("rank", "item", "uncertainty", "score"):
        table.add_column(column, justify="left" if column == "item" else "right")
    for rank, item in enumerate(response.items, 1):
        table.add_row(str(rank), item.item_id, f"{item.uncertainty:.4f}", f"{item.score:.4f}")
    console.print(table)


@app.command("export")
@reports_errors
def export(
    project_id: str = typer.Argument(...),
    output: str = typer.Option("", help="name of the new dataset (default: the project's dataset)"),
    method: str = typer.Option("dawid-skene", help="dawid-skene or majority"),
    level: str = typer.Option("", help="class, token or span (default: the task's)"),
    min_confidence: float = typer.Option(0.0, help="leave out items aggregated with less confidence"),
    include_unlabeled: bool = typer.Option(False, "--include-unlabeled", help="keep items nobody labeled"),
    models: bool = typer.Option(False, "--models", help="include model pre-labels"),
    rules: bool = typer.Option(False, "--rules", help="include rule votes"),
) -> None:
    """Export the aggregated labels as a new dataset version."""
    request = pb.ExportProjectRequest(
        project_id=project_id,
        method=choice(METHODS, method, "--method"),
        level=choice(LEVELS, level, "--level"),
        filter=annotator_filter("", models, rules),
        min_confidence=min_confidence,
        include_unlabeled=include_unlabeled,
        output_name=output,
    )
    with _client() as client, console.status("aggregating and writing the dataset version..."):
        response = client.export_project(request)
    version = response.dataset_version
    console.print(
        f"exported {response.exported} items to {version.name}@{version.version_id} "
        f"(left out: {response.skipped_low_confidence} low confidence, {response.skipped_unlabeled} unlabeled)"
    )
