"""A local, append-then-read spool of examples as Arrow IPC batches.

Ingestion streams rows through its per-row steps into a spool on local disk, so that the steps
that need every row first (de-duplication, splitting) keep only compact per-row keys in memory
and read the rows back afterwards. Memory stays flat as the input grows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pyarrow as pa

from foundry.runtime.examples import EXAMPLE_SCHEMA, Example, batch_to_examples, examples_to_batch

SPOOL_BATCH_ROWS = 2048


class Spool:
    """Write examples once (`append`, then `close`), read them back in order any number of times."""

    def __init__(self, path: Path, batch_rows: int = SPOOL_BATCH_ROWS) -> None:
        self.path = path
        self.rows = 0
        self._batch_rows = batch_rows
        self._pending: list[Example] = []
        self._sink: pa.NativeFile | None = pa.OSFile(str(path), "wb")
        self._writer: pa.ipc.RecordBatchStreamWriter | None = pa.ipc.new_stream(self._sink, EXAMPLE_SCHEMA)

    def append(self, example: Example) -> None:
        self._pending.append(example)
        self.rows += 1
        if len(self._pending) >= self._batch_rows:
            self._flush()

    def append_batch(self, batch: pa.RecordBatch) -> None:
        """Append rows that are already an Arrow batch of `EXAMPLE_SCHEMA`."""
        self._flush()
        if self._writer is not None and batch.num_rows:
            self._writer.write_batch(batch)
            self.rows += batch.num_rows

    def _flush(self) -> None:
        if self._pending and self._writer is not None:
            self._writer.write_batch(examples_to_batch(self._pending))
            self._pending = []

    def close(self) -> None:
        if self._writer is None:
            return
        self._flush()
        self._writer.close()
        assert self._sink is not None
        self._sink.close()
        self._writer = self._sink = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def record_batches(self) -> Iterator[pa.RecordBatch]:
        """The spooled rows as Arrow batches, in the order they were appended."""
        self.close()
        with pa.memory_map(str(self.path), "r") as source:
            yield from pa.ipc.open_stream(source)

    def batches(self) -> Iterator[list[Example]]:
        """The spooled examples, batch by batch, in the order they were appended."""
        for batch in self.record_batches():
            yield batch_to_examples(batch)

    def __iter__(self) -> Iterator[Example]:
        for batch in self.batches():
            yield from batch
