"""Token-classification examples from a CoNLL file, read by the ingestion service's own reader
(IOB2, ids and provenance as ingestion gives them): for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

from foundry.domain.formats import Format, SourceSpec
from foundry.domain.readers.dispatch import open_reader
from foundry.runtime.examples import Example, Split, Task


def read_conll(path: str | Path, split: Split) -> list[Example]:
    source = SourceSpec(format=Format.CONLL, file_name=Path(path).name, default_split=split)
    with Path(path).open("rb") as stream:
        return list(open_reader(stream, source, Task.TOKEN_CLASSIFICATION))
