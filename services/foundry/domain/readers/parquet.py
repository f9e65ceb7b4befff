"""Parquet reader (pyarrow): record batches of a few thousand rows, only the mapped columns.

A row's "line" is its 1-based row number. Struct columns are nested objects, so dotted keys
reach into them; list<struct> spans and messages read like their JSON forms. Parquet needs a
seekable file (the service spools uploads to a temporary file). Record size is bounded by the
file's own row groups, not by `max_record_bytes`; text sizes are checked by validation.

A file written by Hugging Face `datasets` carries its features in the schema metadata: ClassLabel
ids (`label`, `Sequence(ClassLabel)` `ner_tags`) are read as their names (`foundry.domain.hffeatures`);
an id outside the names drops the row (reason "unknown_label"). Such a file's tag column is
`ner_tags` when no tags field is mapped and there is no `tags` column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.domain.formats import Format
from foundry.domain.hffeatures import LabelDecoder, LabelIdError, class_label_names
from foundry.domain.readers.base import ReadContext, Reader, RowError
from foundry.domain.readers.records import RecordMapper
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example

#: rows per record batch
BATCH_ROWS = 4096
#: the tag column of Hugging Face token classification datasets
HF_TAGS = "ner_tags"


class ParquetReader(Reader):
    """Examples from a Parquet file."""

    def __init__(self, stream: IO[bytes], context: ReadContext) -> None:
        super().__init__(context)
        try:
            self._file = pq.ParquetFile(stream)
        except (pa.ArrowException, OSError) as error:
            raise InvalidArgumentError(
                f"{context.source or 'the file'} is not a Parquet file: {error}"
            ) from None
        schema = self._file.schema_arrow
        names = class_label_names(schema.metadata)
        if names and not context.mapping.tags_field and "tags" not in schema.names and HF_TAGS in names:
            context = replace(context, mapping=replace(context.mapping, tags_field=HF_TAGS))
        self._mapper = RecordMapper(context, self.ids, self.report, Format.PARQUET)
        self._labels = LabelDecoder(names)

    def _examples(self) -> Iterator[Example]:
        report = self.report
        example = self._mapper.example
        wanted = self._mapper.columns()
        columns = [name for name in self._file.schema_arrow.names if name in wanted]
        labels = self._labels
        row = 0
        try:
            batches = self._file.iter_batches(batch_size=BATCH_ROWS, columns=columns)
            for batch in batches:
                for record in batch.to_pylist():
                    row += 1
                    report.rows_in += 1
                    try:
                        if labels:
                            record = _decoded(labels, record)
                        yield example(record, row)
                    except RowError as error:
                        self.drop(error, row)
        except (pa.ArrowException, OSError) as error:
            raise InvalidArgumentError(f"cannot read Parquet after row {row}: {error}") from None


def _decoded(labels: LabelDecoder, record: dict[str, Any]) -> dict[str, Any]:
    try:
        return labels.decode(record)
    except LabelIdError as error:
        raise RowError("unknown_label", str(error), error.column) from None
