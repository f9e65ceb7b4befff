"""Validation per task (foundry.ingestion.validate), and the option dataclasses it reads."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path

import pytest

from foundry.domain import formats
from foundry.domain.dedup.content import ChatDedupScope
from foundry.domain.formats import Format, SourceSpec, TagScheme, ValidationOptions, ValidationPolicy
from foundry.domain.readers import open_reader
from foundry.domain.tags import spans_from_tags
from foundry.ingestion import options as opts
from foundry.ingestion.options import IngestRecipe, SplitOptions
from foundry.ingestion.validate import ValidateStep
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span, Split, Task

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ingestion"


def row(id_: str = "r", line: int = 1, **payload: object) -> Example:
    return Example(id=id_, provenance=Provenance("f.jsonl", line), **payload)  # type: ignore[arg-type]


def ner_row(tokens: list[str], tags: list[str], line: int = 1) -> Example:
    text, spans = spans_from_tags(tokens, tags)
    return row(f"n{line}", line, tokens=tokens, tags=tags, text=text, spans=spans)


def validate(task: Task, rows: list[Example], **options: object) -> tuple[list[Example], ValidateStep]:
    step = ValidateStep(task, ValidationOptions(**options))  # type: ignore[arg-type]
    return list(step.run(rows)), step


def reasons(step: ValidateStep) -> list[tuple[str, int | None, str, str]]:
    return [(v.reason, v.line, v.field, v.example_id) for v in step.report.violations]


# --- text classification -------------------------------------------------------------------------


def test_text_classification_checks() -> None:
    rows = [
        row("ok", 1, text="fine", label="pos"),
        row("none", 2, label="pos"),
        row("blank", 3, text="  ", label="pos"),
        row("long", 4, text="x" * 11, label="pos"),
        row("unlabeled", 5, text="fine"),
        row("unknown", 6, text="fine", label="meh"),
        row("", 7, text="fine", label="pos"),
    ]
    out, step = validate(Task.TEXT_CLASSIFICATION, rows, label_set=("pos", "neg"), max_text_chars=10)
    assert [e.id for e in out] == ["ok"]
    assert reasons(step) == [
        ("missing_field", 2, "text", "none"),
        ("empty_field", 3, "text", "blank"),
        ("text_too_long", 4, "text", "long"),
        ("unlabeled", 5, "label", "unlabeled"),
        ("unknown_label", 6, "label", "unknown"),
        ("missing_field", 7, "id", ""),
    ]
    report = step.report
    assert (report.rows_in, report.rows_out, report.rows_dropped, report.rows_modified) == (7, 1, 6, 0)
    assert step.label_set == ["neg", "pos"]


def test_learned_label_set_rejects_nothing_and_unlabeled_may_be_allowed() -> None:
    rows = [
        row("a", text="x", label="b"),
        row("b", text="y", label="a"),
        row("c", text="z"),
        row("d", text="w", label="b"),
    ]
    out, step = validate(Task.TEXT_CLASSIFICATION, rows, allow_unlabeled=True)
    assert len(out) == 4
    assert step.label_set == ["a", "b"]
    assert step.labels_seen == {"b": 2, "a": 1}


def test_multilabel_checks() -> None:
    rows = [
        row("ok", 1, text="t", labels=["x", "y"]),
        row("none-apply", 2, text="t", labels=[]),
        row("unlabeled", 3, text="t"),
        row("unknown", 4, text="t", labels=["x", "q"]),
        row("empty", 5, text="t", labels=[""]),
    ]
    out, step = validate(Task.MULTILABEL_CLASSIFICATION, rows, label_set=("x", "y"))
    assert [e.id for e in out] == ["ok", "none-apply"]
    assert reasons(step) == [
        ("unlabeled", 3, "labels", "unlabeled"),
        ("unknown_label", 4, "labels[1]", "unknown"),
        ("empty_field", 5, "labels[0]", "empty"),
    ]


# --- token classification ---------------------------------------------------------------------------


def test_token_classification_checks() -> None:
    rows = [
        ner_row(["Ann", "ran"], ["B-PER", "O"], 1),
        row("no-tokens", 2, text="a"),
        row("zero-tokens", 3, tokens=[], tags=[]),
        row("empty-token", 4, tokens=["a", ""], tags=["O", "O"], text="a "),
        row("mismatch", 5, tokens=["a", "b"], tags=["O"], text="a b"),
        row("bad-tag", 6, tokens=["a", "b"], tags=["O", "Z-X"], text="a b"),
        ner_row(["Bob"], ["B-ORG"], 7),
        row("span", 8, tokens=["a"], tags=["B-PER"], text="a", spans=[Span(0, 5, "PER")]),
        row("unlabeled", 9, tokens=["a"], text="a"),
        row("long", 10, tokens=["abcdef", "ghijk"], tags=["O", "O"], text="abcdef ghijk"),
    ]
    out, step = validate(
        Task.TOKEN_CLASSIFICATION, rows, label_set=("B-PER", "I-PER", "O"), max_text_chars=10
    )
    assert [e.id for e in out] == ["n1"]
    assert reasons(step) == [
        ("missing_field", 2, "tokens", "no-tokens"),
        ("empty_field", 3, "tokens", "zero-tokens"),
        ("empty_field", 4, "tokens[1]", "empty-token"),
        ("length_mismatch", 5, "tags", "mismatch"),
        ("invalid_tag", 6, "tags[1]", "bad-tag"),
        ("unknown_label", 7, "tags", "n7"),
        ("span_out_of_range", 8, "spans[0]", "span"),
        ("unlabeled", 9, "tags", "unlabeled"),
        ("text_too_long", 10, "text", "long"),
    ]
    assert step.label_set == ["PER"]


def test_invalid_sequences_are_repaired_or_rejected() -> None:
    broken = row("seq", 3, tokens=["New", "York"], tags=["I-LOC", "I-LOC"], text="New York", spans=[])
    out, step = validate(Task.TOKEN_CLASSIFICATION, [broken])
    assert out[0].tags == ["B-LOC", "I-LOC"]
    assert out[0].spans == [Span(0, 8, "LOC")]
    assert step.report.counters["tags_repaired"] == 1
    assert step.report.rows_modified == 1
    out, step = validate(Task.TOKEN_CLASSIFICATION, [broken], repair_tag_sequences=False)
    assert out == []
    assert reasons(step) == [("invalid_tag_sequence", 3, "tags[0]", "seq")]


def test_wnut_slice_with_and_without_a_type_in_the_label_set() -> None:
    with (FIXTURES / "wnut17_slice.conll").open("rb") as handle:
        examples = list(open_reader(handle, SourceSpec(file_name="s.conll"), Task.TOKEN_CLASSIFICATION))
    types = {s.label for e in examples for s in e.spans or []}
    assert types == {"person", "location", "group", "corporation", "product", "creative-work"}
    out, step = validate(Task.TOKEN_CLASSIFICATION, examples, label_set=tuple(sorted(types)))
    assert len(out) == 40 and step.report.rows_dropped == 0
    assert sum(step.labels_seen.values()) == sum(len(e.spans or []) for e in examples)
    with_product = [e for e in examples if any(s.label == "product" for s in e.spans or [])]
    out, step = validate(Task.TOKEN_CLASSIFICATION, examples, label_set=tuple(sorted(types - {"product"})))
    assert len(out) == 40 - len(with_product) > 0
    assert step.report.drop_reasons == {"unknown_label": len(with_product)}
    assert [v.line for v in step.report.violations] == [e.provenance.line for e in with_product][:20]


# --- chat -------------------------------------------------------------------------------------------------------


def test_chat_checks() -> None:
    def chat(id_: str, line: int, *messages: tuple[str, str]) -> Example:
        return row(id_, line, messages=[ChatMessage(r, c) for r, c in messages])

    rows = [
        chat("ok", 1, ("system", "s"), ("user", "q"), ("assistant", "a")),
        row("none", 2, text="x"),
        chat("empty", 3),
        chat("role", 4, ("narrator", "x"), ("assistant", "a")),
        chat("blank", 5, ("user", "q"), ("assistant", " ")),
        chat("unanswered", 6, ("user", "q")),
        chat("long", 7, ("user", "q" * 6), ("assistant", "a" * 6)),
    ]
    out, step = validate(Task.CHAT, rows, max_text_chars=10)
    assert [e.id for e in out] == ["ok"]
    assert reasons(step) == [
        ("missing_field", 2, "messages", "none"),
        ("empty_field", 3, "messages", "empty"),
        ("unknown_role", 4, "messages[0].role", "role"),
        ("empty_field", 5, "messages[1].content", "blank"),
        ("unlabeled", 6, "messages", "unanswered"),
        ("text_too_long", 7, "messages", "long"),
    ]
    out, _ = validate(Task.CHAT, [rows[5]], allow_unlabeled=True)
    assert len(out) == 1


def test_max_violations_reported() -> None:
    rows = [row(str(i), i) for i in range(1, 31)]
    _, step = validate(Task.TEXT_CLASSIFICATION, rows, max_violations_reported=5)
    assert len(step.report.violations) == 5
    assert step.report.drop_reasons == {"missing_field": 30}


# --- the option dataclasses mirror the protos -------------------------------------------------------------------


def _pb_messages() -> dict[str, object]:
    from foundry.api.common.v1 import conll_pb2
    from foundry.api.ingestion.v1 import ingest_recipe_pb2

    messages: dict[str, object] = dict(ingest_recipe_pb2.DESCRIPTOR.message_types_by_name)
    messages["ConllOptions"] = conll_pb2.ConllOptions.DESCRIPTOR
    return messages


@pytest.mark.parametrize(
    "name",
    [
        "SourceSpec",
        "FieldMapping",
        "CsvOptions",
        "ConllOptions",
        "NormalizationOptions",
        "ValidationOptions",
        "QualityFilters",
        "PiiOptions",
        "DedupOptions",
        "SplitOptions",
        "StatisticsOptions",
        "IngestRecipe",
    ],
)
def test_option_dataclass_fields_match_the_proto(name: str) -> None:
    descriptor = _pb_messages()[name]
    proto_fields = [f.name for f in descriptor.fields]  # type: ignore[attr-defined]
    module = formats if hasattr(formats, name) else opts
    domain_fields = [f.name for f in dataclasses.fields(getattr(module, name))]
    assert domain_fields == proto_fields


@pytest.mark.parametrize(
    "enum_type",
    [
        Format,
        TagScheme,
        ValidationPolicy,
        opts.PiiType,
        opts.PiiMode,
        opts.ConflictPolicy,
        ChatDedupScope,
    ],
)
def test_every_proto_enum_value_maps_to_a_domain_member(enum_type: type[StrEnum]) -> None:
    from foundry.api.common.v1 import conll_pb2
    from foundry.api.ingestion.v1 import ingest_recipe_pb2

    descriptor = {
        **ingest_recipe_pb2.DESCRIPTOR.enum_types_by_name,
        **conll_pb2.DESCRIPTOR.enum_types_by_name,
    }[enum_type.__name__]
    for value in descriptor.values:
        if value.name == "PII_TYPE_UNSPECIFIED":
            with pytest.raises(InvalidArgumentError):
                opts.enum_from_proto_name(enum_type, value.name)
            continue
        member = opts.enum_from_proto_name(enum_type, value.name)
        if not value.name.endswith("_UNSPECIFIED") or member.name == "UNSPECIFIED":
            assert opts.enum_to_proto_name(member) == value.name
    assert (
        opts.enum_from_proto_name(ValidationPolicy, "VALIDATION_POLICY_UNSPECIFIED")
        is ValidationPolicy.REJECT_FILE
    )


def test_recipe_check_lists_every_bad_field() -> None:
    IngestRecipe().check()
    bad = IngestRecipe(
        validation=ValidationOptions(max_text_chars=0, label_set=("a", "")),
        split=SplitOptions(train_fraction=0.9),
        dedup=opts.DedupOptions(threshold=1.5, shingle_size=0),
    )
    with pytest.raises(InvalidArgumentError) as caught:
        bad.check("recipe.")
    assert [v.field for v in caught.value.violations] == [
        "recipe.validation.max_text_chars",
        "recipe.validation.label_set",
        "recipe.dedup.shingle_size",
        "recipe.dedup.threshold",
        "recipe.split",
    ]
    with pytest.raises(InvalidArgumentError):
        SourceSpec(csv=formats.CsvOptions(delimiter=";;")).check()
    assert SourceSpec().default_split is Split.UNASSIGNED
