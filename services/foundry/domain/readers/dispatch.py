"""Choosing a reader: format detection from the file name, and `open_reader`."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import IO

from foundry.domain.formats import Format, SourceSpec, ValidationOptions
from foundry.domain.readers.base import ReadContext, Reader
from foundry.domain.readers.conll import ConllReader
from foundry.domain.readers.delimited import DelimitedReader
from foundry.domain.readers.jsonl import JsonlReader
from foundry.domain.readers.parquet import ParquetReader
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Task

#: file name extension → format (chat JSON Lines cannot be told apart from JSONL by name)
EXTENSIONS = {
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".jsonlines": Format.JSONL,
    ".csv": Format.CSV,
    ".tsv": Format.TSV,
    ".tab": Format.TSV,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".conll": Format.CONLL,
    ".iob": Format.CONLL,
    ".iob1": Format.CONLL,
    ".iob2": Format.CONLL,
    ".bio": Format.CONLL,
    ".bioes": Format.CONLL,
    ".bilou": Format.CONLL,
}

_CHAT_FORMATS = (Format.CHAT_OPENAI, Format.CHAT_SHAREGPT, Format.CHAT_ALPACA)


def detect_format(file_name: str) -> Format:
    """The format a file name's extension names; raises `InvalidArgumentError` if none."""
    suffix = PurePosixPath(file_name.replace("\\", "/")).suffix.lower()
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        raise InvalidArgumentError(
            f"cannot tell the format of {file_name!r} from its name; set the format ({known})",
            reason="UNKNOWN_FORMAT",
            violations=[
                FieldViolation("source.format", f"unspecified, and {suffix or 'no extension'} is not known")
            ],
        )
    return fmt


def open_reader(
    stream: IO[bytes], source: SourceSpec, task: Task, validation: ValidationOptions | None = None
) -> Reader:
    """A reader of `stream` (a binary file; Parquet needs it seekable) as `source` says, for `task`.

    Raises `InvalidArgumentError` for bad options, an unknown format, or a format that cannot
    carry `task` (CoNLL is token classification, the chat formats are chat).
    """
    source.check("source.")
    validation = validation or ValidationOptions()
    fmt = source.format if source.format is not Format.UNSPECIFIED else detect_format(source.file_name)
    _check_task(fmt, task)
    context = ReadContext.create(source, task, validation)
    if fmt is Format.CONLL:
        return ConllReader(stream, context, source.conll)
    if fmt in (Format.CSV, Format.TSV):
        return DelimitedReader(stream, context, source.csv, fmt)
    if fmt is Format.PARQUET:
        return ParquetReader(stream, context)
    return JsonlReader(stream, context, fmt)


def _check_task(fmt: Format, task: Task) -> None:
    problem = ""
    if fmt is Format.EXAMPLES:
        problem = "FORMAT_EXAMPLES carries Example batches, not a file to read"
    elif fmt is Format.CONLL and task is not Task.TOKEN_CLASSIFICATION:
        problem = f"CoNLL files hold token classification data, not {task.value}"
    elif fmt in _CHAT_FORMATS and task is not Task.CHAT:
        problem = f"{fmt.value} files hold chat data, not {task.value}"
    if problem:
        raise InvalidArgumentError(
            problem, reason="FORMAT_TASK_MISMATCH", violations=[FieldViolation("source.format", problem)]
        )
