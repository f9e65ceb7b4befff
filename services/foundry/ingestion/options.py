"""Domain forms of the ingest recipe (ingest_recipe.proto); the source spec is `foundry.domain.formats`,
the normalization options `foundry.domain.textnorm` (inference applies them too).

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

`IngestRecipe.check()` raises `InvalidArgumentError` listing every bad
field (as `google.rpc.BadRequest` field violations) so a caller fails before reading any data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from foundry.domain.dedup.content import ChatDedupScope
from foundry.domain.formats import ValidationOptions, ValidationPolicy, raise_if_violations
from foundry.domain.textnorm import NormalizationOptions
from foundry.runtime.errors import FieldViolation, InvalidArgumentError

# The documented maxima of a recipe's work-sizing fields (INVALID_ARGUMENT beyond them).
MAX_VIOLATIONS_REPORTED = 100_000
MAX_TEXT_CHARS = 10_000_000
MAX_RECORD_BYTES = 64 * 1024 * 1024
MAX_SHINGLE_SIZE = 64
MAX_PERMUTATIONS = 1024
MAX_LENGTH_BUCKETS = 256

E = TypeVar("E", bound=StrEnum)

# --- enums ------------------------------------------------------------------------------------------


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
    """What to keep when duplicates carry different labels (the zero value means KEEP_ALL: conflicts
    are reported, never dropped, unless the user picks a policy that drops)."""

    KEEP_MAJORITY = "keep_majority"
    KEEP_FIRST = "keep_first"
    DROP_ALL = "drop_all"
    KEEP_ALL = "keep_all"


#: the member that a proto enum's zero value (`*_UNSPECIFIED`) stands for, where it has no own member
_UNSPECIFIED_MEANS: dict[type[StrEnum], StrEnum] = {
    ValidationPolicy: ValidationPolicy.REJECT_FILE,
    PiiMode: PiiMode.MASK,
    ConflictPolicy: ConflictPolicy.KEEP_ALL,
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


# --- recipe -------------------------------------------------------------------------------------------------


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
    """Exact and near-duplicate (MinHash LSH) de-duplication.

    Splits that come with the data are never changed by default: duplicates inside a supplied
    validation or test split are reported and kept (`dedup_eval_splits` removes them, within each
    split); a training row (or a row without a split) that duplicates a validation or test row is
    removed from training (`decontaminate`), never the evaluation row; label conflicts are
    reported and kept (`conflict_policy` KEEP_ALL) unless another policy is chosen.
    """

    exact: bool = True
    near: bool = True
    remove_near: bool = True
    shingle_size: int = 5
    num_permutations: int = 128
    threshold: float = 0.8
    conflict_policy: ConflictPolicy = ConflictPolicy.KEEP_ALL
    chat_scope: ChatDedupScope = ChatDedupScope.CONVERSATION
    dedup_eval_splits: bool = False
    decontaminate: bool = True


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
        self._limits(bad)
        return out

    def _limits(self, bad: Callable[[str, str], None]) -> None:
        """The documented maxima of the recipe's work-sizing fields (see `MAX_*`)."""
        v, d = self.validation, self.dedup
        for path, value, maximum in (
            ("validation.max_violations_reported", v.max_violations_reported, MAX_VIOLATIONS_REPORTED),
            ("validation.max_text_chars", v.max_text_chars, MAX_TEXT_CHARS),
            ("validation.max_record_bytes", v.max_record_bytes, MAX_RECORD_BYTES),
            ("dedup.shingle_size", d.shingle_size, MAX_SHINGLE_SIZE),
            ("dedup.num_permutations", d.num_permutations, MAX_PERMUTATIONS),
        ):
            if value > maximum:
                bad(path, f"must be at most {maximum}, got {value}")
        if len(self.statistics.length_bucket_upper_bounds) > MAX_LENGTH_BUCKETS:
            bad("statistics.length_bucket_upper_bounds", f"at most {MAX_LENGTH_BUCKETS} bounds")

    def check(self, prefix: str = "") -> None:
        """Raise `InvalidArgumentError` listing every bad field; return if all are fine."""
        raise_if_violations(self.violations(prefix), "invalid ingest recipe")
