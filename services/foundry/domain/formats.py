"""File formats and how a source is read: the format, its options, the field mapping, validation.

Domain forms of the proto messages that say how a source file is parsed (`SourceSpec`,
`FieldMapping`, `CsvOptions`, `ConllOptions`: source_spec / conll.proto) and how its rows are
validated (`ValidationOptions`), shared by ingestion, labeling imports and augmentation. One
frozen dataclass per proto message, with the same field names and the proto's documented
defaults, so that pb ⇄ domain conversion is mechanical (see `foundry.ingestion.options` for the
enum naming rules). `Format.UNSPECIFIED` (detect from the file name) and `TagScheme.UNSPECIFIED`
(detect from the data) are members of their own.

`SourceSpec.check()` raises `InvalidArgumentError` listing every bad field (as
`google.rpc.BadRequest` field violations) so a caller fails before reading any data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split


class Format(StrEnum):
    """The format of a source file (`foundry.ingestion.v1.Format`)."""

    UNSPECIFIED = "unspecified"  # detect from the file name's extension
    JSONL = "jsonl"
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    CONLL = "conll"
    CHAT_OPENAI = "chat_openai"
    CHAT_SHAREGPT = "chat_sharegpt"
    CHAT_ALPACA = "chat_alpaca"
    EXAMPLES = "examples"  # no file: Example batches arrive in the upload itself


class TagScheme(StrEnum):
    """A token-tagging scheme (`foundry.common.v1.TagScheme`); Foundry stores IOB2 only."""

    UNSPECIFIED = "unspecified"  # detect from the data (per sentence)
    IOB1 = "iob1"
    IOB2 = "iob2"
    BIOES = "bioes"  # BILOU and BMES too


class ValidationPolicy(StrEnum):
    """What to do with an invalid row (the zero value means REJECT_FILE)."""

    REJECT_FILE = "reject_file"
    DROP_ROW = "drop_row"


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """Which source field (column, JSON key; dotted for nested JSON) feeds which Example field.

    Empty names take the format's defaults ("text", "label", "labels", "tokens", "tags", "spans",
    "messages"/"conversations"); `id_field`, `split_field` and `group_field` have no default.
    """

    id_field: str = ""
    split_field: str = ""
    group_field: str = ""
    meta_fields: tuple[str, ...] = ()
    text_field: str = ""
    label_field: str = ""
    labels_field: str = ""
    labels_separator: str = "|"
    tokens_field: str = ""
    tags_field: str = ""
    spans_field: str = ""
    messages_field: str = ""


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """Options of delimited text files. An empty delimiter means "," for CSV and tab for TSV.

    `quoting=False` ("quote: none") reads quote characters as plain text. A quoted field may run
    over at most `max_record_lines` physical lines. `last_column_takes_rest` joins the cells past
    the last column onto it (with the delimiter), instead of making the row a violation.
    """

    delimiter: str = ""
    quote_char: str = '"'
    has_header: bool = True
    encoding: str = "utf-8"
    quoting: bool = True
    max_record_lines: int = 100
    last_column_takes_rest: bool = False

    def delimiter_for(self, fmt: Format) -> str:
        """The delimiter to use for `fmt` (the set one, else the format's default)."""
        if self.delimiter:
            return self.delimiter
        return "\t" if fmt is Format.TSV else ","


@dataclass(frozen=True, slots=True)
class ConllOptions:
    """How to read a CoNLL file (`foundry.common.v1.ConllOptions`).

    `tag_column` counts from the end when negative; an empty `separator` means any whitespace run.
    """

    token_column: int = 0
    tag_column: int = -1
    separator: str = ""
    scheme: TagScheme = TagScheme.UNSPECIFIED
    group_by_document: bool = False


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """How to parse a source: its format, file name (provenance, format detection) and options.

    `default_split` mirrors the proto's `foundry.common.v1.Split default_split`; its zero value
    (SPLIT_UNSPECIFIED) maps to `Split.UNASSIGNED`.
    """

    format: Format = Format.UNSPECIFIED
    file_name: str = ""
    field_mapping: FieldMapping = field(default_factory=FieldMapping)
    csv: CsvOptions = field(default_factory=CsvOptions)
    conll: ConllOptions = field(default_factory=ConllOptions)
    #: split of rows that carry none of their own (UNASSIGNED: the split step assigns them)
    default_split: Split = Split.UNASSIGNED

    def violations(self, prefix: str = "") -> list[FieldViolation]:
        """Every bad field, with paths under `prefix` ("source.")."""
        out: list[FieldViolation] = []
        if len(self.csv.delimiter) > 1:
            out.append(FieldViolation(f"{prefix}csv.delimiter", "must be one character"))
        if len(self.csv.quote_char) > 1:
            out.append(FieldViolation(f"{prefix}csv.quote_char", "must be one character"))
        if self.csv.max_record_lines < 1:
            out.append(FieldViolation(f"{prefix}csv.max_record_lines", "must be >= 1"))
        if not self.field_mapping.labels_separator:
            out.append(FieldViolation(f"{prefix}field_mapping.labels_separator", "must not be empty"))
        if self.conll.token_column < 0:
            out.append(FieldViolation(f"{prefix}conll.token_column", "must be >= 0"))
        return out

    def check(self, prefix: str = "") -> None:
        """Raise `InvalidArgumentError` listing every bad field; return if all are fine."""
        raise_if_violations(self.violations(prefix), "invalid source spec")


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """Validation per task: the policy, the label set, tag repair and size limits."""

    policy: ValidationPolicy = ValidationPolicy.REJECT_FILE
    max_violations_reported: int = 20
    label_set: tuple[str, ...] = ()
    repair_tag_sequences: bool = True
    allow_unlabeled: bool = False
    max_text_chars: int = 100_000
    max_record_bytes: int = 1024 * 1024


def raise_if_violations(violations: list[FieldViolation], message: str) -> None:
    """Raise `InvalidArgumentError` (INVALID_OPTIONS) listing `violations`, if there are any."""
    if violations:
        raise InvalidArgumentError(message, reason="INVALID_OPTIONS", violations=violations)


__all__ = [
    "ConllOptions",
    "CsvOptions",
    "FieldMapping",
    "Format",
    "SourceSpec",
    "TagScheme",
    "ValidationOptions",
    "ValidationPolicy",
    "raise_if_violations",
]
