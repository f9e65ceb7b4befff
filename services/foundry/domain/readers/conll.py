"""CoNLL reader: one token per line in two or more columns, a blank line between sentences.

The token and tag columns are configurable (default: the first and the last); columns are
split on any whitespace run, or on the given separator (tags are then stripped). "-DOCSTART-"
lines separate documents and are skipped; with `group_by_document` each sentence gets
meta["group"] = "doc-N" and meta["document"] = "N" (N counts "-DOCSTART-" lines, 0 before the
first) so that no document straddles two splits. Tags in IOB1, IOB2 or BIOES (or detected per
sentence) become IOB2, invalid sequences are repaired unless repair is off, and both are counted
(`tags_converted`, `tags_repaired`; `rows_modified` counts the sentences concerned).
A sentence's text is its tokens joined by `foundry.domain.textjoin` (single spaces, none
around CJK characters, none at all in a character-level CJK sentence), spans index it.

A sentence is dropped whole, at its first line, when one of its lines has too few columns (or
an empty tag), is too long or does not decode, when its tokens and tags together exceed
`max_record_bytes` (its lines are then no longer kept), or when its tags are invalid.

The loop over lines is kept tight: a token line costs one `str.split` and two appends; blank
lines, "-DOCSTART-" and broken lines take a slower path, and a sentence's first line is worked
out from where it ends and how many lines it has.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, cast

from foundry.domain.formats import ConllOptions
from foundry.domain.readers.base import ReadContext, Reader, RowError
from foundry.domain.readers.lines import BadLine, iter_line_blocks
from foundry.domain.tags import TagError, spans_from_tags, to_iob2
from foundry.domain.textjoin import join_tokens
from foundry.runtime.examples import Example, Provenance, Span

DOCSTART = "-DOCSTART-"


class ConllReader(Reader):
    """Examples (token classification) from a CoNLL column file."""

    def __init__(self, stream: IO[bytes], context: ReadContext, options: ConllOptions) -> None:
        super().__init__(context)
        self._stream = stream
        self._options = options
        self._separator = options.separator or None
        tag_column = options.tag_column
        self._needed = max(2, options.token_column + 1, tag_column + 1 if tag_column >= 0 else -tag_column)
        self._document = 0
        # the sentence being read
        self._tokens: list[str] = []
        self._tags: list[str] = []
        self._error: RowError | None = None
        self._error_start = 0  # first line of a sentence with an error

    def _examples(self) -> Iterator[Example]:
        separator, needed = self._separator, self._needed
        token_column, tag_column = self._options.token_column, self._options.tag_column
        limit = self.context.max_record_bytes
        line_no = 0
        for lines, clean in iter_line_blocks(self._stream, max_line_bytes=limit):
            if not clean:
                for line_no, line in enumerate(lines, line_no + 1):  # noqa: B020  (line_no carries on)
                    yield from self._careful_line(line, line_no)
            else:
                tokens, tags, broken = self._tokens, self._tags, self._error is not None
                for line_no, line in enumerate(cast("list[str]", lines), line_no + 1):  # noqa: B020
                    columns = line.split(separator)
                    if (
                        len(columns) >= needed
                        and not broken
                        and columns[tag_column]
                        and columns[0] != DOCSTART
                    ):
                        tokens.append(columns[token_column])
                        tags.append(columns[tag_column])
                        continue
                    yield from self._other_line(line, columns, line_no)
                    tokens, tags, broken = self._tokens, self._tags, self._error is not None
            if self._tokens and self._size() > limit:
                self._too_large(line_no + 1 - len(self._tokens))
        yield from self._flush(line_no + 1)

    def _careful_line(self, line: str | BadLine, line_no: int) -> Iterator[Example]:
        """One line of a block that holds unreadable lines."""
        if isinstance(line, BadLine):
            self._fail(RowError(line.reason, line.description), line_no - len(self._tokens))
            return
        columns = line.split(self._separator)
        tag_column = self._options.tag_column
        if (
            len(columns) >= self._needed
            and self._error is None
            and columns[tag_column]
            and columns[0] != DOCSTART
        ):
            self._tokens.append(columns[self._options.token_column])
            self._tags.append(columns[tag_column])
        else:
            yield from self._other_line(line, columns, line_no)

    def _other_line(self, line: str, columns: list[str], line_no: int) -> Iterator[Example]:
        """A blank line, a "-DOCSTART-" line, a broken line, or a line of a broken sentence."""
        if not columns or not line or line.isspace():
            yield from self._flush(line_no)
        elif columns[0] == DOCSTART:
            yield from self._flush(line_no)
            self._document += 1
            self.report.counters["documents"] += 1
        elif self._error is None:
            problem = (
                f"{len(columns)} column(s), {self._needed} needed (token and tag)"
                if len(columns) < self._needed
                else "the tag column is empty"
            )
            self._fail(
                RowError("too_few_columns", f"line {line_no}: {problem}", "tags"), line_no - len(self._tokens)
            )

    def _fail(self, error: RowError, first_line: int) -> None:
        """Mark the current sentence (which began at `first_line`) broken; drop its lines."""
        if self._error is None:
            self._error = error
            self._error_start = first_line
            self._tokens, self._tags = [], []

    def _size(self) -> int:
        """Characters held for the current sentence (tokens, tags, one separator and newline each)."""
        return sum(map(len, self._tokens)) + sum(map(len, self._tags)) + 2 * len(self._tokens)

    def _too_large(self, first_line: int) -> None:
        """Mark the current sentence as over `max_record_bytes`."""
        limit = self.context.max_record_bytes
        self._fail(
            RowError("record_too_large", f"sentence is longer than max_record_bytes ({limit})"), first_line
        )

    def _flush(self, end_line: int) -> Iterator[Example]:
        """End the current sentence at `end_line` (the blank line after it, or the end of file)."""
        error, tokens, tags = self._error, self._tokens, self._tags
        if error is None and not tokens:
            return
        first_line = self._error_start if error is not None else end_line - len(tokens)
        if error is None and self._size() > self.context.max_record_bytes:
            self._too_large(first_line)
            error = self._error
        self._tokens, self._tags, self._error = [], [], None
        self.report.rows_in += 1
        if error is not None:
            self.drop(error, first_line)
            return
        if self._separator is not None:
            tags = [tag.strip() for tag in tags]
        example = self._example(tokens, tags, first_line)
        if example is not None:
            yield example

    def _example(self, tokens: list[str], tags: list[str], line: int) -> Example | None:
        """The example of one sentence, or None when its tags are invalid (counted)."""
        context = self.context
        if tags.count("O") == len(tags):  # no entity: nothing to convert, no spans
            return self._make(tokens, tags, join_tokens(tokens), [], line)
        try:
            conversion = to_iob2(tags, context.scheme, repair=context.repair_tags)
        except TagError as tag_error:
            where = f" (token {tag_error.index + 1})" if tag_error.index >= 0 else ""
            self.drop(RowError(tag_error.reason, f"{tag_error}{where}", "tags"), line)
            return None
        if conversion.converted or conversion.repaired:
            counters = self.report.counters
            counters["tags_converted"] += conversion.converted
            counters["tags_repaired"] += conversion.repaired
            self.report.rows_modified += 1
        tags = conversion.tags
        text, spans = spans_from_tags(tokens, tags)
        return self._make(tokens, tags, text, spans, line)

    def _make(self, tokens: list[str], tags: list[str], text: str, spans: list[Span], line: int) -> Example:
        """The example of a sentence whose tags are valid IOB2."""
        context = self.context
        meta = {}
        if self._options.group_by_document:
            meta = {"group": f"doc-{self._document}", "document": str(self._document)}
        return Example(
            id=self.ids.derive_tokens(tokens, tags),
            split=context.default_split,
            meta=meta,
            provenance=Provenance(context.source, line),
            text=text,
            tokens=tokens,
            tags=tags,
            spans=spans,
        )
