"""Streaming readers of source files into `Example`s (JSONL, CSV/TSV, Parquet, CoNLL, chat).

`open_reader(stream, source_spec, task, validation_options)` picks the reader; iterate it for
the examples and read its `report` (step "read") for the counts and violations.
"""

from foundry.domain.readers.base import IdAssigner, ReadContext, Reader, RowError, parse_split
from foundry.domain.readers.conll import ConllReader
from foundry.domain.readers.delimited import DelimitedReader
from foundry.domain.readers.dispatch import EXTENSIONS, detect_format, open_reader
from foundry.domain.readers.jsonl import JsonlReader
from foundry.domain.readers.parquet import ParquetReader

__all__ = [
    "EXTENSIONS",
    "ConllReader",
    "DelimitedReader",
    "IdAssigner",
    "JsonlReader",
    "ParquetReader",
    "ReadContext",
    "Reader",
    "RowError",
    "detect_format",
    "open_reader",
    "parse_split",
]
