"""Parquet encoding of Example shards: deterministic bytes in, verified batches out.

A shard is one Parquet file holding `EXAMPLE_SCHEMA` rows in a single row group, compressed
with zstd at a fixed level. For the same rows and the same pyarrow version the bytes are the
same, which is what makes shards content-addressable; a different pyarrow version may write
different bytes (its version is in the file's `created_by`), which gives new shard hashes and
so a new version id for the same rows, never a wrong one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.runtime.errors import CorruptionError
from foundry.runtime.examples import EXAMPLE_SCHEMA, Example, examples_to_table

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
ZSTD_LEVEL = 3


def encode_shard(examples: Sequence[Example]) -> bytes:
    """The Parquet bytes of one shard (deterministic for the same rows)."""
    return encode_table(examples_to_table(examples))


def encode_table(table: pa.Table) -> bytes:
    """The Parquet bytes of one shard of `EXAMPLE_SCHEMA` rows: the same bytes for the same rows,
    however they were batched (the table is combined into one chunk per column first)."""
    table = table.combine_chunks()
    buffer = io.BytesIO()
    pq.write_table(
        table,
        buffer,
        row_group_size=max(1, table.num_rows),
        compression="zstd",
        compression_level=ZSTD_LEVEL,
        use_dictionary=True,
        write_statistics=True,
    )
    return buffer.getvalue()


def iter_shard_batches(key: str, data: bytes, *, expected_rows: int, batch_rows: int) -> Iterator[Any]:
    """The record batches of a shard's bytes, after checking its schema and row count.

    Raises `CorruptionError` naming `key` if the bytes are not Parquet of `EXAMPLE_SCHEMA` with
    `expected_rows` rows.
    """
    try:
        parquet = pq.ParquetFile(io.BytesIO(data))
        schema, rows = parquet.schema_arrow, parquet.metadata.num_rows
    except Exception as exc:
        raise CorruptionError(f"shard {key!r} is not readable Parquet: {exc}", metadata={"key": key}) from exc
    if not schema.equals(EXAMPLE_SCHEMA, check_metadata=False):
        raise CorruptionError(
            f"shard {key!r} does not have the Example schema:\n{schema}", metadata={"key": key}
        )
    if rows != expected_rows:
        raise CorruptionError(
            f"shard {key!r} holds {rows} rows, its manifest says {expected_rows}", metadata={"key": key}
        )
    yield from parquet.iter_batches(batch_size=batch_rows)
