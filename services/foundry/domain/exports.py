"""Writing the examples of one split of a dataset version back out as a file.

`ExportFormat` names the file formats (`foundry datasets export --format`); `write_split`
writes one split's examples in one of them, in the shape the matching reader takes back with
its default field mapping, so that ingesting the files again gives the same examples:

- jsonl: one JSON object per line: "id", then "text"/"label", "text"/"labels", "tokens"/"tags"
  or "messages" by task (JSON Lines: what every tool reads);
- conll: token classification only: "token<TAB>tag" lines, a blank line after each sentence;
- parquet: the Hugging Face `datasets` layout: "id", "text"/"label" (a ClassLabel),
  "text"/"labels" (a list of ClassLabels), "tokens"/"ner_tags" (a list of ClassLabels over "O"
  and B-/I- of each entity type) or "messages", with the features in the schema metadata, so
  that `datasets.load_dataset("parquet", ...)` gives ClassLabel names; unlabeled is -1.

The `hf` export (a `save_to_disk` folder) is written by `foundry.domain.hfdisk` from the same
Arrow tables (`arrow_table`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.domain.hffeatures import (
    class_label_feature,
    features_metadata,
    list_feature,
    string_feature,
)
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example, Task


class ExportFormat(StrEnum):
    """What `foundry datasets export` writes: one file (or folder, for hf) per split."""

    JSONL = "jsonl"
    CONLL = "conll"
    PARQUET = "parquet"
    HF = "hf"  # a `datasets.load_from_disk` folder


#: file name extension of each single-file format
SUFFIXES = {ExportFormat.JSONL: ".jsonl", ExportFormat.CONLL: ".conll", ExportFormat.PARQUET: ".parquet"}


def write_split(
    fmt: ExportFormat, examples: Iterable[Example], path: Path, task: Task, label_set: Sequence[str]
) -> int:
    """Write `examples` to `path` as `fmt` (not hf); the number of examples written."""
    if fmt is ExportFormat.JSONL:
        return _write_jsonl(examples, path, task)
    if fmt is ExportFormat.CONLL:
        return _write_conll(examples, path, task)
    if fmt is ExportFormat.PARQUET:
        table = arrow_table(list(examples), task, label_set)
        pq.write_table(table, path)
        return int(table.num_rows)
    raise ValueError(f"{fmt} is not a single-file format")


# --- JSON Lines ----------------------------------------------------------------------------------


def json_record(example: Example, task: Task) -> dict[str, Any]:
    """The JSON object of `example` that the JSONL reader maps back with its default fields."""
    record: dict[str, Any] = {"id": example.id}
    if task is Task.TOKEN_CLASSIFICATION:
        record["tokens"] = example.tokens or []
        record["tags"] = example.tags
    elif task is Task.CHAT:
        record["messages"] = [{"role": m.role, "content": m.content} for m in example.messages or ()]
    elif task is Task.MULTILABEL_CLASSIFICATION:
        record["text"] = example.text or ""
        record["labels"] = example.labels
    else:
        record["text"] = example.text or ""
        record["label"] = example.label
    return record


def _write_jsonl(examples: Iterable[Example], path: Path, task: Task) -> int:
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as sink:
        for example in examples:
            sink.write(json.dumps(json_record(example, task), ensure_ascii=False) + "\n")
            written += 1
    return written


# --- CoNLL -------------------------------------------------------------------------------------------


def _write_conll(examples: Iterable[Example], path: Path, task: Task) -> int:
    if task is not Task.TOKEN_CLASSIFICATION:
        raise InvalidArgumentError(f"CoNLL holds token classification data, not {task.value}")
    written = 0
    with path.open("w", encoding="utf-8", newline="\n") as sink:
        for example in examples:
            tokens, tags = example.tokens or [], example.tags
            if tags is None:
                raise InvalidArgumentError(f"example {example.id} has no tags; CoNLL needs a tag per token")
            for token, tag in zip(tokens, tags, strict=True):
                if not token or any(ch.isspace() for ch in token):
                    raise InvalidArgumentError(
                        f"example {example.id}: token {token!r} cannot be a CoNLL token (empty or has spaces)"
                    )
                sink.write(f"{token}\t{tag}\n")
            sink.write("\n")
            written += 1
    return written


# --- Arrow (Parquet, save_to_disk) ------------------------------------------------------------------------


def tag_names(label_set: Sequence[str], examples: Iterable[Example]) -> list[str]:
    """The IOB2 tag names of a version: "O", then B-/I- of each entity type (label set first,
    then any other type the examples use, in order of appearance)."""
    types = list(label_set)
    known = set(types)
    for example in examples:
        for tag in example.tags or ():
            type_ = tag[2:] if tag[:2] in ("B-", "I-") else ""
            if type_ and type_ not in known:
                known.add(type_)
                types.append(type_)
    return ["O", *(f"{prefix}-{type_}" for type_ in types for prefix in ("B", "I"))]


def _class_names(label_set: Sequence[str], used: Iterable[str]) -> list[str]:
    names = list(label_set)
    known = set(names)
    for label in used:
        if label not in known:
            known.add(label)
            names.append(label)
    return names


def _ids(values: Sequence[str | None], names: list[str]) -> list[int]:
    index = {name: number for number, name in enumerate(names)}
    return [-1 if value is None else index[value] for value in values]


def arrow_table(examples: list[Example], task: Task, label_set: Sequence[str]) -> pa.Table:
    """The examples as an Arrow table in the `datasets` layout, its features in the metadata."""
    ids = [example.id for example in examples]
    features: dict[str, Any] = {"id": string_feature()}
    columns: dict[str, pa.Array] = {"id": pa.array(ids, pa.string())}
    if task is Task.TOKEN_CLASSIFICATION:
        names = tag_names(label_set, examples)
        features["tokens"] = list_feature(string_feature())
        features["ner_tags"] = list_feature(class_label_feature(names))
        columns["tokens"] = pa.array([e.tokens or [] for e in examples], pa.list_(pa.string()))
        columns["ner_tags"] = pa.array(
            [None if e.tags is None else _ids(e.tags, names) for e in examples], pa.list_(pa.int64())
        )
    elif task is Task.CHAT:
        message = {"role": string_feature(), "content": string_feature()}
        features["messages"] = list_feature(message)
        columns["messages"] = pa.array(
            [[{"role": m.role, "content": m.content} for m in e.messages or ()] for e in examples],
            pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())])),
        )
    elif task is Task.MULTILABEL_CLASSIFICATION:
        names = _class_names(label_set, (label for e in examples for label in e.labels or ()))
        features["text"] = string_feature()
        features["labels"] = list_feature(class_label_feature(names))
        columns["text"] = pa.array([e.text or "" for e in examples], pa.string())
        columns["labels"] = pa.array(
            [None if e.labels is None else _ids(e.labels, names) for e in examples], pa.list_(pa.int64())
        )
    else:
        names = _class_names(label_set, (e.label for e in examples if e.label is not None))
        features["text"] = string_feature()
        features["label"] = class_label_feature(names)
        columns["text"] = pa.array([e.text or "" for e in examples], pa.string())
        columns["label"] = pa.array(_ids([e.label for e in examples], names), pa.int64())
    table = pa.table(columns)
    return table.replace_schema_metadata(features_metadata(features))
