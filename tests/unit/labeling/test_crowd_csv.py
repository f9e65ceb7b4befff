"""Reading a crowd CSV for `foundry label import` (`foundry.cli.label_crowd.read_crowd`): rows by
annotator, later rows replacing earlier ones, and errors that name the flag to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry.cli.label_crowd import CrowdOptions, CrowdRow, read_crowd
from foundry.runtime.errors import InvalidArgumentError


def test_rows_by_annotator_the_last_per_item_wins(tmp_path: Path) -> None:
    path = tmp_path / "crowd.tsv"
    path.write_text("worker\tid\tanswer\tnote\nb\tq1\tNUM\t\na\tq1\tHUM\tx\n\nb\tq1\tLOC\t\nb\tq2\t\t\n")
    read = read_crowd(path, CrowdOptions(item_column="id", annotator_column="worker", label_column="answer"))
    assert list(read) == ["b", "a"]
    assert list(read["b"].rows.values()) == [CrowdRow(5, "q1", "LOC"), CrowdRow(6, "q2", "")]
    assert (read["b"].replaced, read["a"].replaced) == (1, 0)
    assert list(read["a"].rows.values()) == [CrowdRow(3, "q1", "HUM")]


def test_one_annotator_for_a_file_without_the_column(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    path.write_text("item;label\nq1;NUM\n")
    read = read_crowd(path, CrowdOptions(annotator="vendor", delimiter="semicolon"))
    assert list(read) == ["vendor"]


def test_errors_name_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "crowd.csv"
    path.write_bytes("item,annotator,label\nq1,ann,café\n".encode("latin-1"))
    with pytest.raises(InvalidArgumentError, match="--encoding latin-1"):
        read_crowd(path, CrowdOptions())
    assert list(read_crowd(path, CrowdOptions(encoding="latin-1"))["ann"].rows.values()) == [
        CrowdRow(2, "q1", "café")
    ]
    with pytest.raises(InvalidArgumentError, match=r"no column 'worker'.*--annotator-column"):
        read_crowd(path, CrowdOptions(annotator_column="worker", encoding="latin-1"))
    path.write_text("item,annotator,label\nq1,,NUM\n")
    with pytest.raises(InvalidArgumentError, match="line 2: no annotator"):
        read_crowd(path, CrowdOptions())
    path.write_text("item,annotator,label\nq1,ann,NUM,extra\n")
    with pytest.raises(InvalidArgumentError, match="line 2: 4 cells"):
        read_crowd(path, CrowdOptions())
