"""Column-wise statistics equal the row-by-row ones."""

from __future__ import annotations

from foundry.domain.stats import StatisticsCollector
from foundry.runtime.examples import ChatMessage, Example, Split, examples_to_batch


def _rows() -> list[Example]:
    return [
        Example(id="a", split=Split.TRAIN, tokens=["Paris", "is", "nice"], tags=["B-loc", "O", "O"]),
        Example(id="b", split=Split.TRAIN, tokens=["New", "York", "café"], tags=["B-loc", "I-loc", "B-org"]),
        Example(id="c", split=Split.TRAIN, tokens=[], tags=[]),
        Example(id="d", split=Split.TRAIN, text="  a  longer   text here ", label="pos"),
        Example(id="e", split=Split.TRAIN, text="short", labels=["x", "y"]),
        Example(id="f", split=Split.TRAIN, text="nothing labeled"),
    ]


def test_columns_and_rows_agree() -> None:
    by_rows, by_columns = StatisticsCollector(), StatisticsCollector()
    for example in _rows():
        by_rows.add(example)
    batch = examples_to_batch(_rows())
    by_columns.add_batch(batch.slice(0, 2), Split.TRAIN)  # slices too
    by_columns.add_batch(batch.slice(2), Split.TRAIN)
    assert by_columns.per_split() == by_rows.per_split()
    stats = by_rows.per_split()[0]
    assert stats["entity_type_counts"] == {"loc": 2, "org": 1}
    assert stats["label_counts"] == {"pos": 1, "x": 1, "y": 1}
    assert stats["unlabeled"] == 1 and stats["rows"] == 6


def test_chat_rows_take_the_row_path() -> None:
    rows = [
        Example(
            id="c", split=Split.TEST, messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "hello!")]
        )
    ]
    collector = StatisticsCollector()
    collector.add_batch(examples_to_batch(rows), Split.TEST)
    chat = collector.per_split()[0]["chat"]
    assert chat["role_counts"] == {"user": 1, "assistant": 1}
    assert chat["response_length"]["max"] == 6
