"""`foundry label ...`: a client of the labeling service, one verb per RPC family, with tables of
agreement (pairwise Cohen's kappa and span F1, Fleiss' kappa, Krippendorff's alpha) and annotator
reliability, and a PNG plot of the reliability. `run_demo_stage` is the demo's labeling stage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import typer
import yaml
from google.protobuf import json_format
from google.protobuf.message import Message
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from foundry.api.common.v1 import example_pb2, model_pb2, refs_pb2, task_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as pb_grpc
from foundry.api.labeling.v1 import project_pb2, rules_pb2
from foundry.cli.grpc_client import call_metadata, channel
from foundry.cli.ingest import SPLITS, parse_task
from foundry.cli.label_views import (
    agreement_tables,
    issues_table,
    project_table,
    reliability_plot,
    reliability_table,
    rules_table,
)
from foundry.runtime.errors import FieldViolation, FoundryError, InvalidArgumentError
from foundry.runtime.hashing import file_sha256
from foundry.runtime.settings import Settings, load_settings

CHUNK_BYTES = 1024 * 1024
R = TypeVar("R")

app = typer.Typer(
    help="Labeling projects: tasks, imports, pre-labels, aggregation, agreement.", no_args_is_help=True
)
console = Console()


def _bad(field: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, violations=[FieldViolation(field, message)])


def _choice(table: dict[str, R], value: str, option: str) -> R:
    if value not in table:
        raise _bad(option, f"{value!r} is not one of {', '.join(table)}")
    return table[value]


METHODS = {"dawid-skene": pb.AGGREGATION_METHOD_DAWID_SKENE, "majority": pb.AGGREGATION_METHOD_MAJORITY_VOTE}
LEVELS = {
    "": pb.ANNOTATION_LEVEL_UNSPECIFIED,
    "class": pb.ANNOTATION_LEVEL_CLASS,
    "token": pb.ANNOTATION_LEVEL_TOKEN,
    "span": pb.ANNOTATION_LEVEL_SPAN,
}
FORMATS = {"label-studio": pb.IMPORT_FORMAT_LABEL_STUDIO_JSON, "conll": pb.IMPORT_FORMAT_CONLL}
MATCHES = {"auto": pb.ITEM_MATCH_UNSPECIFIED, "id": pb.ITEM_MATCH_ID, "text": pb.ITEM_MATCH_TEXT}
GIVEN = {
    "aggregate": pb.GIVEN_LABEL_SOURCE_AGGREGATE,
    "dataset": pb.GIVEN_LABEL_SOURCE_DATASET,
    "annotator": pb.GIVEN_LABEL_SOURCE_ANNOTATOR,
}
STRATEGIES = {
    "least-confidence": pb.SELECTION_STRATEGY_LEAST_CONFIDENCE,
    "margin": pb.SELECTION_STRATEGY_MARGIN,
    "entropy": pb.SELECTION_STRATEGY_ENTROPY,
    "random": pb.SELECTION_STRATEGY_RANDOM,
}
REDUCTIONS = {
    "mean": pb.TOKEN_SCORE_REDUCTION_MEAN,
    "max": pb.TOKEN_SCORE_REDUCTION_MAX,
    "sum": pb.TOKEN_SCORE_REDUCTION_SUM,
}


def model_ref(ref: str) -> refs_pb2.ModelRef:
    """`NAME` or `NAME@VERSION_ID`."""
    name, _, version_id = ref.partition("@")
    return refs_pb2.ModelRef(name=name, version_id=version_id)


def annotator_filter(annotators: str, models: bool, rules: bool) -> pb.AnnotatorFilter:
    return pb.AnnotatorFilter(
        annotators=[a for a in annotators.split(",") if a], include_models=models, include_rules=rules
    )


def call(
    settings: Settings, rpc: Callable[[pb_grpc.LabelingServiceStub], Callable[..., R]], request: Any
) -> R:
    """One unary call to the labeling service."""
    with channel(settings.labeling_address, settings) as ch:
        return rpc(pb_grpc.LabelingServiceStub(ch))(request, metadata=call_metadata(settings))


def import_file(
    settings: Settings, console: Console, header: pb.ImportAnnotationsHeader, path: Path
) -> pb.ImportAnnotationsResponse:
    """Stream a file to ImportAnnotations in 1 MiB chunks with a progress bar."""
    header.size_bytes, header.sha256 = path.stat().st_size, file_sha256(path)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"import {path.name}", total=header.size_bytes)

        def parts() -> Iterator[pb.ImportAnnotationsRequest]:
            yield pb.ImportAnnotationsRequest(header=header)
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    progress.advance(bar, len(chunk))
                    yield pb.ImportAnnotationsRequest(chunk=chunk)

        with channel(settings.labeling_address, settings) as ch:
            stub = pb_grpc.LabelingServiceStub(ch)
            response: pb.ImportAnnotationsResponse = stub.ImportAnnotations(
                parts(), metadata=call_metadata(settings)
            )
            return response


def aggregate_all(
    settings: Settings, request: pb.AggregateRequest
) -> tuple[pb.AggregateResponse, list[pb.AggregatedItem]]:
    """The first page (with the reliabilities) and every aggregated item, page by page."""
    first = call(settings, lambda s: s.Aggregate, request)
    items = list(first.aggregated_items)
    token = first.next_page_token
    while token:
        page = pb.AggregateRequest()
        page.CopyFrom(request)
        page.page_token = token
        response = call(settings, lambda s: s.Aggregate, page)
        items.extend(response.aggregated_items)
        token = response.next_page_token
    return first, items


# --- commands ---------------------------------------------------------------------------------------------------


def _run(action: Callable[[Settings], None]) -> None:
    try:
        action(load_settings())
    except FoundryError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc
    except grpc.RpcError as exc:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        console.print(f"[red]{getattr(code, 'name', code)}[/red]: {details}")
        raise typer.Exit(1) from exc


M = TypeVar("M", bound=Message)


def read_lines(path: Path, kind: type[M]) -> list[M]:
    """One message per JSON line (proto field names, camelCase or snake_case); errors name the line."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json_format.ParseDict(json.loads(line), kind()))
            except (json.JSONDecodeError, json_format.ParseError) as exc:
                raise _bad(f"{path.name}:{number}", f"line {number}: {exc}") from exc
    return out


@app.command("create")
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

    def action(settings: Settings) -> None:
        ds_name, _, version_id = dataset.partition("@")
        request = pb.CreateProjectRequest(
            name=name,
            dataset=refs_pb2.DatasetRef(name=ds_name, version_id=version_id),
            task=parse_task(task) if task else task_pb2.TASK_UNSPECIFIED,
            schema=project_pb2.LabelSchema(labels=[x for x in labels.split(",") if x]),
            guidelines=guidelines.read_text() if guidelines else "",
            annotators=[a for a in annotators.split(",") if a],
            overlap=overlap,
            splits=[_choice(SPLITS, s, "--split") for s in split],
        )
        project = call(settings, lambda s: s.CreateProject, request).project
        console.print(f"created project {project.project_id}")
        console.print(project_table([project]))

    _run(action)


@app.command("ls")
def ls(
    dataset: str = typer.Option("", help="only projects over this dataset (NAME or NAME@VERSION_ID)"),
) -> None:
    """List projects with their progress."""

    def action(settings: Settings) -> None:
        ds_name, _, version_id = dataset.partition("@")
        projects: list[project_pb2.Project] = []
        token = ""
        while True:
            request = pb.ListProjectsRequest(
                dataset=refs_pb2.DatasetRef(name=ds_name, version_id=version_id), page_token=token
            )
            response = call(settings, lambda s: s.ListProjects, request)
            projects.extend(response.projects)
            if not (token := response.next_page_token):
                break
        console.print(project_table(projects))

    _run(action)


@app.command("next")
def next_tasks(
    project_id: str = typer.Argument(...),
    annotator: str = typer.Option(..., help="whose tasks"),
    limit: int = typer.Option(10, help="how many"),
    suggestions: bool = typer.Option(False, help="include model and rule suggestions"),
    as_json: bool = typer.Option(False, "--json", help="print the tasks as JSON lines"),
) -> None:
    """An annotator's next tasks (assigned, not yet done; priority items first)."""

    def action(settings: Settings) -> None:
        request = pb.NextTasksRequest(
            project_id=project_id, annotator=annotator, limit=limit, include_suggestions=suggestions
        )
        response = call(settings, lambda s: s.NextTasks, request)
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

    _run(action)


@app.command("submit")
def submit(
    project_id: str = typer.Argument(...),
    path: Path = typer.Argument(
        ..., help="JSON lines of Annotation fields (item_id, label/labels/tags/spans, revision)"
    ),
    annotator: str = typer.Option("", help="the annotator of lines that name none"),
) -> None:
    """Submit annotations (all or nothing; resubmitting the same revision stores nothing)."""

    def action(settings: Settings) -> None:
        annotations = read_lines(path, project_pb2.Annotation)
        for message in annotations:
            message.annotator = message.annotator or annotator
            message.revision = message.revision or 1
        request = pb.SubmitAnnotationsRequest(project_id=project_id, annotations=annotations)
        response = call(settings, lambda s: s.SubmitAnnotations, request)
        console.print(f"stored {response.stored}, unchanged {response.unchanged}")

    _run(action)


@app.command("import")
def import_(
    project_id: str = typer.Argument(...),
    path: Path = typer.Argument(..., help="a Label Studio JSON export or a CoNLL file"),
    annotator: str = typer.Option(..., help="store the work as this annotator's"),
    fmt: str = typer.Option("", "--format", help="label-studio or conll (default: from the file name)"),
    match: str = typer.Option("auto", help="match records to items by id, text, or auto"),
) -> None:
    """Import existing human work as a named annotator's annotations."""

    def action(settings: Settings) -> None:
        chosen = fmt or ("label-studio" if path.suffix.lower() == ".json" else "conll")
        header = pb.ImportAnnotationsHeader(
            project_id=project_id,
            annotator=annotator,
            format=_choice(FORMATS, chosen, "--format"),
            match=_choice(MATCHES, match, "--match"),
        )
        response = import_file(settings, console, header, path)
        console.print(f"imported {response.imported}, unmatched {response.unmatched}")
        for v in response.violations[:20]:
            console.print(f"  line {v.line}: {v.field or '-'}: {v.reason}: {v.description}")

    _run(action)


@app.command("prelabel")
def prelabel(
    project_id: str = typer.Argument(...),
    model: str = typer.Option(..., help="NAME or NAME@VERSION_ID of a model version"),
    int8: bool = typer.Option(False, help="use the int8 ONNX variant"),
) -> None:
    """Pre-label the project's items with a model (stored as the annotator model:<version>)."""

    def action(settings: Settings) -> None:
        variant = model_pb2.MODEL_VARIANT_INT8 if int8 else model_pb2.MODEL_VARIANT_FP32
        with console.status("pre-labeling through the inference service..."):
            response = call(
                settings,
                lambda s: s.PreLabel,
                pb.PreLabelRequest(project_id=project_id, model=model_ref(model), variant=variant),
            )
        console.print(f"{response.annotator}: {response.items_labeled} items labeled")

    _run(action)


@app.command("aggregate")
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

    def action(settings: Settings) -> None:
        request = pb.AggregateRequest(
            project_id=project_id,
            method=_choice(METHODS, method, "--method"),
            level=_choice(LEVELS, level, "--level"),
            filter=annotator_filter(annotators, models, rules),
        )
        first, items = aggregate_all(settings, request)
        console.print(reliability_table(first))
        if plot is not None:
            console.print(f"plot: {reliability_plot(first, plot)}")
        if out is not None:
            with out.open("w") as handle:
                for item in items:
                    handle.write(json.dumps(json_format.MessageToDict(item), ensure_ascii=False) + "\n")
            console.print(f"{len(items)} aggregated items: {out}")

    _run(action)


@app.command("agreement")
def agreement(
    project_id: str = typer.Argument(...),
    level: str = typer.Option("", help="class, token or span (default: the task's)"),
    annotators: str = typer.Option("", help="only these annotators (comma-separated)"),
    models: bool = typer.Option(False, "--models", help="include model pre-labels"),
    rules: bool = typer.Option(False, "--rules", help="include rule votes"),
) -> None:
    """Inter-annotator agreement: Cohen per pair, Fleiss, Krippendorff, span F1, vs the aggregate."""

    def action(settings: Settings) -> None:
        request = pb.AgreementRequest(
            project_id=project_id,
            level=_choice(LEVELS, level, "--level"),
            filter=annotator_filter(annotators, models, rules),
        )
        for table in agreement_tables(call(settings, lambda s: s.Agreement, request)):
            console.print(table)

    _run(action)


def load_rules(path: Path) -> list[rules_pb2.LabelingRule]:
    """Rules from YAML or JSON: a list of LabelingRule fields (name, label, keyword/regex/gazetteer)."""
    raw = yaml.safe_load(path.read_text()) or []
    if not isinstance(raw, list):
        raise _bad(str(path), "a rules file is a list of rules")
    out = []
    for index, rule in enumerate(raw):
        try:
            out.append(json_format.ParseDict(rule, rules_pb2.LabelingRule()))
        except json_format.ParseError as exc:
            raise _bad(f"rules[{index}]", str(exc)) from exc
    return out


@app.command("rules")
def apply_rules(
    project_id: str = typer.Argument(...),
    path: Path = typer.Argument(..., help="YAML or JSON list of rules (keyword, regex, gazetteer)"),
    store: bool = typer.Option(False, "--store", help="store the votes as the annotators rule:<name>"),
) -> None:
    """Apply labeling rules: coverage, overlap, conflict and accuracy per rule."""

    def action(settings: Settings) -> None:
        request = pb.ApplyRulesRequest(project_id=project_id, rules=load_rules(path), store=store)
        console.print(rules_table(call(settings, lambda s: s.ApplyRules, request)))

    _run(action)


@app.command("issues")
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

    def action(settings: Settings) -> None:
        if bool(model) == (table is not None):
            raise _bad("--model", "give either --model or --table")
        request = pb.FindLabelIssuesRequest(
            project_id=project_id,
            given=_choice(GIVEN, given, "--given"),
            annotator=annotator,
            limit=limit,
            create_tasks=create_tasks,
        )
        if table is None:
            request.model.CopyFrom(model_ref(model))
        else:
            request.table.CopyFrom(pb.ProbabilityTable(items=read_lines(table, pb.ItemProbabilities)))
        console.print(issues_table(call(settings, lambda s: s.FindLabelIssues, request)))

    _run(action)


@app.command("select")
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

    def action(settings: Settings) -> None:
        request = pb.SelectForLabelingRequest(
            project_id=project_id,
            model=model_ref(model),
            strategy=_choice(STRATEGIES, strategy, "--strategy"),
            reduction=_choice(REDUCTIONS, reduction, "--reduction"),
            count=count,
            diversity_weight=diversity,
            seed=seed,
            prioritize=prioritize,
        )
        response = call(settings, lambda s: s.SelectForLabeling, request)
        table = Table(
            title=f"selected {len(response.items)} of {response.candidates} candidates ({strategy})"
        )
        for column in ("rank", "item", "uncertainty", "score"):
            table.add_column(column, justify="left" if column == "item" else "right")
        for rank, item in enumerate(response.items, 1):
            table.add_row(str(rank), item.item_id, f"{item.uncertainty:.4f}", f"{item.score:.4f}")
        console.print(table)

    _run(action)


@app.command("export")
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

    def action(settings: Settings) -> None:
        request = pb.ExportProjectRequest(
            project_id=project_id,
            method=_choice(METHODS, method, "--method"),
            level=_choice(LEVELS, level, "--level"),
            filter=annotator_filter("", models, rules),
            min_confidence=min_confidence,
            include_unlabeled=include_unlabeled,
            output_name=output,
        )
        with console.status("aggregating and writing the dataset version..."):
            response = call(settings, lambda s: s.ExportProject, request)
        version = response.dataset_version
        console.print(
            f"exported {response.exported} items to {version.name}@{version.version_id} "
            f"(left out: {response.skipped_low_confidence} low confidence, {response.skipped_unlabeled} unlabeled)"
        )

    _run(action)


# --- the demo stage -------------------------------------------------------------------------------------------

#: a slice of the WNUT-17 test split, sized so that the stage takes seconds
DEMO_ITEMS = 300
#: weak supervision over WNUT-17 types, declared as data: gazetteers ("|"-separated) and a regex
GAZETTEERS = {
    "location": "London|Paris|New York|NYC|LA|Los Angeles|Chicago|Boston|Texas|California|Florida|Canada|"
    "UK|USA|America|Australia|India|China|Japan|Germany|France|Mexico|Toronto|Seattle|Atlanta|Miami|Dallas",
    "corporation": "Google|Apple|Microsoft|Amazon|Facebook|Twitter|Netflix|Sony|Samsung|Nike|Disney|CNN|BBC|"
    "Starbucks|Walmart|Uber|Tesla",
    "product": "iPhone|iPad|Android|Xbox|PS4|Windows|Instagram|YouTube|Snapchat",
}
PLACE_AFTER_PREPOSITION = r"\b(?:in|at|from|to) ([A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?)\b"


def demo_rules() -> list[rules_pb2.LabelingRule]:
    rules = [
        rules_pb2.LabelingRule(
            name=f"gazetteer-{label}",
            label=label,
            gazetteer=rules_pb2.GazetteerRule(entries=entries.split("|"), case_sensitive=True),
        )
        for label, entries in GAZETTEERS.items()
    ]
    regex = rules_pb2.RegexRule(pattern=PLACE_AFTER_PREPOSITION, group=1, case_sensitive=True)
    return [
        *rules,
        rules_pb2.LabelingRule(name="regex-place-after-preposition", label="location", regex=regex),
    ]


def _demo_project(settings: Settings, dataset_version_id: str, model_version: str) -> project_pb2.Project:
    request = pb.CreateProjectRequest(
        name=f"wnut17-demo-{model_version[:8]}-{int(time.time())}",
        dataset=refs_pb2.DatasetRef(name="wnut17", version_id=dataset_version_id),
        splits=[example_pb2.SPLIT_TEST],
        annotators=["gold"],
        guidelines="WNUT-17 emerging entities: person, location, corporation, product, creative-work, group.",
    )
    return call(settings, lambda s: s.CreateProject, request).project


def run_demo_stage(
    settings: Settings, console: Console, dataset_version_id: str, model_name: str, model_version: str
) -> None:
    """Pre-label a slice of WNUT-17's test split with the trained model, add weak-supervision rules
    and the gold tags (as the annotator `gold`), aggregate with Dawid-Skene, and report agreement
    and each source's reliability (tables and a plot)."""
    console.rule("8. label: pre-labels, rules and gold aggregated, agreement (labeling service)")
    started = time.perf_counter()
    project = _demo_project(settings, dataset_version_id, model_version)
    pid = project.project_id
    tasks = call(
        settings,
        lambda s: s.NextTasks,
        pb.NextTasksRequest(project_id=pid, annotator="gold", limit=DEMO_ITEMS),
    )
    items = [t.item_id for t in tasks.tasks]
    console.print(f"project {project.name} ({pid}): {len(items)} of {project.progress.items} test sentences")
    with console.status(f"pre-labeling {len(items)} sentences with {model_name}@{model_version[:12]}..."):
        labeled = call(
            settings,
            lambda s: s.PreLabel,
            pb.PreLabelRequest(
                project_id=pid,
                model=refs_pb2.ModelRef(name=model_name, version_id=model_version),
                item_ids=items,
            ),
        )
    console.print(f"{labeled.annotator}: {labeled.items_labeled} sentences pre-labeled")
    gold = [
        project_pb2.Annotation(item_id=t.item_id, annotator="gold", revision=1, tags=t.example.tags)
        for t in tasks.tasks
    ]
    stored = call(
        settings, lambda s: s.SubmitAnnotations, pb.SubmitAnnotationsRequest(project_id=pid, annotations=gold)
    )
    console.print(f"gold: {stored.stored} sentences (the dataset's own tags)")
    rules = demo_rules()
    applied = call(
        settings, lambda s: s.ApplyRules, pb.ApplyRulesRequest(project_id=pid, rules=rules, store=True)
    )
    console.print(rules_table(applied))
    everyone = pb.AnnotatorFilter(include_models=True, include_rules=True)
    first, _ = aggregate_all(
        settings,
        pb.AggregateRequest(project_id=pid, method=pb.AGGREGATION_METHOD_DAWID_SKENE, filter=everyone),
    )
    console.print(reliability_table(first))
    response = call(settings, lambda s: s.Agreement, pb.AgreementRequest(project_id=pid, filter=everyone))
    for table in agreement_tables(response):
        console.print(table)
    plot = reliability_plot(first, settings.home_dir / "demo" / "labeling_reliability.png")
    console.print(f"reliability plot: {plot}")
    console.print(f"labeling stage: {time.perf_counter() - started:.1f}s")
