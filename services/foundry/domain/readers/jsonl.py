"""JSON Lines readers: one JSON object per line (plain records and the chat shapes).

Blank lines are skipped; a line that is not JSON, not an object, too long or not UTF-8 is a
violation with its line number. Chat files (OpenAI, ShareGPT, Alpaca) are JSON Lines too: the
format only changes which keys the `RecordMapper` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

from foundry.domain.formats import Format
from foundry.domain.readers.base import ReadContext, Reader, RowError
from foundry.domain.readers.lines import BadLine, iter_lines
from foundry.domain.readers.records import RecordMapper
from foundry.runtime.examples import Example


class JsonlReader(Reader):
    """Examples from a JSON Lines file."""

    def __init__(self, stream: IO[bytes], context: ReadContext, fmt: Format = Format.JSONL) -> None:
        super().__init__(context)
        self._stream = stream
        self._mapper = RecordMapper(context, self.ids, self.report, fmt)

    def _examples(self) -> Iterator[Example]:
        report = self.report
        loads = json.loads
        example = self._mapper.example
        lines = iter_lines(self._stream, max_line_bytes=self.context.max_record_bytes)
        for line_no, line in enumerate(lines, 1):
            if isinstance(line, BadLine):
                report.rows_in += 1
                self.drop(RowError(line.reason, line.description), line_no)
                continue
            if not line or line.isspace():
                continue
            report.rows_in += 1
            try:
                record = loads(line)
            except (ValueError, RecursionError) as error:
                self.drop(RowError("bad_json", f"not valid JSON: {error}"), line_no)
                continue
            if not isinstance(record, dict):
                self.drop(
                    RowError("not_an_object", f"a line must hold a JSON object, not {type(record).__name__}"),
                    line_no,
                )
                continue
            try:
                yield example(record, line_no)
            except RowError as error:
                self.drop(error, line_no)
