"""CSV and TSV readers (the `csv` module): a header row, then one record per row.

Rows are read through `iter_lines`, so no physical line exceeds `max_record_bytes`, and a record
spanning several lines (a quoted field with newlines) is cut off once its lines together exceed
it. Each record's line number is that of its first line. Without a header, columns are named by
their 0-based index ("0", "1", ...). A row whose cell count differs from the header's, or with
bad quoting, is a violation.

`csv.field_size_limit` is process-wide: it is raised (never lowered) to `max_record_bytes` so
that one large field within the limit is accepted.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import IO

from foundry.domain.formats import CsvOptions, Format
from foundry.domain.readers.base import ReadContext, Reader, RowError
from foundry.domain.readers.lines import BadLine, iter_lines
from foundry.domain.readers.records import RecordMapper
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example


class _SkipRecord(Exception):
    """Raised through `csv.reader` to abandon the record being read."""

    def __init__(self, bad: BadLine) -> None:
        super().__init__(bad.description)
        self.bad = bad


def _described(bad: BadLine, options: CsvOptions) -> str:
    """A bad line's description; one that did not decode also names the option to set."""
    if bad.reason != "bad_encoding":
        return bad.description
    return (
        f"{bad.description}; if the file is not {options.encoding}, name its encoding "
        "(source.csv.encoding, or --encoding in `foundry ingest`: e.g. latin-1, cp1252)"
    )


class _LineFeed:
    """The lines `csv.reader` consumes, with the line number where the current record began."""

    def __init__(self, lines: Iterator[str | BadLine], max_record_bytes: int) -> None:
        self._lines = lines
        self._max = max_record_bytes
        self.line_no = 0
        self.record_line = 1
        self._record_chars = 0
        self._at_record_start = True

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.line_no += 1
        if self._at_record_start:
            self.record_line = self.line_no
            self._record_chars = 0
            self._at_record_start = False
        if isinstance(line, BadLine):
            self.next_record()
            raise _SkipRecord(line)
        self._record_chars += len(line) + 1
        if self._record_chars > self._max:
            self.next_record()
            raise _SkipRecord(
                BadLine("record_too_large", f"record is longer than max_record_bytes ({self._max})")
            )
        return line + "\n"

    def next_record(self) -> None:
        """The next line read starts a new record."""
        self._at_record_start = True


class DelimitedReader(Reader):
    """Examples from a CSV or TSV file with the given options."""

    def __init__(self, stream: IO[bytes], context: ReadContext, options: CsvOptions, fmt: Format) -> None:
        super().__init__(context)
        try:
            codecs.lookup(options.encoding)
        except LookupError:
            raise InvalidArgumentError(
                f"unknown encoding {options.encoding!r}",
                violations=[FieldViolation("source.csv.encoding", f"unknown encoding {options.encoding!r}")],
            ) from None
        self._stream = stream
        self._options = options
        self._delimiter = options.delimiter_for(fmt)
        self._mapper = RecordMapper(context, self.ids, self.report, fmt)
        if csv.field_size_limit() < context.max_record_bytes:
            csv.field_size_limit(context.max_record_bytes)

    def _examples(self) -> Iterator[Example]:
        report = self.report
        lines = iter_lines(
            self._stream, max_line_bytes=self.context.max_record_bytes, encoding=self._options.encoding
        )
        feed = _LineFeed(lines, self.context.max_record_bytes)
        rows = csv.reader(
            feed, delimiter=self._delimiter, quotechar=self._options.quote_char or '"', strict=True
        )
        header: list[str] | None = None if self._options.has_header else []
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except _SkipRecord as skip:
                report.rows_in += 1
                self.drop(RowError(skip.bad.reason, _described(skip.bad, self._options)), feed.record_line)
                continue
            except csv.Error as error:
                feed.next_record()
                report.rows_in += 1
                self.drop(RowError("malformed_csv", f"malformed CSV: {error}"), feed.record_line)
                continue
            feed.next_record()
            line = feed.record_line
            if not row:
                continue  # a blank line
            if header is None:
                header = [name.strip() for name in row]
                continue
            report.rows_in += 1
            names = header or [str(index) for index in range(len(row))]
            if len(row) != len(names):
                self.drop(
                    RowError("wrong_column_count", f"{len(row)} cells, the header has {len(names)}"), line
                )
                continue
            try:
                yield self._mapper.example(dict(zip(names, row, strict=True)), line)
            except RowError as error:
                self.drop(error, line)
