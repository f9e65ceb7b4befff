"""Every record of a malformed file is accounted for by the reader: rows read = kept + dropped,
each drop with its reason and the line where its record began (tests/fixtures/ingestion/malformed)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from foundry.domain.formats import CsvOptions, FieldMapping, Format, SourceSpec, ValidationOptions
from foundry.domain.readers import Reader, open_reader
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example, Task

MALFORMED = Path(__file__).resolve().parents[2] / "fixtures" / "ingestion" / "malformed"
BY_INDEX = FieldMapping(label_field="0", text_field="1")
SPACE = CsvOptions(delimiter=" ", has_header=False)
SPACE_REST = CsvOptions(delimiter=" ", has_header=False, last_column_takes_rest=True)


@dataclass(frozen=True)
class Case:
    """A fixture read with some options: the lines of the rows kept, and (line, reason) of each drop."""

    file: str
    kept: list[int]
    drops: list[tuple[int, str]]
    spec: dict[str, object] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)


CASES = {
    "space-delimited sentences, no header: each multi-word row is a violation": Case(
        "sentiment_space.txt",
        kept=[3],
        drops=[(line, "wrong_column_count") for line in (1, 2, 5, 6)],
        spec={"format": Format.CSV, "csv": SPACE, "field_mapping": BY_INDEX},
        texts={3: "wonderful"},
    ),
    "space-delimited sentences, the last column takes the rest": Case(
        "sentiment_space.txt",
        kept=[1, 2, 3, 5, 6],
        drops=[],
        spec={"format": Format.CSV, "csv": SPACE_REST, "field_mapping": BY_INDEX},
        texts={
            1: "a gripping , well-acted thriller that never lets go",
            5: "two hours i will never get back",
        },
    ),
    "TSV, a stray quote never closed: one row, the rest read again": Case(
        "stray_quote.tsv",
        kept=[2, 4, 5],
        drops=[(3, "unclosed_quote")],
        spec={"field_mapping": FieldMapping(text_field="sentence")},
    ),
    "TSV, quote: none": Case(
        "stray_quote.tsv",
        kept=[2, 3, 4, 5],
        drops=[],
        spec={"field_mapping": FieldMapping(text_field="sentence"), "csv": CsvOptions(quoting=False)},
        texts={3: '"odd start of a review'},
    ),
    "TSV, a stray quote closed by a later one": Case(
        "stray_quote_closed.tsv",
        kept=[2, 4, 5, 6],
        drops=[(3, "malformed_csv")],
        spec={"field_mapping": FieldMapping(text_field="sentence")},
        texts={2: 'a "quoted" word inside', 5: 'she replied "no way'},
    ),
    "ragged rows": Case(
        "ragged.csv",
        kept=[2, 5, 6, 8],
        drops=[(3, "wrong_column_count"), (4, "wrong_column_count"), (7, "wrong_column_count")],
    ),
    "an unterminated quote at the end of the file": Case(
        "unterminated_eof.csv", kept=[2, 3], drops=[(4, "unclosed_quote")]
    ),
    "Latin-1 bytes read as UTF-8": Case(
        "questions_latin1.txt",
        kept=[1, 4],
        drops=[(2, "bad_encoding"), (3, "bad_encoding")],
        spec={"format": Format.CSV, "csv": SPACE_REST, "field_mapping": BY_INDEX},
    ),
    "Latin-1 bytes read as Latin-1": Case(
        "questions_latin1.txt",
        kept=[1, 2, 3, 4],
        drops=[],
        spec={
            "format": Format.CSV,
            "csv": CsvOptions(
                delimiter=" ", has_header=False, last_column_takes_rest=True, encoding="latin-1"
            ),
            "field_mapping": BY_INDEX,
        },
        texts={2: "What is the capital of Côte d'Ivoire ?"},
    ),
    "BOM, CRLF, a record over two lines, blank lines": Case(
        "crlf_bom.csv", kept=[2, 4, 7], drops=[], texts={4: "a review\nover two lines"}
    ),
    "a quoted field over more than max_record_lines": Case(
        "long_quote.csv",
        kept=[2, 4, 5, 6, 7],
        drops=[(3, "unclosed_quote")],
        spec={"csv": CsvOptions(max_record_lines=3)},
        texts={7: "short\nbut fine"},
    ),
    "a runaway quote closed by a later one (default max_record_lines)": Case(
        "long_quote.csv", kept=[2, 4, 5, 6, 7], drops=[(3, "malformed_csv")]
    ),
    "blank lines are not records": Case("blank_lines.tsv", kept=[4, 7, 8, 9], drops=[]),
}


def read(name: str, data: bytes | None = None, **spec: object) -> tuple[list[Example], Reader]:
    stream = io.BytesIO(data if data is not None else (MALFORMED / name).read_bytes())
    source = SourceSpec(file_name=name, **spec)  # type: ignore[arg-type]
    reader = open_reader(
        stream, source, Task.TEXT_CLASSIFICATION, ValidationOptions(max_violations_reported=100)
    )
    return list(reader), reader


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_every_record_is_kept_or_dropped_with_its_line(case: Case) -> None:
    examples, reader = read(case.file, **case.spec)
    report = reader.report
    assert report.rows_in == report.rows_out + report.rows_dropped
    assert [e.provenance.line for e in examples] == case.kept
    assert [(v.line, v.reason) for v in report.violations] == case.drops
    assert report.rows_in == len(case.kept) + len(case.drops)
    texts = {e.provenance.line: e.text for e in examples}
    assert {line: texts[line] for line in case.texts} == case.texts


def test_the_unclosed_quote_names_the_line_it_opened_on() -> None:
    _, reader = read("unterminated_eof.csv")
    assert reader.report.violations[0].description == (
        "a quoted field opened on line 4 is not closed before the end of the file"
    )
    _, reader = read("long_quote.csv", csv=CsvOptions(max_record_lines=3))
    assert (
        "opened on line 3 runs over more than max_record_lines (3)" in reader.report.violations[0].description
    )


def test_extra_cells_name_the_option_that_joins_them() -> None:
    _, reader = read("sentiment_space.txt", format=Format.CSV, csv=SPACE, field_mapping=BY_INDEX)
    assert reader.report.violations[0].description == (
        "10 cells, the file has 2 columns (last_column_takes_rest joins the extra cells onto the last column)"
    )


def test_last_column_takes_the_rest_with_a_header_and_fewer_cells_stay_violations() -> None:
    data = b"label\ttext\npos\tgreat\tvalue\nneg\n"
    examples, reader = read("x.tsv", data, csv=CsvOptions(last_column_takes_rest=True))
    assert [(e.label, e.text) for e in examples] == [("pos", "great\tvalue")]
    assert [(v.line, v.reason) for v in reader.report.violations] == [(3, "wrong_column_count")]


def test_without_a_header_or_indexed_mapping_the_first_record_sets_the_columns() -> None:
    data = b"a,b\nc,d,e\nf,g\n"
    examples, reader = read("x.csv", data, csv=CsvOptions(has_header=False), field_mapping=FieldMapping())
    assert reader.report.rows_in == 3
    assert [(v.line, v.reason) for v in reader.report.violations] == [
        (1, "missing_field"),
        (2, "wrong_column_count"),
        (3, "missing_field"),
    ]
    assert examples == []


def test_a_bad_line_inside_a_quoted_field_drops_the_record_and_is_read_again() -> None:
    data = b'text,label\n"open,a\n\xff\xfe,b\nafter,c\n'
    examples, reader = read("x.csv", data)
    assert [(e.text, e.provenance.line) for e in examples] == [("after", 4)]
    assert [(v.line, v.reason) for v in reader.report.violations] == [
        (2, "bad_encoding"),
        (3, "bad_encoding"),
    ]
    assert reader.report.rows_in == 3


def test_max_record_lines_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        read("x.csv", b"text\n", csv=CsvOptions(max_record_lines=0))
    assert [v.field for v in raised.value.violations] == ["source.csv.max_record_lines"]
