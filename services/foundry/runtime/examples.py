"""`Example`, the only record type, and its Arrow schema (`EXAMPLE_SCHEMA`, version 1).

One `Example` carries the payload of one task family (ARCHITECTURE.md section 2):

- text classification: `text` and `label`; multi-label: `text` and `labels`;
- token classification: `tokens`, `tags` (IOB2) and the char-offset `spans` the tags denote;
- chat / instruction SFT: `messages` (role, content).

Fields a payload does not use are None, and None is kept apart from an empty list in Arrow too
(a nullable list column), so `tokens=[]` and `tokens=None` both survive a round trip.

The dataclasses are frozen (fields cannot be reassigned) but hold plain lists and dicts, which
callers must not mutate once an example is shared: "frozen-ish", in exchange for cheap
construction from Arrow columns. `meta` is written with its keys sorted, so the same example
always gives the same bytes.

Conversion is column-wise: `examples_to_batch` builds each column from one Python list per
field (struct lists from flat child arrays plus offsets), and `batch_to_examples` turns each
column's flat values into one Python list, cuts it at the offsets and zips the columns, never
building a dict per row. Both pause the cyclic garbage collector while they run: they allocate
millions of small acyclic objects, and the collections this triggers took 60% of the time.
Measured here (2 CPUs) for 100k NER examples (15 tokens, 2 spans, meta, provenance): 0.4 to
0.6 s to Arrow and 0.6 to 0.8 s back (1.5 s back with the collector running).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import pyarrow as pa

from foundry.runtime.errors import InvalidArgumentError

T = TypeVar("T")

#: bump when EXAMPLE_SCHEMA changes incompatibly; stored in manifests and Parquet metadata
SCHEMA_VERSION = 1
SCHEMA_VERSION_METADATA = b"foundry.schema_version"


class Split(StrEnum):
    TRAIN = "train"
    VALIDATION = "validation"
    TEST = "test"
    UNASSIGNED = "unassigned"


class Task(StrEnum):
    TEXT_CLASSIFICATION = "text_classification"
    MULTILABEL_CLASSIFICATION = "multilabel_classification"
    TOKEN_CLASSIFICATION = "token_classification"
    CHAT = "chat"


@dataclass(frozen=True, slots=True)
class Span:
    """A labeled character range `[start, end)` of an example's text."""

    start: int
    end: int
    label: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an example came from: a source file and 1-based line, or parents and an operation."""

    source: str = ""
    line: int | None = None
    parent_ids: list[str] = field(default_factory=list)
    operation: str = ""


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    split: Split = Split.UNASSIGNED
    meta: dict[str, str] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    text: str | None = None
    label: str | None = None
    labels: list[str] | None = None
    tokens: list[str] | None = None
    tags: list[str] | None = None
    spans: list[Span] | None = None
    messages: list[ChatMessage] | None = None


def _strings() -> Any:
    return pa.list_(pa.field("item", pa.string(), nullable=False))


SPAN_TYPE = pa.struct(
    [
        pa.field("start", pa.int32(), nullable=False),
        pa.field("end", pa.int32(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
    ]
)
MESSAGE_TYPE = pa.struct(
    [pa.field("role", pa.string(), nullable=False), pa.field("content", pa.string(), nullable=False)]
)
PROVENANCE_TYPE = pa.struct(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("line", pa.int64()),
        pa.field("parent_ids", _strings(), nullable=False),
        pa.field("operation", pa.string(), nullable=False),
    ]
)
META_TYPE = pa.map_(pa.string(), pa.string())
SPANS_TYPE = pa.list_(pa.field("item", SPAN_TYPE, nullable=False))
MESSAGES_TYPE = pa.list_(pa.field("item", MESSAGE_TYPE, nullable=False))

EXAMPLE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("meta", META_TYPE, nullable=False),
        pa.field("provenance", PROVENANCE_TYPE, nullable=False),
        pa.field("text", pa.string()),
        pa.field("label", pa.string()),
        pa.field("labels", _strings()),
        pa.field("tokens", _strings()),
        pa.field("tags", _strings()),
        pa.field("spans", SPANS_TYPE),
        pa.field("messages", MESSAGES_TYPE),
    ],
    metadata={SCHEMA_VERSION_METADATA: str(SCHEMA_VERSION).encode()},
)

_SPLITS = {split.value: split for split in Split}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC (the objects made here hold no cycles); restore its state after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- examples → Arrow ---------------------------------------------------------------------------


def _struct_lists(
    rows: Sequence[Sequence[T] | None], list_type: Any, columns: Callable[[list[T]], list[Any]]
) -> Any:
    """A list<struct> column: the rows' items flattened into child columns, plus offsets."""
    offsets = [0]
    flat: list[T] = []
    nulls: list[bool] = []
    for row in rows:
        nulls.append(row is None)
        if row is not None:
            flat.extend(row)
        offsets.append(len(flat))
    struct_type = list_type.value_type
    values = pa.StructArray.from_arrays(columns(flat), fields=list(struct_type))
    mask = pa.array(nulls, pa.bool_()) if any(nulls) else None
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values, type=list_type, mask=mask)


def examples_to_batch(examples: Iterable[Example]) -> Any:
    """A `pa.RecordBatch` with `EXAMPLE_SCHEMA` holding `examples`, in order."""
    with _gc_paused():
        return _to_batch(list(examples))


def _to_batch(rows: list[Example]) -> Any:
    provenance = [e.provenance for e in rows]
    columns = [
        pa.array([e.id for e in rows], pa.string()),
        pa.array([e.split.value for e in rows], pa.string()),
        pa.array([sorted(e.meta.items()) for e in rows], META_TYPE),
        pa.StructArray.from_arrays(
            [
                pa.array([p.source for p in provenance], pa.string()),
                pa.array([p.line for p in provenance], pa.int64()),
                pa.array([p.parent_ids for p in provenance], _strings()),
                pa.array([p.operation for p in provenance], pa.string()),
            ],
            fields=list(PROVENANCE_TYPE),
        ),
        pa.array([e.text for e in rows], pa.string()),
        pa.array([e.label for e in rows], pa.string()),
        pa.array([e.labels for e in rows], _strings()),
        pa.array([e.tokens for e in rows], _strings()),
        pa.array([e.tags for e in rows], _strings()),
        _struct_lists(
            [e.spans for e in rows],
            SPANS_TYPE,
            lambda spans: [
                pa.array([s.start for s in spans], pa.int32()),
                pa.array([s.end for s in spans], pa.int32()),
                pa.array([s.label for s in spans], pa.string()),
            ],
        ),
        _struct_lists(
            [e.messages for e in rows],
            MESSAGES_TYPE,
            lambda messages: [
                pa.array([m.role for m in messages], pa.string()),
                pa.array([m.content for m in messages], pa.string()),
            ],
        ),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=EXAMPLE_SCHEMA)


def examples_to_table(examples: Iterable[Example]) -> Any:
    """A `pa.Table` with `EXAMPLE_SCHEMA` holding `examples`, in order."""
    return pa.Table.from_batches([examples_to_batch(examples)], schema=EXAMPLE_SCHEMA)


# --- Arrow → examples ---------------------------------------------------------------------------


def _split_rows(column: Any, items: list[T]) -> list[list[T] | None]:
    """Cut the flat `items` (one per child value of a list column) back into its rows."""
    offsets: list[int] = column.offsets.to_pylist()
    if column.null_count == 0:
        return [items[offsets[i] : offsets[i + 1]] for i in range(len(column))]
    valid: list[bool] = column.is_valid().to_pylist()
    return [items[offsets[i] : offsets[i + 1]] if valid[i] else None for i in range(len(column))]


def _string_lists(column: Any) -> list[list[str] | None]:
    """A list<string> column as Python lists (3x faster than `to_pylist` on the column)."""
    return _split_rows(column, column.values.to_pylist())


def _spans(column: Any) -> list[list[Span] | None]:
    starts, ends, labels = (child.to_pylist() for child in column.values.flatten())
    return _split_rows(column, [Span(s, e, label) for s, e, label in zip(starts, ends, labels, strict=True)])


def _messages(column: Any) -> list[list[ChatMessage] | None]:
    roles, contents = (child.to_pylist() for child in column.values.flatten())
    return _split_rows(column, [ChatMessage(r, c) for r, c in zip(roles, contents, strict=True)])


def _metas(column: Any) -> list[dict[str, str]]:
    keys, values = (child.to_pylist() for child in column.values.flatten())
    return [
        dict(zip(row or [], row_values or [], strict=True))
        for row, row_values in zip(_split_rows(column, keys), _split_rows(column, values), strict=True)
    ]


def _provenances(column: Any) -> list[Provenance]:
    source_column, line_column, parents_column, operation_column = column.flatten()
    sources, lines, operations = (
        source_column.to_pylist(),
        line_column.to_pylist(),
        operation_column.to_pylist(),
    )
    parents = _string_lists(parents_column)
    return [
        Provenance(source, line, parent_ids or [], operation)
        for source, line, parent_ids, operation in zip(sources, lines, parents, operations, strict=True)
    ]


def check_schema(schema: Any) -> None:
    """Raise `InvalidArgumentError` unless `schema` is `EXAMPLE_SCHEMA` (metadata aside)."""
    if not schema.equals(EXAMPLE_SCHEMA, check_metadata=False):
        raise InvalidArgumentError(
            f"record batch does not have the Example schema v{SCHEMA_VERSION}:\n{schema}",
            reason="SCHEMA_MISMATCH",
        )


def batch_to_examples(data: Any) -> list[Example]:
    """The examples of a `pa.RecordBatch` or `pa.Table` with `EXAMPLE_SCHEMA`, in order."""
    check_schema(data.schema)
    batches = data.to_batches() if isinstance(data, pa.Table) else [data]
    with _gc_paused():
        return [example for batch in batches for example in _from_batch(batch)]


def _from_batch(batch: Any) -> list[Example]:
    column = batch.column
    return [
        Example(
            id=id_,
            split=_SPLITS[split],
            meta=meta,
            provenance=provenance,
            text=text,
            label=label,
            labels=labels,
            tokens=tokens,
            tags=tags,
            spans=spans,
            messages=messages,
        )
        for id_, split, meta, provenance, text, label, labels, tokens, tags, spans, messages in zip(
            column("id").to_pylist(),
            column("split").to_pylist(),
            _metas(column("meta")),
            _provenances(column("provenance")),
            column("text").to_pylist(),
            column("label").to_pylist(),
            _string_lists(column("labels")),
            _string_lists(column("tokens")),
            _string_lists(column("tags")),
            _spans(column("spans")),
            _messages(column("messages")),
            strict=True,
        )
    ]
