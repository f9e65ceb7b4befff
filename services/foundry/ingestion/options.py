"""Domain forms of the ingest recipe and the source spec (ingest_recipe.proto, conll.proto).

One frozen dataclass per proto message, with the same field names and the proto's documented
defaults filled in, so that pb ⇄ domain conversion is mechanical: a proto `optional` field that is
unset takes the default written here; a repeated field becomes a tuple.

Enums are `StrEnum`s whose member names are the proto value names without their prefix
(`ValidationPolicy.DROP_ROW` ⇄ `VALIDATION_POLICY_DROP_ROW`); `enum_from_proto_name` and
`enum_to_proto_name` do that mapping. Where the proto's zero value means "the default", the
domain enum has no such member and `enum_from_proto_name` returns the default instead (a
`*_UNSPECIFIED` name maps to the member named in `_UNSPECIFIED_MEANS`). Where it means something
of its own (`Format.UNSPECIFIED`: detect from the file name; `TagScheme.UNSPECIFIED`: detect from
the data), the member is kept.

`SourceSpec.check()` and `IngestRecipe.check()` raise `InvalidArgumentError` listing every bad
field (as `google.rpc.BadRequest` field violations) so a caller fails before reading any data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split

E = TypeVar("E", bound=StrEnum)

# --- enums ------------------------------------------------------------------------------------------


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
    BIOES = "bioes"  # BILOU too


class ValidationPolicy(StrEnum):
    """What to do with an invalid row (the zero value means REJECT_FILE)."""

    REJECT_FILE = "reject_file"
    DROP_ROW = "drop_row"


class PiiType(StrEnum):
    """Kinds of personal data that ingestion detects (the zero value is not a type)."""

    EMAIL = "email"
    PHONE = "phone"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    URL = "url"
    PAYMENT_CARD = "payment_card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"


class PiiMode(StrEnum):
    """How detected PII is rewritten (the zero value means MASK)."""

    MASK = "mask"
    PSEUDONYMIZE = "pseudonymize"


class ConflictPolicy(StrEnum):
    """What to keep when duplicates carry different labels (the zero value means KEEP_MAJORITY)."""

    KEEP_MAJORITY = "keep_majority"
    KEEP_FIRST = "keep_first"
    DROP_ALL = "drop_all"
    KEEP_ALL = "keep_all"


class ChatDedupScope(StrEnum):
    """What chat de-duplication compares (the zero value means CONVERSATION)."""

    CONVERSATION = "conversation"
    PROMPT = "prompt"


#: the member that a proto enum's zero value (`*_UNSPECIFIED`) stands for, where it has no own member
_UNSPECIFIED_MEANS: dict[type[StrEnum], StrEnum] = {
    ValidationPolicy: ValidationPolicy.REJECT_FILE,
    PiiMode: PiiMode.MASK,
    ConflictPolicy: ConflictPolicy.KEEP_MAJORITY,
    ChatDedupScope: ChatDedupScope.CONVERSATION,
}

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def proto_enum_prefix(enum_type: type[StrEnum]) -> str:
    """The prefix of the proto value names of `enum_type` (`ValidationPolicy` → "VALIDATION_POLICY_")."""
    return _CAMEL_BOUNDARY.sub("_", enum_type.__name__).upper() + "_"


def enum_from_proto_name(enum_type: type[E], proto_name: str) -> E:
    """The member of `enum_type` for a proto enum value name ("VALIDATION_POLICY_DROP_ROW").

    A `*_UNSPECIFIED` name gives the default member where the domain enum has no UNSPECIFIED.
    Raises `InvalidArgumentError` for a name that belongs to no member (`PII_TYPE_UNSPECIFIED`).
    """
    prefix = proto_enum_prefix(enum_type)
    short = proto_name.removeprefix(prefix)
    if short in enum_type.__members__:
        return enum_type[short]
    if short == "UNSPECIFIED" and enum_type in _UNSPECIFIED_MEANS:
        member = _UNSPECIFIED_MEANS[enum_type]
        assert isinstance(member, enum_type)
        return member
    raise InvalidArgumentError(
        f"{proto_name!r} is not a value of {enum_type.__name__}",
        reason="UNKNOWN_ENUM_VALUE",
        violations=[FieldViolation(enum_type.__name__, f"unknown value {proto_name!r}")],
    )


def enum_to_proto_name(member: StrEnum) -> str:
    """The proto enum value name of `member` (`ValidationPolicy.DROP_ROW` → "VALIDATION_POLICY_DROP_ROW")."""
    return proto_enum_prefix(type(member)) + member.name


# --- source spec ----------------------------------------------------------------------------------------


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
    """Options of delimited text files. An empty delimiter means "," for CSV and tab for TSV."""

    delimiter: str = ""
    quote_char: str = '"'
    has_header: bool = True
    encoding: str = "utf-8"

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
        if not self.field_mapping.labels_separator:
            out.append(FieldViolation(f"{prefix}field_mapping.labels_separator", "must not be empty"))
        if self.conll.token_column < 0:
            out.append(FieldViolation(f"{prefix}conll.token_column", "must be >= 0"))
        return out

    def check(self, prefix: str = "") -> None:
        """Raise `InvalidArgumentError` listing every bad field; return if all are fine."""
        _raise_if(self.violations(prefix), "invalid source spec")


# --- recipe -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NormalizationOptions:
    """Text normalization; tokens and tags stay aligned."""

    unicode_nfkc: bool = True
    collapse_whitespace: bool = True
    strip_control_chars: bool = True
    fullwidth_to_halfwidth: bool = True
    traditional_to_simplified: bool = False
    lowercase: bool = False


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


@dataclass(frozen=True, slots=True)
class QualityFilters:
    """Quality filters; 0 (counts) or None (ratios) turns a bound off."""

    drop_empty: bool = True
    min_chars: int = 0
    max_chars: int = 0
    min_words: int = 0
    max_words: int = 0
    max_repeated_char_ratio: float | None = None
    max_repeated_line_ratio: float | None = None
    max_non_printable_ratio: float | None = None
    allowed_languages: tuple[str, ...] = ()
    min_language_confidence: float = 0.5


@dataclass(frozen=True, slots=True)
class PiiOptions:
    """PII masking; an empty `types` means every type."""

    enabled: bool = False
    mode: PiiMode = PiiMode.MASK
    types: tuple[PiiType, ...] = ()


@dataclass(frozen=True, slots=True)
class DedupOptions:
    """Exact and near-duplicate (MinHash LSH) de-duplication."""

    exact: bool = True
    near: bool = True
    remove_near: bool = True
    shingle_size: int = 5
    num_permutations: int = 128
    threshold: float = 0.8
    conflict_policy: ConflictPolicy = ConflictPolicy.KEEP_MAJORITY
    chat_scope: ChatDedupScope = ChatDedupScope.CONVERSATION


@dataclass(frozen=True, slots=True)
class SplitOptions:
    """Seeded, stratified, group-aware train/validation/test assignment."""

    seed: int = 0
    train_fraction: float = 0.8
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    stratify: bool = True
    keep_existing: bool = True


@dataclass(frozen=True, slots=True)
class StatisticsOptions:
    """Extra statistics; an empty `length_bucket_upper_bounds` takes the defaults."""

    tokenizer: str = ""
    length_bucket_upper_bounds: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestRecipe:
    """Every processing step after parsing, in this order."""

    normalization: NormalizationOptions = field(default_factory=NormalizationOptions)
    validation: ValidationOptions = field(default_factory=ValidationOptions)
    quality: QualityFilters = field(default_factory=QualityFilters)
    pii: PiiOptions = field(default_factory=PiiOptions)
    dedup: DedupOptions = field(default_factory=DedupOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    statistics: StatisticsOptions = field(default_factory=StatisticsOptions)

    def violations(self, prefix: str = "") -> list[FieldViolation]:
        """Every bad field, with paths under `prefix` ("recipe.")."""
        out: list[FieldViolation] = []

        def bad(path: str, description: str) -> None:
            out.append(FieldViolation(prefix + path, description))

        v, q, d, s = self.validation, self.quality, self.dedup, self.split
        if v.max_violations_reported < 0:
            bad("validation.max_violations_reported", "must be >= 0")
        if v.max_text_chars <= 0:
            bad("validation.max_text_chars", "must be > 0")
        if v.max_record_bytes <= 0:
            bad("validation.max_record_bytes", "must be > 0")
        if any(not label for label in v.label_set):
            bad("validation.label_set", "labels must not be empty")
        for name in ("min_chars", "max_chars", "min_words", "max_words"):
            if getattr(q, name) < 0:
                bad(f"quality.{name}", "must be >= 0")
        if q.max_chars and q.min_chars > q.max_chars:
            bad("quality.min_chars", "must not exceed max_chars")
        if q.max_words and q.min_words > q.max_words:
            bad("quality.min_words", "must not exceed max_words")
        for name in ("max_repeated_char_ratio", "max_repeated_line_ratio", "max_non_printable_ratio"):
            ratio = getattr(q, name)
            if ratio is not None and not 0.0 <= ratio <= 1.0:
                bad(f"quality.{name}", "must be within [0, 1]")
        if not 0.0 <= q.min_language_confidence <= 1.0:
            bad("quality.min_language_confidence", "must be within [0, 1]")
        if d.shingle_size <= 0:
            bad("dedup.shingle_size", "must be > 0")
        if d.num_permutations <= 0:
            bad("dedup.num_permutations", "must be > 0")
        if not 0.0 < d.threshold <= 1.0:
            bad("dedup.threshold", "must be within (0, 1]")
        fractions = (s.train_fraction, s.validation_fraction, s.test_fraction)
        if any(f < 0.0 for f in fractions):
            bad("split", "fractions must be >= 0")
        elif abs(sum(fractions) - 1.0) > 1e-6:
            bad(
                "split",
                f"train, validation and test fractions must sum to 1 (they sum to {sum(fractions):g})",
            )
        if any(b <= 0 for b in self.statistics.length_bucket_upper_bounds):
            bad("statistics.length_bucket_upper_bounds", "bounds must be > 0")
        elif list(self.statistics.length_bucket_upper_bounds) != sorted(
            set(self.statistics.length_bucket_upper_bounds)
        ):
            bad("statistics.length_bucket_upper_bounds", "bounds must be strictly increasing")
        return out

    def check(self, prefix: str = "") -> None:
        """Raise `InvalidArgumentError` listing every bad field; return if all are fine."""
        _raise_if(self.violations(prefix), "invalid ingest recipe")


def _raise_if(violations: list[FieldViolation], message: str) -> None:
    if violations:
        raise InvalidArgumentError(message, reason="INVALID_OPTIONS", violations=violations)
