"""Readers on real and broken fixtures: exact counts, violations and line numbers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from foundry.domain.formats import (
    ConllOptions,
    CsvOptions,
    FieldMapping,
    Format,
    SourceSpec,
    TagScheme,
    ValidationOptions,
)
from foundry.domain.readers import Reader, detect_format, open_reader
from foundry.domain.readers.base import IdAssigner
from foundry.domain.readers.lines import BadLine, iter_lines
from foundry.domain.tags import is_valid_iob2, spans_from_tags
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Span, Split, Task
from foundry.runtime.hashing import canonical_json_sha256

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingestion"
WNUT_TRAIN = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17" / "wnut17train.conll"


def read(
    name: str, task: Task, *, validation: ValidationOptions | None = None, **spec: object
) -> tuple[list[Example], Reader]:
    """The examples of a fixture and its reader (for the report)."""
    with (FIXTURES / name).open("rb") as handle:
        reader = open_reader(handle, SourceSpec(file_name=name, **spec), task, validation)  # type: ignore[arg-type]
        return list(reader), reader


def read_bytes(
    data: bytes, name: str, task: Task, *, validation: ValidationOptions | None = None, **spec: object
) -> tuple[list[Example], Reader]:
    reader = open_reader(io.BytesIO(data), SourceSpec(file_name=name, **spec), task, validation)  # type: ignore[arg-type]
    return list(reader), reader


def violations(reader: Reader) -> list[tuple[str, int | None, str]]:
    return [(v.reason, v.line, v.field) for v in reader.report.violations]


def assert_consistent_ner(example: Example) -> None:
    assert example.tokens is not None and example.tags is not None
    assert len(example.tokens) == len(example.tags)
    assert is_valid_iob2(example.tags)
    assert (example.text, example.spans) == spans_from_tags(example.tokens, example.tags)


# --- CoNLL -----------------------------------------------------------------------------------------


def test_wnut_slice_reads_every_sentence_with_its_first_line() -> None:
    examples, reader = read("wnut17_slice.conll", Task.TOKEN_CLASSIFICATION)
    assert len(examples) == 40
    report = reader.report
    assert (report.rows_in, report.rows_out, report.rows_dropped, report.rows_modified) == (40, 40, 0, 0)
    first = examples[0]
    assert first.provenance.source == "wnut17_slice.conll"
    assert first.provenance.line == 1
    assert first.tokens is not None and first.tokens[:3] == ["@paulwalk", "It", "'s"]
    assert first.text is not None and first.spans is not None
    assert [(first.text[s.start : s.end], s.label) for s in first.spans] == [
        ("Empire State Building", "location"),
        ("ESB", "location"),
    ]
    assert examples[1].provenance.line == 29  # after 27 token lines and a blank one
    assert sum(len(e.tokens or []) for e in examples) == 735 - 40
    for example in examples:
        assert_consistent_ner(example)
        assert example.split is Split.UNASSIGNED
    assert len({e.id for e in examples}) == 40


def test_whole_wnut_train_file() -> None:
    with WNUT_TRAIN.open("rb") as handle:
        reader = open_reader(handle, SourceSpec(file_name="wnut17train.conll"), Task.TOKEN_CLASSIFICATION)
        examples = list(reader)
    assert len(examples) == 3394
    assert reader.report.rows_dropped == 0
    assert sum(len(e.spans or []) for e in examples) == 1975


def test_conll_ids_are_content_hashes_stable_when_sentences_move() -> None:
    data = (FIXTURES / "wnut17_slice.conll").read_bytes()
    blocks = data.rstrip(b"\n").split(b"\n\t\n")
    forward, _ = read_bytes(data, "a.conll", Task.TOKEN_CLASSIFICATION)
    backward, _ = read_bytes(b"\n\n".join(reversed(blocks)) + b"\n", "a.conll", Task.TOKEN_CLASSIFICATION)
    assert {e.id: e.tokens for e in forward} == {e.id: e.tokens for e in backward}
    first = forward[0]
    assert first.id == canonical_json_sha256({"tokens": first.tokens, "tags": first.tags})[:16]


def test_repeated_payloads_get_numbered_ids() -> None:
    sentence = b"Hello\tO\nworld\tO\n\n"
    examples, _ = read_bytes(sentence * 3, "r.conll", Task.TOKEN_CLASSIFICATION)
    base = examples[0].id
    assert [e.id for e in examples] == [base, f"{base}-1", f"{base}-2"]
    assert [e.provenance.line for e in examples] == [1, 4, 7]


def test_iob1_with_documents_four_columns_and_grouping() -> None:
    examples, reader = read(
        "iob1.conll",
        Task.TOKEN_CLASSIFICATION,
        conll=ConllOptions(scheme=TagScheme.IOB1, group_by_document=True),
    )
    assert [e.provenance.line for e in examples] == [3, 13, 18]
    assert examples[0].tags == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert examples[2].tags == ["B-LOC", "B-LOC", "O", "B-LOC"]
    assert [e.meta["group"] for e in examples] == ["doc-1", "doc-1", "doc-2"]
    counters = reader.report.counters
    assert (counters["documents"], counters["tags_converted"], counters["tags_repaired"]) == (2, 6, 0)
    assert reader.report.rows_modified == 3
    for example in examples:
        assert_consistent_ner(example)


def test_iob1_undeclared_is_repaired_and_counted_as_repairs() -> None:
    examples, reader = read("iob1.conll", Task.TOKEN_CLASSIFICATION)
    assert examples[2].tags == ["B-LOC", "B-LOC", "O", "B-LOC"]
    assert (reader.report.counters["tags_converted"], reader.report.counters["tags_repaired"]) == (0, 6)
    assert all(e.meta == {} for e in examples)


def test_pos_column_as_the_tag_column() -> None:
    examples, _ = read("iob1.conll", Task.TOKEN_CLASSIFICATION, conll=ConllOptions(tag_column=2))
    assert examples[0].tags == ["B-NP", "B-VP", "B-NP", "I-NP", "B-VP", "I-VP", "B-NP", "I-NP", "O"]


def test_bioes_detected_per_sentence() -> None:
    examples, reader = read("bioes.conll", Task.TOKEN_CLASSIFICATION)
    assert examples[0].tags == ["B-PER", "O", "O", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert examples[0].spans == [Span(0, 4, "PER"), Span(20, 33, "LOC")]
    assert examples[1].tags == ["B-ORG", "I-ORG", "O", "B-PER"]
    assert reader.report.counters["tags_converted"] == 4
    assert [e.provenance.line for e in examples] == [1, 9]


def test_broken_conll_drops_whole_sentences_at_their_first_line() -> None:
    examples, reader = read("broken.conll", Task.TOKEN_CLASSIFICATION)
    assert violations(reader) == [("too_few_columns", 1, "tags"), ("invalid_tag", 6, "tags")]
    assert "line 3" in reader.report.violations[0].description
    assert [e.provenance.line for e in examples] == [9, 12]
    assert examples[0].tags == ["O", "B-location"]  # repaired from I-location
    assert examples[1].tokens == ["Iota", "Kappa"]  # the last sentence has no final newline
    report = reader.report
    assert (report.rows_in, report.rows_out, report.rows_dropped, report.rows_modified) == (4, 2, 2, 1)
    assert report.counters["tags_repaired"] == 1


def test_conll_without_repair_rejects_invalid_sequences() -> None:
    _, reader = read(
        "broken.conll", Task.TOKEN_CLASSIFICATION, validation=ValidationOptions(repair_tag_sequences=False)
    )
    assert ("invalid_tag_sequence", 9, "tags") in violations(reader)
    assert reader.report.rows_out == 1


def test_conll_overlong_line_and_sentence() -> None:
    data = b"a\tO\n" + b"b" * 100 + b"\tO\nc\tO\n\nd\tO\ne\tO\n\n" + b"f\tO\n" * 40 + b"\ng\tO\n"
    examples, reader = read_bytes(
        data, "x.conll", Task.TOKEN_CLASSIFICATION, validation=ValidationOptions(max_record_bytes=64)
    )
    assert violations(reader) == [("record_too_large", 1, ""), ("record_too_large", 8, "")]
    assert [(e.tokens, e.provenance.line) for e in examples] == [(["d", "e"], 5), (["g"], 49)]


def test_conll_separator_keeps_spaces_inside_tokens() -> None:
    data = b"New York\tB-LOC \n\t\nis\tO\n"
    examples, _ = read_bytes(data, "x.conll", Task.TOKEN_CLASSIFICATION, conll=ConllOptions(separator="\t"))
    assert [e.tokens for e in examples] == [["New York"], ["is"]]
    assert examples[0].tags == ["B-LOC"]


def test_conll_bad_encoding_and_crlf_and_bom() -> None:
    data = b"\xef\xbb\xbfA\tO\r\nB\tB-X\r\n\r\n\xff\tO\r\n\r\nC\tO\r\n"
    examples, reader = read_bytes(data, "x.conll", Task.TOKEN_CLASSIFICATION)
    assert [(e.tokens, e.tags, e.provenance.line) for e in examples] == [
        (["A", "B"], ["O", "B-X"], 1),
        (["C"], ["O"], 6),
    ]
    assert violations(reader) == [("bad_encoding", 4, "")]


def test_conll_needs_token_classification() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        read("bioes.conll", Task.TEXT_CLASSIFICATION)
    assert caught.value.reason == "FORMAT_TASK_MISMATCH"


# --- JSONL --------------------------------------------------------------------------------------------


def test_jsonl_with_ids_splits_groups_and_nested_meta() -> None:
    mapping = FieldMapping(
        id_field="id", split_field="split", group_field="user.id", meta_fields=("meta.lang",)
    )
    examples, reader = read("text.jsonl", Task.TEXT_CLASSIFICATION, field_mapping=mapping)
    assert [e.id for e in examples] == ["a1", "a2", "a3", "a4", "5"]
    assert [e.split for e in examples] == [
        Split.TRAIN,
        Split.VALIDATION,
        Split.TEST,
        Split.UNASSIGNED,
        Split.VALIDATION,
    ]
    assert [e.provenance.line for e in examples] == [1, 2, 4, 5, 6]  # line 3 is blank
    assert [e.label for e in examples] == ["pos", "neg", "pos", None, "1"]
    assert examples[0].meta == {"group": "u1", "meta.lang": "en"}
    assert examples[2].text == "C'était magnifique"
    assert reader.report.rows_in == 5


def test_default_split_for_rows_without_one() -> None:
    mapping = FieldMapping(split_field="split")
    examples, _ = read(
        "text.jsonl", Task.TEXT_CLASSIFICATION, field_mapping=mapping, default_split=Split.TRAIN
    )
    assert [e.split for e in examples] == [
        Split.TRAIN,
        Split.VALIDATION,
        Split.TEST,
        Split.TRAIN,
        Split.VALIDATION,
    ]


def test_broken_jsonl_reports_each_bad_line() -> None:
    examples, reader = read(
        "broken.jsonl", Task.TEXT_CLASSIFICATION, validation=ValidationOptions(max_record_bytes=200)
    )
    assert violations(reader) == [
        ("bad_json", 2, ""),
        ("not_an_object", 3, ""),
        ("missing_field", 4, "text"),
        ("wrong_type", 5, "text"),
        ("record_too_large", 6, ""),
        ("wrong_type", 9, "label"),
    ]
    assert [e.provenance.line for e in examples] == [1, 8, 10]
    assert examples[1].id == examples[0].id + "-1"
    report = reader.report
    assert (report.rows_in, report.rows_out, report.rows_dropped) == (9, 3, 6)
    assert dict(report.drop_reasons) == {
        "bad_json": 1,
        "not_an_object": 1,
        "missing_field": 1,
        "wrong_type": 2,
        "record_too_large": 1,
    }


def test_max_violations_reported_caps_the_list_not_the_counts() -> None:
    _, reader = read(
        "broken.jsonl",
        Task.TEXT_CLASSIFICATION,
        validation=ValidationOptions(max_record_bytes=200, max_violations_reported=2),
    )
    assert len(reader.report.violations) == 2
    assert reader.report.rows_dropped == 6


def test_duplicate_and_unknown_given_values() -> None:
    data = (
        b'{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n{"id": "y", "text": "c", "split": "holdout"}\n'
    )
    mapping = FieldMapping(id_field="id", split_field="split")
    examples, reader = read_bytes(data, "d.jsonl", Task.TEXT_CLASSIFICATION, field_mapping=mapping)
    assert [e.id for e in examples] == ["x"]
    assert violations(reader) == [("duplicate_id", 2, "id"), ("unknown_split", 3, "split")]


def test_jsonl_token_classification_rows() -> None:
    examples, reader = read("ner.jsonl", Task.TOKEN_CLASSIFICATION)
    assert violations(reader) == [("length_mismatch", 3, "tags")]
    assert examples[1].tags == ["B-PER", "I-PER"]  # repaired
    assert examples[2].tags is None and examples[2].spans is None and examples[2].text == "unlabeled tokens"
    assert examples[3].tokens == ["Paris", "is", "nice"]  # whitespace-separated strings
    assert reader.report.counters["tags_repaired"] == 1
    for example in (examples[0], examples[1], examples[3]):
        assert_consistent_ner(example)


def test_jsonl_text_and_spans_become_tokens_and_tags() -> None:
    examples, reader = read("spans.jsonl", Task.TOKEN_CLASSIFICATION)
    assert violations(reader) == [("span_misaligned", 2, "spans"), ("span_out_of_range", 5, "spans")]
    first = examples[0]
    assert first.tokens == ["Ann", "lives", "in", "New", "York"]
    assert first.tags == ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    assert first.text == "Ann lives in New York"  # single spaces: the spans follow
    assert first.spans == [Span(0, 3, "PER"), Span(13, 21, "LOC")]
    assert examples[1].tags == ["O", "O", "O"] and examples[1].spans == []
    assert examples[2].tags is None  # no spans field: unlabeled


def test_multilabel_from_jsonl_lists_and_strings() -> None:
    data = b'{"text": "a", "labels": ["x", "y"]}\n{"text": "b", "labels": "x|z"}\n{"text": "c"}\n{"text": "d", "labels": 3}\n'
    examples, reader = read_bytes(data, "m.jsonl", Task.MULTILABEL_CLASSIFICATION)
    assert [e.labels for e in examples] == [["x", "y"], ["x", "z"], None]
    assert violations(reader) == [("wrong_type", 4, "labels")]


# --- CSV / TSV ----------------------------------------------------------------------------------------


def test_csv_with_bom_crlf_quotes_and_multiline_records() -> None:
    mapping = FieldMapping(id_field="id", split_field="split")
    examples, reader = read("multilabel.csv", Task.MULTILABEL_CLASSIFICATION, field_mapping=mapping)
    assert [e.id for e in examples] == ["m1", "m2", "m3"]
    assert examples[0].text == "Cheap, fast and good"
    assert examples[0].labels == ["price", "speed", "quality"]
    assert examples[1].text == "A review\nover two lines"
    assert examples[1].labels == ["quality"]  # a JSON list in a cell
    assert examples[2].labels == []
    assert [e.provenance.line for e in examples] == [2, 3, 5]
    assert [e.split for e in examples] == [Split.TRAIN, Split.TEST, Split.UNASSIGNED]
    assert violations(reader) == [("wrong_column_count", 6, ""), ("unclosed_quote", 7, "")]
    assert (reader.report.rows_in, reader.report.rows_out) == (5, 3)


def test_tsv_with_mapping_and_meta() -> None:
    mapping = FieldMapping(text_field="sentence", label_field="sentiment", meta_fields=("source",))
    examples, reader = read("text.tsv", Task.TEXT_CLASSIFICATION, field_mapping=mapping)
    assert [(e.text, e.label, e.meta, e.provenance.line) for e in examples] == [
        ("Great\tvalue", "pos", {"source": "web"}, 2),
        ("Bad service", "neg", {"source": "shop"}, 3),
        ("Okay I guess", "neutral", {"source": "web"}, 5),
    ]
    assert reader.report.rows_dropped == 0


def test_csv_without_header_names_columns_by_index() -> None:
    data = b"pos;great\nneg;awful\n"
    mapping = FieldMapping(text_field="1", label_field="0")
    examples, _ = read_bytes(
        data,
        "x.csv",
        Task.TEXT_CLASSIFICATION,
        field_mapping=mapping,
        csv=CsvOptions(delimiter=";", has_header=False),
    )
    assert [(e.text, e.label, e.provenance.line) for e in examples] == [
        ("great", "pos", 1),
        ("awful", "neg", 2),
    ]


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "cp1252"])
def test_csv_encodings(encoding: str) -> None:
    data = "text,label\ncafé crème,fr\nnaïve,en\n".encode(encoding)
    examples, _ = read_bytes(data, "x.csv", Task.TEXT_CLASSIFICATION, csv=CsvOptions(encoding=encoding))
    assert [(e.text, e.label) for e in examples] == [("café crème", "fr"), ("naïve", "en")]


def test_csv_record_size_limit_spans_lines() -> None:
    """A quoted field running over many lines is cut off once the record passes the limit."""
    data = b'text,label\nshort,y\n"' + b"long line\n" * 20 + b'",x\n'
    examples, reader = read_bytes(
        data, "x.csv", Task.TEXT_CLASSIFICATION, validation=ValidationOptions(max_record_bytes=64)
    )
    assert [(e.text, e.label) for e in examples] == [("short", "y")]
    assert violations(reader)[0] == ("record_too_large", 3, "")


def test_unknown_encoding_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        read_bytes(b"text\n", "x.csv", Task.TEXT_CLASSIFICATION, csv=CsvOptions(encoding="klingon"))


# --- Parquet ----------------------------------------------------------------------------------------------


def test_parquet_row_groups_nested_keys_and_missing_values() -> None:
    mapping = FieldMapping(
        id_field="uid", text_field="body", label_field="target", meta_fields=("info.lang",)
    )
    examples, reader = read("text.parquet", Task.TEXT_CLASSIFICATION, field_mapping=mapping)
    assert [(e.id, e.text, e.label, e.meta, e.provenance.line) for e in examples] == [
        ("p1", "first text", "a", {"info.lang": "en"}, 1),
        ("p2", "second text", "b", {"info.lang": "de"}, 2),
        ("p4", "fourth text", None, {"info.lang": "fr"}, 4),
        ("p5", "fifth text", "b", {}, 5),
    ]
    assert violations(reader) == [("missing_field", 3, "body")]


def test_parquet_with_spans_and_messages(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rich.parquet"
    pq.write_table(
        pa.table(
            {
                "text": ["Ann lives here"],
                "spans": [[{"start": 0, "end": 3, "label": "PER"}]],
                "messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]],
            }
        ),
        path,
    )
    with path.open("rb") as handle:
        ner = list(open_reader(handle, SourceSpec(file_name=path.name), Task.TOKEN_CLASSIFICATION))
    assert ner[0].tags == ["B-PER", "O", "O"]
    with path.open("rb") as handle:
        chat = list(open_reader(handle, SourceSpec(file_name=path.name), Task.CHAT))
    assert chat[0].messages == [ChatMessage("user", "hi"), ChatMessage("assistant", "hello")]


def test_not_a_parquet_file_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError):
        read_bytes(b"PAR1 nope", "x.parquet", Task.TEXT_CLASSIFICATION)


# --- chat ------------------------------------------------------------------------------------------------------


def test_openai_chat() -> None:
    examples, reader = read("chat_openai.jsonl", Task.CHAT, format=Format.CHAT_OPENAI)
    assert examples[0].messages == [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Capital of France?"),
        ChatMessage("assistant", "Paris."),
    ]
    assert examples[1].messages is not None and examples[1].messages[0].content == "Describe\nthis"
    assert violations(reader) == [
        ("unsupported_content", 3, "messages[1].content"),
        ("wrong_type", 4, "messages"),
        ("missing_field", 5, "messages"),
    ]


def test_sharegpt_chat_maps_speakers_to_roles() -> None:
    examples, reader = read(
        "chat_sharegpt.jsonl",
        Task.CHAT,
        format=Format.CHAT_SHAREGPT,
        field_mapping=FieldMapping(id_field="id"),
    )
    assert [e.id for e in examples] == ["s1", "s2"]
    assert examples[0].messages == [
        ChatMessage("system", "You are helpful."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello! How can I help?"),
    ]
    assert [m.role for m in examples[1].messages or []] == ["user", "assistant", "user", "assistant"]
    assert violations(reader) == [("unknown_role", 3, "conversations[0].from")]


def test_alpaca_builds_a_user_and_an_assistant_message() -> None:
    examples, reader = read("alpaca.jsonl", Task.CHAT, format=Format.CHAT_ALPACA)
    assert [[(m.role, m.content) for m in e.messages or []] for e in examples] == [
        [("user", "Translate to French.\n\nGood morning"), ("assistant", "Bonjour")],
        [("user", "Name a primary colour."), ("assistant", "Red")],
        [("user", "Summarize."), ("assistant", "Nothing to summarize.")],
    ]
    assert violations(reader) == [("missing_field", 4, "output")]


@pytest.mark.parametrize("name", ["chat_sharegpt.jsonl", "alpaca.jsonl", "chat_openai.jsonl"])
def test_plain_jsonl_with_the_chat_task_recognizes_each_shape(name: str) -> None:
    fmt = {"chat_sharegpt.jsonl": Format.CHAT_SHAREGPT, "alpaca.jsonl": Format.CHAT_ALPACA}.get(
        name, Format.CHAT_OPENAI
    )
    detected, _ = read(name, Task.CHAT)
    declared, _ = read(name, Task.CHAT, format=fmt)
    assert [e.messages for e in detected] == [e.messages for e in declared]
    assert [e.id for e in detected] == [e.id for e in declared]


def test_chat_formats_need_the_chat_task() -> None:
    with pytest.raises(InvalidArgumentError):
        read("alpaca.jsonl", Task.TEXT_CLASSIFICATION, format=Format.CHAT_ALPACA)


# --- dispatch and line reading ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", Format.JSONL),
        ("dir/b.NDJSON", Format.JSONL),
        ("c.csv", Format.CSV),
        ("d.tsv", Format.TSV),
        ("e.parquet", Format.PARQUET),
        ("f.conll", Format.CONLL),
        ("g.bioes", Format.CONLL),
    ],
)
def test_detect_format(name: str, fmt: Format) -> None:
    assert detect_format(name) is fmt


@pytest.mark.parametrize("name", ["emerging.test.annotated", "noext", "data.json", ""])
def test_unknown_format_is_invalid_argument(name: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        read_bytes(b"", name, Task.TEXT_CLASSIFICATION)
    assert caught.value.reason == "UNKNOWN_FORMAT"
    assert caught.value.violations[0].field == "source.format"


def test_examples_format_has_no_reader() -> None:
    with pytest.raises(InvalidArgumentError):
        read_bytes(b"", "x.jsonl", Task.TEXT_CLASSIFICATION, format=Format.EXAMPLES)


def test_lines_are_bounded_and_numbered_whatever_the_chunk_size() -> None:
    data = b"\xef\xbb\xbfab\r\ncd\n" + b"x" * 50 + b"\nok\n\xff\xfe\nlast"
    expected = ["ab", "cd", "record_too_large", "ok", "bad_encoding", "last"]
    for chunk_bytes in (1, 3, 7, 64, 1 << 20):
        lines = list(iter_lines(io.BytesIO(data), max_line_bytes=10, chunk_bytes=chunk_bytes))
        assert [line.reason if isinstance(line, BadLine) else line for line in lines] == expected


def test_canonical_id_shortcut_matches_canonical_json() -> None:
    tokens, tags = ['Ünï "q"', "b\\", "\u2028"], ["B-x", "I-x", "O"]
    assert IdAssigner().derive_tokens(tokens, tags) == IdAssigner().derive({"tokens": tokens, "tags": tags})
    assert (
        IdAssigner().derive({"text": "a", "label": None})
        == canonical_json_sha256({"text": "a", "label": None})[:16]
    )
