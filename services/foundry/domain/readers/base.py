"""What every reader shares: the read context, row errors, example ids, splits, the `Reader` base.

A reader turns one source file into a stream of `Example`s and keeps a `StepReport` named
"read": `rows_in` counts the records it parsed (lines, CSV rows, Parquet rows, CoNLL
sentences; blank lines aside), `rows_out` the examples it yielded, `rows_modified` those whose
tags it converted or repaired, and every dropped record is a `RowViolation` with its reason and
1-based source line.

Example ids come from the id field when one is mapped (a repeated id is a violation); otherwise
they are derived from the content: the first 16 hex digits of the sha256 of the canonical JSON
of the row's payload, with "-N" appended for the N-th repeat of the same payload in the file, so
that ids stay the same when lines move.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from foundry.domain.formats import FieldMapping, SourceSpec, TagScheme, ValidationOptions
from foundry.domain.steps import RowViolation, StepReport
from foundry.runtime.examples import Example, Split, Task

READ_STEP = "read"
#: canonical JSON (`foundry.runtime.hashing.canonical_json`), with one encoder made once
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
#: one JSON string literal, as the canonical encoder writes it (non-ASCII kept)
_json_string: Callable[[str], str] = encode_basestring

_SPLIT_NAMES = {
    "train": Split.TRAIN,
    "training": Split.TRAIN,
    "validation": Split.VALIDATION,
    "valid": Split.VALIDATION,
    "val": Split.VALIDATION,
    "dev": Split.VALIDATION,
    "development": Split.VALIDATION,
    "test": Split.TEST,
    "testing": Split.TEST,
    "unassigned": Split.UNASSIGNED,
}


class RowError(Exception):
    """A record that cannot become an Example: a stable `reason`, the `field`, a description."""

    def __init__(self, reason: str, description: str, field: str = "") -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description
        self.field = field

    def violation(self, line: int | None, example_id: str = "") -> RowViolation:
        """This error as the `RowViolation` of the record at `line`."""
        return RowViolation(self.reason, self.description, line, self.field, example_id)


def parse_split(value: Any, default: Split) -> Split:
    """The `Split` a source value names ("train", "validation"/"dev"/"valid", "test"); empty: `default`."""
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        raise RowError("wrong_type", f"split must be a string, not {type(value).__name__}", "split")
    split = _SPLIT_NAMES.get(value.strip().lower())
    if split is None:
        raise RowError("unknown_split", f"unknown split {value!r} (train, validation/dev, test)", "split")
    return split


class IdAssigner:
    """Ids for the rows of one file: given ones checked for repeats, or derived from the payload."""

    def __init__(self) -> None:
        self._given: set[str] = set()
        self._derived: dict[bytes, int] = {}

    def given(self, value: Any) -> str:
        """The id a record carries (a string or an integer), unique within the file."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RowError(
                "wrong_type", f"id must be a string or an integer, not {type(value).__name__}", "id"
            )
        id_ = str(value)
        if not id_:
            raise RowError("missing_field", "the id is empty", "id")
        if id_ in self._given:
            raise RowError("duplicate_id", f"id {id_!r} occurs more than once", "id")
        self._given.add(id_)
        return id_

    def derive(self, payload: Any) -> str:
        """A content id: sha256 of the payload's canonical JSON, 16 hex digits, "-N" for repeats."""
        return self._count(hashlib.sha256(_CANONICAL.encode(payload).encode()).digest()[:8])

    def derive_tokens(self, tokens: list[str], tags: list[str]) -> str:
        """`derive({"tokens": tokens, "tags": tags})`, building the same JSON bytes faster."""
        json_ = (
            '{"tags":['
            + ",".join(map(_json_string, tags))
            + '],"tokens":['
            + ",".join(map(_json_string, tokens))
            + "]}"
        )
        return self._count(hashlib.sha256(json_.encode()).digest()[:8])

    def _count(self, key: bytes) -> str:
        seen = self._derived.get(key, 0)
        self._derived[key] = seen + 1
        return key.hex() if seen == 0 else f"{key.hex()}-{seen}"


@dataclass(frozen=True, slots=True)
class ReadContext:
    """Everything a reader needs besides the stream, resolved once by `open_reader`."""

    source: str
    task: Task
    mapping: FieldMapping
    default_split: Split
    scheme: TagScheme
    repair_tags: bool
    max_record_bytes: int
    max_violations: int

    @classmethod
    def create(cls, spec: SourceSpec, task: Task, validation: ValidationOptions) -> ReadContext:
        """The context of reading `spec`'s file for `task` under `validation`'s limits."""
        return cls(
            source=spec.file_name,
            task=task,
            mapping=spec.field_mapping,
            default_split=spec.default_split,
            scheme=spec.conll.scheme,
            repair_tags=validation.repair_tag_sequences,
            max_record_bytes=validation.max_record_bytes,
            max_violations=validation.max_violations_reported,
        )


class Reader(ABC):
    """A stream of `Example`s from one source; iterate it once. Counts go to `self.report`."""

    def __init__(self, context: ReadContext) -> None:
        self.context = context
        self.ids = IdAssigner()
        self.report = StepReport(READ_STEP, max_violations=context.max_violations)

    @abstractmethod
    def _examples(self) -> Iterator[Example]:
        """The examples, counting `rows_in`, drops and modifications (not `rows_out`)."""

    def __iter__(self) -> Iterator[Example]:
        report = self.report
        clock = time.perf_counter
        started = clock()
        for example in self._examples():
            report.rows_out += 1
            report.wall_time_s += clock() - started
            yield example
            started = clock()
        report.wall_time_s += clock() - started

    def drop(self, error: RowError, line: int | None, example_id: str = "") -> None:
        """Count a record dropped for `error`."""
        self.report.drop(error.violation(line, example_id))
