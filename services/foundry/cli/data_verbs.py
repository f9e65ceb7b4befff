"""`foundry ingest`, `foundry datasets ls / show / export` and `foundry augment`: the data verbs."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import typer

from foundry.api.common.v1 import listing_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2
from foundry.cli import augment as augment_mod
from foundry.cli import export as export_mod
from foundry.cli import ingest as ingest_mod
from foundry.cli.console import console, reports_errors
from foundry.cli.corrupt import print_listing
from foundry.cli.ingest_options import load_recipe, source_overrides
from foundry.cli.stack import load_settings
from foundry.runtime.errors import FoundryError

datasets_app = typer.Typer(help="Dataset versions stored by the ingestion service.", no_args_is_help=True)

FORMATS: dict[str, ingest_recipe_pb2.Format.ValueType] = {
    name.removeprefix("FORMAT_").lower().replace("_", "-"): number
    for name, number in ingest_recipe_pb2.Format.items()
    if number != 0
}


@reports_errors
def ingest(
    files: list[str] = typer.Argument(..., help="FILE or FILE:SPLIT (split: train, validation/dev, test)"),
    name: str = typer.Option(..., "--name", help="dataset name"),
    task: str = typer.Option("ner", help="ner, classification, multilabel or chat"),
    fmt: str = typer.Option(
        "",
        "--format",
        help=f"one of {', '.join(FORMATS)}, or hf (FILEs are save_to_disk folders); default: from the file name",
    ),
    recipe: Path | None = typer.Option(
        None, help="ingest recipe (YAML or JSON): IngestRecipe fields, SourceSpec fields under source:"
    ),
    field: list[str] = typer.Option(
        [],
        "--field",
        help="KEY=COLUMN (repeatable): KEY is text, label, labels, tokens, tags, spans, messages, "
        "id, split, group or meta; COLUMN a header name, a 0-based index with --no-header, a JSON key",
    ),
    delimiter: str = typer.Option("", help="CSV/TSV delimiter: one character, or tab (\\t), space, comma"),
    header: bool | None = typer.Option(None, "--header/--no-header", help="whether row 1 names the columns"),
    quote: str = typer.Option("", help="CSV/TSV quote character, or none"),
    encoding: str = typer.Option("", help="CSV/TSV text encoding (default utf-8), e.g. latin-1, cp1252"),
    id_field: str = typer.Option("", help="column with each row's own id (same as --field id=COL)"),
    split_field: str = typer.Option("", help="column with each row's split (same as --field split=COL)"),
    policy: str = typer.Option("", help="reject-file (default) or drop-row"),
    pii: bool = typer.Option(False, help="mask personal data"),
    seed: int | None = typer.Option(None, help="split seed"),
    plot: Path | None = typer.Option(None, help="write the label distribution plot here (PNG)"),
) -> None:
    """Upload files to the ingestion service and show the new version's statistics. Flags override
    the recipe's values."""
    settings = load_settings()
    overrides: dict[str, object] = {}
    if policy:
        overrides["validation.policy"] = "VALIDATION_POLICY_" + policy.upper().replace("-", "_")
    if pii:
        overrides["pii.enabled"] = True
    if seed is not None:
        overrides["split.seed"] = seed
    overrides |= source_overrides(
        fields=field,
        id_field=id_field,
        split_field=split_field,
        delimiter=delimiter,
        has_header=header,
        quote=quote,
        encoding=encoding,
    )
    if fmt and fmt not in FORMATS and fmt != export_mod.HF_FORMAT:
        raise FoundryError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}, hf")
    ingest_recipe, source = load_recipe(recipe, overrides)
    with ExitStack() as stack:
        if fmt == export_mod.HF_FORMAT:
            files, fmt = stack.enter_context(export_mod.staged_hf(files)), "parquet"
        response = ingest_mod.upload(
            settings,
            console,
            [ingest_mod.FileArg.parse(f) for f in files],
            name=name,
            task=ingest_mod.parse_task(task),
            fmt=FORMATS.get(fmt, ingest_recipe_pb2.FORMAT_UNSPECIFIED),
            recipe=ingest_recipe,
            source=source,
        )
    ingest_mod.response_summary(console, response)
    written = ingest_mod.show(console, response.dataset_version, plot)
    if written:
        console.print(f"plot: {written}")
    ingest_mod.encoding_hint(console, response.dataset_version, source.csv.encoding or "utf-8")


@datasets_app.command("ls")
@reports_errors
def datasets_ls(
    name: str = typer.Argument("", help="all versions of this dataset; default: newest of each"),
) -> None:
    """List dataset versions."""
    corrupt: list[listing_pb2.CorruptEntry] = []
    versions = ingest_mod.list_datasets(load_settings(), name, corrupt=corrupt)
    print_listing(console, ingest_mod.versions_table(versions), corrupt)


@datasets_app.command("show")
@reports_errors
def datasets_show(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION_ID"),
    plot: Path | None = typer.Option(None, help="write the label distribution plot here (PNG)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole DatasetVersion as JSON"),
) -> None:
    """A version's statistics: step counts, labels per split, duplicates, leakage, PII."""
    name, _, version_id = ref.partition("@")
    version = ingest_mod.get_dataset(load_settings(), name, version_id)
    if as_json:
        console.print_json(ingest_mod.dump_json(version))
        return
    written = ingest_mod.show(console, version, plot)
    if written:
        console.print(f"plot: {written}")


@datasets_app.command("export")
@reports_errors
def datasets_export(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION_ID"),
    out_dir: Path = typer.Argument(..., help="folder to write one file per split into"),
    fmt: str = typer.Option(
        "jsonl", "--format", help="jsonl, conll, parquet (Hugging Face features) or hf (save_to_disk folder)"
    ),
) -> None:
    """Write a version's splits back out as files that `foundry ingest` (and `datasets`) read."""
    written = export_mod.export(load_settings(), ref, export_mod.parse_format(fmt), out_dir)
    for split, (path, rows) in written.items():
        console.print(f"{split}: {rows:,} examples -> {path}")


@reports_errors
def augment(
    dataset: str = typer.Argument(..., help="NAME or NAME@VERSION_ID of the dataset version to augment"),
    recipe: Path = typer.Option(..., help="augmentation recipe (YAML or JSON; Recipe fields)"),
    output: str = typer.Option("", help="name of the new version's dataset (default: the input's)"),
) -> None:
    """Apply a recipe with the augmentation service; show the counts per operator."""
    settings = load_settings()
    response = augment_mod.augment(settings, console, dataset, augment_mod.load_recipe(recipe), output)
    augment_mod.summary(console, response)
