"""Example ⇄ Arrow (and Parquet) round trips for every payload kind."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import (
    EXAMPLE_SCHEMA,
    SCHEMA_VERSION,
    ChatMessage,
    Example,
    Provenance,
    Span,
    Split,
    Task,
    batch_to_examples,
    examples_to_batch,
    examples_to_table,
)
from foundry.runtime.shards import encode_shard

EXAMPLES = [
    Example(
        "clf-1",
        Split.TRAIN,
        {"lang": "en", "a": "1"},
        Provenance("reviews.jsonl", 1),
        text="great film",
        label="pos",
    ),
    Example("clf-2", Split.TEST, text="", label=None),
    Example("ml-1", Split.VALIDATION, text="ünïcödé 文字 🙂", labels=["a", "b"]),
    Example("ml-2", labels=[]),
    Example(
        "ner-1",
        Split.TRAIN,
        provenance=Provenance("wnut17.conll", 42),
        text="New York rocks",
        tokens=["New", "York", "rocks"],
        tags=["B-location", "I-location", "O"],
        spans=[Span(0, 8, "location")],
    ),
    Example("ner-2", tokens=[], tags=[], spans=[]),
    Example(
        "chat-1",
        Split.TRAIN,
        {"source": "dolly"},
        Provenance(parent_ids=["p1", "p2"], operation="augment.paraphrase"),
        messages=[
            ChatMessage("system", "be brief"),
            ChatMessage("user", "¿qué?\n"),
            ChatMessage("assistant", ""),
        ],
    ),
    Example("chat-2", messages=[]),
    Example("empty"),
]


def test_round_trip_keeps_every_field_and_none_apart_from_empty() -> None:
    batch = examples_to_batch(EXAMPLES)
    assert batch.schema.equals(EXAMPLE_SCHEMA)
    back = batch_to_examples(batch)
    assert back == EXAMPLES
    by_id = {e.id: e for e in back}
    assert by_id["ner-2"].tokens == [] and by_id["empty"].tokens is None
    assert by_id["ml-2"].labels == [] and by_id["clf-1"].labels is None
    assert by_id["chat-2"].messages == [] and by_id["empty"].messages is None
    assert by_id["clf-2"].text == "" and by_id["empty"].text is None
    assert by_id["empty"].provenance == Provenance() and by_id["empty"].meta == {}
    assert by_id["clf-1"].split is Split.TRAIN and isinstance(by_id["empty"].split, Split)


def test_meta_is_stored_with_sorted_keys() -> None:
    batch = examples_to_batch(EXAMPLES[:1])
    assert batch.column("meta").to_pylist() == [[("a", "1"), ("lang", "en")]]


def test_slices_and_multi_chunk_tables_convert_back() -> None:
    table = pa.concat_tables([examples_to_table(EXAMPLES), examples_to_table(EXAMPLES)])
    assert batch_to_examples(table) == EXAMPLES + EXAMPLES
    assert batch_to_examples(table.slice(5, 8)) == EXAMPLES[5:] + EXAMPLES[:4]
    assert batch_to_examples(examples_to_batch(EXAMPLES).slice(4, 3)) == EXAMPLES[4:7]
    assert batch_to_examples(examples_to_batch([])) == []


def test_parquet_round_trip_and_deterministic_bytes() -> None:
    data = encode_shard(EXAMPLES)
    assert data == encode_shard(list(EXAMPLES))
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.metadata[b"foundry.schema_version"] == str(SCHEMA_VERSION).encode()
    assert batch_to_examples(table) == EXAMPLES


def test_a_foreign_schema_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="Example schema"):
        batch_to_examples(pa.table({"id": ["x"]}))


def test_task_and_split_values() -> None:
    assert [t.value for t in Task] == [
        "text_classification",
        "multilabel_classification",
        "token_classification",
        "chat",
    ]
    assert [s.value for s in Split] == ["train", "validation", "test", "unassigned"]
