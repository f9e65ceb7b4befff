"""`foundry label import` of a crowd CSV: one row per (item, annotator, label), any number of
annotators in one file and one command.

The item column holds the item's id as the user knows it, matched to the project's items by
`--item-key`: `id` (the example id, as ingested with `--id-field`), `meta.FIELD` (an example's
meta field, as ingested with `--field meta=FIELD`; looked up through the ingestion service's
ReadExamples over the project's dataset version and splits) or `text` (the item's text). Rows are
grouped by annotator and each annotator's rows go to ImportAnnotations as one Label Studio JSON
document, `data.id` the project's item id, so the service validates and stores them exactly as
any other import. A later row for the same (annotator, item) replaces an earlier one. Multi-label
cells are split at `labels_separator`. Violations name the CSV line they came from.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from foundry.api.common.v1 import refs_pb2, task_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as ingestion_pb
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2
from foundry.cli.ingest_options import parse_delimiter
from foundry.client.ingestion import IngestionClient
from foundry.client.labeling import LabelingClient
from foundry.client.uploads import CHUNK_BYTES
from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.settings import Settings


@dataclass(frozen=True, slots=True)
class CrowdOptions:
    """How to read a crowd CSV and match its rows to items."""

    item_column: str = "item"
    annotator_column: str = "annotator"
    label_column: str = "label"
    #: "id", "meta.FIELD" or "text"
    item_key: str = "id"
    #: every row's annotator when the file has no annotator column
    annotator: str = ""
    delimiter: str = ""
    encoding: str = "utf-8"
    labels_separator: str = "|"


@dataclass(frozen=True, slots=True)
class CrowdRow:
    line: int
    item: str
    label: str


@dataclass
class AnnotatorImport:
    """One annotator's rows (the last per item) and what the service said of them."""

    rows: dict[str, CrowdRow] = field(default_factory=dict)
    replaced: int = 0
    #: rows whose item the item key resolves to no item of the project (not sent)
    unresolved: int = 0
    #: the CSV line of each record sent (Label Studio task k is lines[k - 1])
    lines: list[int] = field(default_factory=list)
    response: pb.ImportAnnotationsResponse | None = None


def _bad(flag: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, violations=[FieldViolation(flag, message)])


def read_crowd(path: Path, options: CrowdOptions) -> dict[str, AnnotatorImport]:
    """The file's rows by annotator, in the order annotators first appear."""
    try:
        text = path.read_bytes().decode(options.encoding)
    except LookupError:
        raise _bad("--encoding", f"unknown encoding {options.encoding!r}") from None
    except UnicodeDecodeError as error:
        raise _bad(
            "--encoding",
            f"{path.name} is not valid {options.encoding} (byte {error.start}: {error.reason}); "
            "name the file's encoding with --encoding, e.g. --encoding latin-1 or --encoding cp1252",
        ) from error
    delimiter = parse_delimiter(options.delimiter) if options.delimiter else _default_delimiter(path)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter)
    header = [name.strip() for name in next(reader, [])]
    columns = {"--item-column": options.item_column, "--label-column": options.label_column}
    if not options.annotator:
        columns["--annotator-column"] = options.annotator_column
    for flag, name in columns.items():
        if name not in header:
            raise _bad(
                flag, f"{path.name} has no column {name!r} (its columns: {', '.join(header)}); see {flag}"
            )
    item_at, label_at = header.index(options.item_column), header.index(options.label_column)
    annotator_at = None if options.annotator else header.index(options.annotator_column)
    out: dict[str, AnnotatorImport] = {}
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            line = reader.line_num
            if len(row) != len(header):
                raise _bad(str(path), f"line {line}: {len(row)} cells, the header has {len(header)}")
            annotator = options.annotator if annotator_at is None else row[annotator_at].strip()
            if not annotator:
                raise _bad(str(path), f"line {line}: no annotator in column {options.annotator_column!r}")
            entry = out.setdefault(annotator, AnnotatorImport())
            item = row[item_at].strip()
            entry.replaced += item in entry.rows
            entry.rows[item] = CrowdRow(line, item, row[label_at].strip())
    except csv.Error as error:
        raise _bad(str(path), f"line {reader.line_num}: malformed CSV: {error}") from error
    return out


def _default_delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def item_ids(settings: Settings, project: project_pb2.Project, key: str, wanted: set[str]) -> dict[str, str]:
    """The project's item id of each of the user's item ids in `wanted` that `key` resolves
    ("id" and "text": themselves, the service matches them)."""
    if key in ("id", "text"):
        return {item: item for item in wanted}
    meta_field = key.removeprefix("meta.")
    if not key.startswith("meta.") or not meta_field:
        raise _bad("--item-key", f"--item-key is id, text or meta.FIELD; got {key!r}")
    request = ingestion_pb.ReadExamplesRequest(
        dataset=refs_pb2.DatasetRef(name=project.dataset.name, version_id=project.dataset.version_id),
        splits=project.splits,
    )
    found: dict[str, str] = {}
    with IngestionClient(settings) as client:
        for batch in client.read_examples(request):
            for example in batch.examples:
                value = example.meta.get(meta_field)
                if value is None or value not in wanted:
                    continue
                if value in found and found[value] != example.id:
                    raise _bad(
                        "--item-key",
                        f"meta field {meta_field!r} is {value!r} on items {found[value]} and {example.id}: "
                        "it does not name one item",
                    )
                found[value] = example.id
    return found


def _task(item_id: str, label: str, key: str, multilabel: bool, separator: str) -> dict[str, object]:
    choices = [x.strip() for x in label.split(separator) if x.strip()] if multilabel else [label]
    data = {"text": item_id} if key == "text" else {"id": item_id}
    result = [{"value": {"choices": choices}}] if label else []
    return {"data": data, "annotations": [{"result": result}]}


def _requests(header: pb.ImportAnnotationsHeader, body: bytes) -> Iterator[pb.ImportAnnotationsRequest]:
    yield pb.ImportAnnotationsRequest(header=header)
    for start in range(0, len(body), CHUNK_BYTES):
        yield pb.ImportAnnotationsRequest(chunk=body[start : start + CHUNK_BYTES])


def import_crowd(
    settings: Settings, console: Console, project_id: str, path: Path, options: CrowdOptions
) -> dict[str, AnnotatorImport]:
    """Read the file, match its items, and import each annotator's rows; print a table."""
    annotators = read_crowd(path, options)
    with LabelingClient(settings) as client:
        project = client.get_project(pb.GetProjectRequest(project_id=project_id)).project
        if project.task not in (task_pb2.TASK_TEXT_CLASSIFICATION, task_pb2.TASK_MULTILABEL_CLASSIFICATION):
            raise FailedPreconditionError(
                f"a crowd CSV carries class labels; project {project_id} is {task_pb2.Task.Name(project.task)}: "
                "import a Label Studio JSON export or a CoNLL file instead"
            )
        multilabel = project.task == task_pb2.TASK_MULTILABEL_CLASSIFICATION
        wanted = {item for entry in annotators.values() for item in entry.rows}
        ids = item_ids(settings, project, options.item_key, wanted)
        match = pb.ITEM_MATCH_TEXT if options.item_key == "text" else pb.ITEM_MATCH_ID
        for annotator, entry in annotators.items():
            sent = [row for row in entry.rows.values() if row.item in ids]
            entry.unresolved = len(entry.rows) - len(sent)
            separator = options.labels_separator
            tasks = [_task(ids[row.item], row.label, options.item_key, multilabel, separator) for row in sent]
            entry.lines = [row.line for row in sent]
            body = json.dumps(tasks, ensure_ascii=False).encode()
            header = pb.ImportAnnotationsHeader(
                project_id=project_id,
                annotator=annotator,
                format=pb.IMPORT_FORMAT_LABEL_STUDIO_JSON,
                match=match,
                size_bytes=len(body),
                sha256=hashlib.sha256(body).hexdigest(),
            )
            entry.response = client.import_annotations(_requests(header, body))
    console.print(summary_table(path, annotators))
    for annotator, entry in annotators.items():
        lines = entry.lines
        for v in entry.response.violations[:20] if entry.response else []:
            line = lines[v.line - 1] if 0 < v.line <= len(lines) else v.line
            console.print(f"  {annotator}: line {line}: {v.field or '-'}: {v.reason}: {v.description}")
    return annotators


def summary_table(path: Path, annotators: dict[str, AnnotatorImport]) -> Table:
    table = Table(title=f"imported from {path.name}")
    for column in ("annotator", "items", "imported", "unmatched", "violations", "replaced"):
        table.add_column(column, justify="left" if column == "annotator" else "right")
    totals = [0, 0, 0, 0, 0]
    for annotator, entry in annotators.items():
        response = entry.response or pb.ImportAnnotationsResponse()
        unmatched = response.unmatched + entry.unresolved
        counts = [len(entry.rows), response.imported, unmatched, len(response.violations), entry.replaced]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        table.add_row(annotator, *(f"{n:,}" for n in counts))
    table.add_row(f"{len(annotators)} annotators", *(f"{n:,}" for n in totals))
    return table
