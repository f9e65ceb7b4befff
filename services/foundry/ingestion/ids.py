"""Example ids unique within a version (step "unique_ids"), and the check that they are.

Readers give each row an id: the one its record carries (`field_mapping.id_field`, or the id of
an example sent already parsed), or one derived from its content (16 hex digits, "-N" for the
N-th repeat within its file). The same content in two files (a sentence in train and in test)
derives the same id; this step makes the later one unique, deterministically, so that the same
files in the same order always give the same ids:

- a derived id already used in the version becomes `<base>-N`, N the smallest number >= 1 not
  used yet (`<base>` is the id without its "-N");
- a given id is kept as given; a given id already used is a violation ("duplicate_id"), and its
  row is dropped (under REJECT_FILE, the upload is rejected).

`check_unique` is the last line of defence: it fails loudly if a version would hold an id twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from foundry.domain.steps import RowViolation, Step
from foundry.runtime.errors import CorruptionError
from foundry.runtime.examples import Example

DUPLICATE_ID = "duplicate_id"


class UniqueIds(Step):
    """Makes derived ids unique across the files of a version; drops rows whose given id repeats."""

    name = "unique_ids"

    def __init__(self) -> None:
        super().__init__()
        #: whether the rows now coming carry ids of their own (set per source file)
        self.given = False
        self._seen: set[str] = set()
        self._next: dict[str, int] = {}

    def apply(self, example: Example) -> Example | None:
        id_ = example.id
        if id_ not in self._seen:
            self._seen.add(id_)
            return example
        if self.given:
            self.report.drop(
                RowViolation(
                    DUPLICATE_ID,
                    f"id {id_!r} occurs more than once in the version",
                    example.provenance.line,
                    "id",
                    id_,
                )
            )
            return None
        base = id_.split("-", 1)[0]
        number = self._next.get(base, 1)
        while f"{base}-{number}" in self._seen:
            number += 1
        self._next[base] = number + 1
        unique = f"{base}-{number}"
        self._seen.add(unique)
        self.report.counters["renamed"] += 1
        return dataclasses.replace(example, id=unique)


def check_unique(ids: Sequence[pa.Array | pa.ChunkedArray]) -> None:
    """Raise `CorruptionError` if the ids of a version's rows hold a value twice."""
    chunks = [
        chunk for part in ids for chunk in (part.chunks if isinstance(part, pa.ChunkedArray) else [part])
    ]
    if not chunks:
        return
    column = pa.chunked_array(chunks, type=pa.string())
    if pc.count_distinct(column).as_py() == len(column):
        return
    counts = pc.value_counts(column)
    repeated = [
        value.as_py()
        for value, count in zip(counts.field("values"), counts.field("counts"), strict=True)
        if count.as_py() > 1
    ]
    raise CorruptionError(
        f"the version would hold {len(repeated)} duplicate example id(s): {repeated[:5]}",
        reason="DUPLICATE_EXAMPLE_IDS",
    )
