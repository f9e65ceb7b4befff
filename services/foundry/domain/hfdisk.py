"""Hugging Face `datasets` `save_to_disk` folders: their Arrow files in, and a folder out.

A `DatasetDict` folder holds `dataset_dict.json` (`{"splits": [...]}`) and one folder per split;
a `Dataset` folder is one such split folder: `state.json` (its `_data_files`, in order),
`dataset_info.json` (the features) and Arrow IPC stream files whose schema metadata carries the
features under b"huggingface". `split_files` lists a folder's Arrow files with their split;
`arrow_to_parquet` rewrites one as a Parquet file (batch by batch, the metadata kept) so that the
Parquet reader ingests it, ClassLabel names included. `write_folder` writes a folder that
`datasets.load_from_disk` opens, from the Arrow tables of `foundry.domain.exports.arrow_table`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from foundry.domain.hffeatures import HF_METADATA_KEY
from foundry.runtime.errors import FieldViolation, InvalidArgumentError

DATASET_DICT = "dataset_dict.json"
STATE = "state.json"
INFO = "dataset_info.json"
DATA_FILE = "data-00000-of-00001.arrow"


@dataclass(frozen=True, slots=True)
class SplitFile:
    """One Arrow file of a `save_to_disk` folder: its path, split ("" when the folder names
    none) and a file name unique within the folder ("train-data-00000-of-00001")."""

    path: Path
    split: str
    name: str


def split_files(folder: Path) -> list[SplitFile]:
    """The Arrow files of a `save_to_disk` folder (a DatasetDict or a Dataset), in order."""
    dict_file = folder / DATASET_DICT
    if dict_file.is_file():
        splits = _json(dict_file).get("splits")
        if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
            raise _bad(folder, f"{DATASET_DICT} has no list of splits")
        return [file for split in splits for file in _data_files(folder / split, split)]
    if (folder / STATE).is_file():
        return _data_files(folder, "")
    raise _bad(folder, f"not a save_to_disk folder (no {DATASET_DICT} or {STATE})")


def _data_files(folder: Path, split: str) -> list[SplitFile]:
    files = _json(folder / STATE).get("_data_files")
    if not isinstance(files, list) or not files:
        raise _bad(folder, f"{STATE} lists no _data_files")
    out = []
    for entry in files:
        name = entry.get("filename") if isinstance(entry, dict) else None
        if not isinstance(name, str) or "/" in name or not (folder / name).is_file():
            raise _bad(folder, f"{STATE} names a data file that is not there: {entry!r}")
        stem = name.removesuffix(".arrow")
        out.append(SplitFile(folder / name, split, f"{split}-{stem}" if split else stem))
    return out


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _bad(path.parent, f"cannot read {path.name}: {error}") from None
    if not isinstance(value, dict):
        raise _bad(path.parent, f"{path.name} is not a JSON object")
    return value


def _bad(folder: Path, problem: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{folder}: {problem}", violations=[FieldViolation("FILE", str(folder))])


def arrow_to_parquet(arrow: Path, parquet: Path) -> int:
    """Rewrite an Arrow IPC stream file as Parquet, batch by batch, schema metadata kept; rows."""
    rows = 0
    try:
        with pa.memory_map(str(arrow)) as source:
            reader = pa.ipc.open_stream(source)
            with pq.ParquetWriter(parquet, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    except (pa.ArrowException, OSError) as error:
        raise _bad(arrow.parent, f"{arrow.name} is not an Arrow stream file: {error}") from None
    return rows


def write_folder(folder: Path, tables: dict[str, pa.Table]) -> None:
    """A DatasetDict `save_to_disk` folder of these split tables (each with its features)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, table in tables.items():
        split_dir = folder / split
        split_dir.mkdir(exist_ok=True)
        with (
            pa.OSFile(str(split_dir / DATA_FILE), "wb") as sink,
            pa.ipc.new_stream(sink, table.schema) as writer,
        ):
            writer.write_table(table)
        metadata = table.schema.metadata or {}
        features = json.loads(metadata[HF_METADATA_KEY])["info"]["features"]
        (split_dir / INFO).write_text(json.dumps({"features": features}, indent=2) + "\n")
        fingerprint = hashlib.sha256((split_dir / DATA_FILE).read_bytes()).hexdigest()[:16]
        state: dict[str, Any] = {
            "_data_files": [{"filename": DATA_FILE}],
            "_fingerprint": fingerprint,
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": split,
        }
        (split_dir / STATE).write_text(json.dumps(state, indent=2) + "\n")
    (folder / DATASET_DICT).write_text(json.dumps({"splits": list(tables)}) + "\n")
