"""CSV and TSV readers (the `csv` module): a header row, then one record per row.

Rows are read through `iter_lines`, so no physical line exceeds `max_record_bytes`. Each
record's line number is that of its first line. Every record read is kept or dropped with a
reason and that line:

- a row with more or fewer cells than there are columns is a violation ("wrong_column_count"),
  never truncated or padded; with `last_column_takes_rest` the cells past the last column are
  joined onto it with the delimiter instead ("label sentence with many words");
- the columns are the header's; without a header they are named by their 0-based index
  ("0", "1", ...), and there are as many as the field mapping names (up to the highest index it
  uses), else as many as the first record has;
- a quoted field still open after `max_record_lines` lines or `max_record_bytes` bytes, or at
  the end of the file, makes the record where it opened a violation ("unclosed_quote",
  "record_too_large"), and the lines after that one are read as records again: a stray quote
  costs one row, not the rest of the file. The same holds for bad quoting found after the first
  line of a record ("malformed_csv") and for a bad line inside a multi-line record;
- `quoting=False` ("quote: none") reads quote characters as plain text.

`csv.field_size_limit` is process-wide: it is raised (never lowered) to `max_record_bytes` so
that one large field within the limit is accepted.
"""

from __future__ import annotations

import codecs
import csv
from collections import deque
from collections.abc import Iterator
from typing import IO

from foundry.domain.formats import CsvOptions, FieldMapping, Format
from foundry.domain.readers.base import ReadContext, Reader, RowError
from foundry.domain.readers.lines import BadLine, iter_lines
from foundry.domain.readers.records import RecordMapper
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example

Line = tuple[int, str | BadLine]


class _SkipRecord(Exception):
    """Raised through `csv.reader` to abandon the record being read."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.description)
        self.error = error


def _described(error: RowError, options: CsvOptions) -> RowError:
    """A dropped record's error; one that did not decode also names the option to set."""
    if error.reason != "bad_encoding":
        return error
    return RowError(
        error.reason,
        f"{error.description}; if the file is not {options.encoding}, name its encoding "
        "(source.csv.encoding, or --encoding in `foundry ingest`: e.g. latin-1, cp1252)",
    )


class _LineFeed:
    """The lines `csv.reader` consumes, numbered, with the lines of the current record kept so
    that those after its first can be read again when the record is abandoned."""

    def __init__(self, lines: Iterator[str | BadLine], max_record_bytes: int, max_record_lines: int) -> None:
        self._lines = enumerate(lines, 1)
        self._replay: deque[Line] = deque()
        self._max_bytes = max_record_bytes
        self._max_lines = max_record_lines
        self._record: list[Line] = []
        self._record_chars = 0
        self._at_record_start = True
        self.exhausted = False

    def __iter__(self) -> _LineFeed:
        return self

    @property
    def record_spans_lines(self) -> bool:
        """Whether the current record has run past its first line."""
        return len(self._record) > 1

    @property
    def record_line(self) -> int:
        """The line where the current (or last) record began."""
        return self._record[0][0] if self._record else 0

    def __next__(self) -> str:
        if self._replay:
            number, line = self._replay.popleft()
        else:
            try:
                number, line = next(self._lines)
            except StopIteration:
                self.exhausted = True
                raise
        if self._at_record_start:
            self._record = []
            self._record_chars = 0
            self._at_record_start = False
        self._record.append((number, line))
        if isinstance(line, BadLine):
            if len(self._record) == 1:
                self.next_record()
                raise _SkipRecord(RowError(line.reason, line.description))
            self.abandon()
            raise _SkipRecord(
                RowError(
                    line.reason,
                    f"line {number}, inside a quoted field opened on line {self.record_line}: "
                    f"{line.description}",
                )
            )
        self._record_chars += len(line) + 1
        if self._record_chars > self._max_bytes:
            self.abandon()
            raise _SkipRecord(
                RowError("record_too_large", f"record is longer than max_record_bytes ({self._max_bytes})")
            )
        if len(self._record) > self._max_lines:
            self.abandon()
            raise _SkipRecord(
                RowError(
                    "unclosed_quote",
                    f"a quoted field opened on line {self.record_line} runs over more than "
                    f"max_record_lines ({self._max_lines}) lines",
                )
            )
        return line + "\n"

    def next_record(self) -> None:
        """The next line read starts a new record."""
        self._at_record_start = True

    def abandon(self) -> None:
        """Drop the current record: the lines after its first are read again, as new records."""
        self._replay.extendleft(reversed(self._record[1:]))
        self.exhausted = False
        self.next_record()


def _mapped_columns(mapping: FieldMapping) -> int:
    """How many columns a header-less file has by the mapping: highest index named + 1 (0: none)."""
    names = [
        mapping.id_field,
        mapping.split_field,
        mapping.group_field,
        *mapping.meta_fields,
        mapping.text_field,
        mapping.label_field,
        mapping.labels_field,
        mapping.tokens_field,
        mapping.tags_field,
        mapping.spans_field,
        mapping.messages_field,
    ]
    return max((int(name) + 1 for name in names if name.isdigit()), default=0)


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
        options = self._options
        lines = iter_lines(
            self._stream, max_line_bytes=self.context.max_record_bytes, encoding=options.encoding
        )
        feed = _LineFeed(lines, self.context.max_record_bytes, options.max_record_lines)
        rows = csv.reader(
            feed,
            delimiter=self._delimiter,
            quotechar=options.quote_char or '"',
            quoting=csv.QUOTE_MINIMAL if options.quoting else csv.QUOTE_NONE,
            strict=True,
        )
        header: list[str] | None = None
        if not options.has_header:
            columns = _mapped_columns(self.context.mapping)
            header = [str(index) for index in range(columns)] if columns else []
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except _SkipRecord as skip:
                report.rows_in += 1
                self.drop(_described(skip.error, self._options), feed.record_line)
                continue
            except csv.Error as error:
                report.rows_in += 1
                self.drop(self._csv_error(feed, error), feed.record_line)
                continue
            feed.next_record()
            line = feed.record_line
            if not row:
                continue  # a blank line
            if header is None:
                header = [name.strip() for name in row]
                continue
            report.rows_in += 1
            if not header:  # no header and no column named by index: the first record decides
                header = [str(index) for index in range(len(row))]
            try:
                cells = self._fit(row, header)
                yield self._mapper.example(dict(zip(header, cells, strict=True)), line)
            except RowError as error:
                self.drop(error, line)

    def _csv_error(self, feed: _LineFeed, error: csv.Error) -> RowError:
        """The violation of a record `csv` could not parse; a multi-line one's later lines are read again."""
        opened = feed.record_line
        if feed.exhausted:
            feed.abandon()
            return RowError(
                "unclosed_quote",
                f"a quoted field opened on line {opened} is not closed before the end of the file",
            )
        if feed.record_spans_lines:
            feed.abandon()
        else:
            feed.next_record()
        return RowError("malformed_csv", f"malformed CSV: {error}")

    def _fit(self, row: list[str], header: list[str]) -> list[str]:
        """The row's cells, one per column; more or fewer is a `RowError` (or joined, if asked)."""
        if len(row) == len(header):
            return row
        if len(row) > len(header) and self._options.last_column_takes_rest:
            last = len(header) - 1
            return [*row[:last], self._delimiter.join(row[last:])]
        if self._options.has_header:
            description = f"{len(row)} cells, the header has {len(header)}"
        else:
            description = f"{len(row)} cells, the file has {len(header)} columns"
        if len(row) > len(header) and not self._options.last_column_takes_rest:
            description += " (last_column_takes_rest joins the extra cells onto the last column)"
        raise RowError("wrong_column_count", description)
