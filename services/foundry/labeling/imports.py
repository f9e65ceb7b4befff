"""Imports of existing human work as one named annotator's annotations.

- Label Studio JSON export: a list of tasks, each with `data` (`id` and/or `text`) and
  `annotations[*].result` regions: `choices` (classification) or `labels` with char offsets
  (spans). The last annotation of a task that was not cancelled counts. Record numbers
  (1-based task positions) stand in for line numbers.
- CoNLL: read with the ingestion service's reader (IOB1/IOB2/BIOES, repaired to IOB2); a sentence
  is matched by position when its tokens equal that item's, else by its tokens.

Records are matched to items by id or by (normalised) text (`ItemMatch`); those that match no
item are counted, not stored.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from foundry.domain.formats import ConllOptions, FieldMapping, SourceSpec, ValidationOptions
from foundry.domain.readers.base import ReadContext
from foundry.domain.readers.conll import ConllReader
from foundry.labeling.annotations import Annotation, Source
from foundry.labeling.project import item_text
from foundry.runtime.examples import Example, Span, Task


class ImportFormat(StrEnum):
    LABEL_STUDIO_JSON = "label_studio_json"
    CONLL = "conll"


class ItemMatch(StrEnum):
    UNSPECIFIED = "unspecified"
    ID = "id"
    TEXT = "text"


@dataclass(frozen=True)
class ImportViolation:
    line: int
    field: str
    reason: str
    description: str
    example_id: str = ""


@dataclass
class ParsedImport:
    """Candidate annotations with the record (line) each came from, before validation."""

    annotations: list[tuple[int, Annotation]] = field(default_factory=list)
    unmatched: int = 0
    violations: list[ImportViolation] = field(default_factory=list)


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


class ItemIndex:
    """Items by id, by normalised text, and by token sequence."""

    def __init__(self, examples: Sequence[Example]) -> None:
        self.examples = list(examples)
        self.by_id = {e.id: e for e in examples}
        self.by_text: dict[str, Example] = {}
        self.by_tokens: dict[tuple[str, ...], Example] = {}
        for e in examples:
            self.by_text.setdefault(_normal(item_text(e)), e)
            if e.tokens:
                self.by_tokens.setdefault(tuple(e.tokens), e)

    def find(self, match: ItemMatch, item_id: str, text: str) -> Example | None:
        if match in (ItemMatch.ID, ItemMatch.UNSPECIFIED) and item_id in self.by_id:
            return self.by_id[item_id]
        if match in (ItemMatch.TEXT, ItemMatch.UNSPECIFIED):
            return self.by_text.get(_normal(text))
        return None


def parse_label_studio(
    data: bytes, items: ItemIndex, task: Task, annotator: str, match: ItemMatch
) -> ParsedImport:
    out = ParsedImport()
    try:
        tasks = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        out.violations.append(ImportViolation(getattr(exc, "lineno", 0), "", "malformed_json", str(exc)))
        return out
    if not isinstance(tasks, list):
        out.violations.append(
            ImportViolation(0, "", "malformed_export", "a Label Studio export is a JSON list")
        )
        return out
    for record, raw in enumerate(tasks, 1):
        if not isinstance(raw, dict):
            out.violations.append(ImportViolation(record, "", "malformed_task", "a task is a JSON object"))
            continue
        task_data = raw.get("data") or {}
        example = items.find(
            match, str(task_data.get("id", raw.get("id", ""))), str(task_data.get("text", ""))
        )
        if example is None:
            out.unmatched += 1
            continue
        done = [a for a in raw.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        if not done:
            continue
        label, labels, spans = _results(done[-1].get("result") or [])
        if task is Task.TEXT_CLASSIFICATION:
            annotation = Annotation(example.id, annotator, 1, Source.IMPORT, label=label, skipped=not label)
        elif task is Task.MULTILABEL_CLASSIFICATION:
            annotation = Annotation(example.id, annotator, 1, Source.IMPORT, labels=tuple(labels))
        else:
            annotation = Annotation(example.id, annotator, 1, Source.IMPORT, spans=tuple(spans))
        out.annotations.append((record, annotation))
    return out


def _results(regions: list[Any]) -> tuple[str, list[str], list[Span]]:
    label = ""
    labels: list[str] = []
    spans: list[Span] = []
    for region in regions:
        value = region.get("value", {}) if isinstance(region, dict) else {}
        if "choices" in value:
            labels.extend(str(c) for c in value["choices"])
            label = labels[0] if labels else ""
        for name in value.get("labels", []):
            spans.append(Span(int(value["start"]), int(value["end"]), str(name)))
    return label, labels, sorted(spans, key=lambda s: (s.start, s.end))


def parse_conll(
    data: bytes, items: ItemIndex, options: ConllOptions, annotator: str, match: ItemMatch
) -> ParsedImport:
    out = ParsedImport()
    spec = SourceSpec(file_name="import.conll", field_mapping=FieldMapping(), conll=options)
    reader = ConllReader(
        io.BytesIO(data), ReadContext.create(spec, Task.TOKEN_CLASSIFICATION, ValidationOptions()), options
    )
    for position, sentence in enumerate(_read(reader)):
        line = sentence.provenance.line or 0
        tokens = tuple(sentence.tokens or ())
        example = None
        if match in (ItemMatch.ID, ItemMatch.UNSPECIFIED) and position < len(items.examples):
            candidate = items.examples[position]
            if match is ItemMatch.ID or tuple(candidate.tokens or ()) == tokens:
                example = candidate
        if example is None and match in (ItemMatch.TEXT, ItemMatch.UNSPECIFIED):
            example = items.by_tokens.get(tokens)
        if example is None:
            out.unmatched += 1
            continue
        out.annotations.append(
            (line, Annotation(example.id, annotator, 1, Source.IMPORT, tags=tuple(sentence.tags or ())))
        )
    for v in reader.report.violations:
        out.violations.append(ImportViolation(v.line or 0, v.field, v.reason, v.description, v.example_id))
    return out


def _read(reader: ConllReader) -> Iterator[Example]:
    yield from reader
