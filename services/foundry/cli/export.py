"""`foundry datasets export` (a version's splits as files) and `foundry ingest --format hf`.

Export streams each split's examples through ReadExamples (the typed client) and writes them
with `foundry.domain.exports` (one file per split, named after it) or, for hf, as a
`save_to_disk` folder (`foundry.domain.hfdisk`). Ingesting hf folders rewrites their Arrow files
as Parquet in a temporary folder (features kept) and uploads those with their splits.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from foundry.api.common.v1 import example_pb2, refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.client.ingestion import IngestionClient
from foundry.domain.exports import SUFFIXES, ExportFormat, arrow_table, write_split
from foundry.domain.hfdisk import arrow_to_parquet, split_files, write_folder
from foundry.runtime.convert import example_from_pb, task_from_pb
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Split
from foundry.runtime.settings import Settings

#: `foundry ingest --format hf`: FILE arguments are save_to_disk folders
HF_FORMAT = "hf"
_SPLITS = (
    (Split.TRAIN, example_pb2.SPLIT_TRAIN),
    (Split.VALIDATION, example_pb2.SPLIT_VALIDATION),
    (Split.TEST, example_pb2.SPLIT_TEST),
    (Split.UNASSIGNED, example_pb2.SPLIT_UNASSIGNED),
)


def parse_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value)
    except ValueError:
        known = ", ".join(f.value for f in ExportFormat)
        raise InvalidArgumentError(
            f"unknown export format {value!r}; one of {known}", violations=[FieldViolation("--format", value)]
        ) from None


def export(settings: Settings, ref: str, fmt: ExportFormat, out_dir: Path) -> dict[str, tuple[Path, int]]:
    """Write `NAME[@VERSION]`'s splits into `out_dir`; split → (path, examples written)."""
    name, _, version_id = ref.partition("@")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, tuple[Path, int]] = {}
    with IngestionClient(settings) as client:
        version = client.dataset_version(name, version_id)
        task = task_from_pb(version.task)
        label_set = list(version.label_set)
        counts = {split: getattr(version.counts, split.value) for split, _ in _SPLITS}
        tables = {}
        for split, number in _SPLITS:
            if not counts[split]:
                continue
            examples = _examples(client, name, version.version_id, number)
            if fmt is ExportFormat.HF:
                tables[split.value] = arrow_table(list(examples), task, label_set)
                continue
            path = out_dir / f"{split.value}{SUFFIXES[fmt]}"
            written[split.value] = (path, write_split(fmt, examples, path, task, label_set))
    if fmt is ExportFormat.HF:
        write_folder(out_dir, tables)
        written = {split: (out_dir / split, table.num_rows) for split, table in tables.items()}
    return written


def _examples(
    client: IngestionClient, name: str, version_id: str, split: example_pb2.Split.ValueType
) -> Iterator[Example]:
    request = pb.ReadExamplesRequest(
        dataset=refs_pb2.DatasetRef(name=name, version_id=version_id), splits=[split]
    )
    for response in client.read_examples(request):
        for message in response.examples:
            yield example_from_pb(message)


@contextmanager
def staged_hf(folders: list[str]) -> Iterator[list[str]]:
    """FILE[:SPLIT] arguments for the Parquet files of these `save_to_disk` folders (a split the
    folder names is used unless FOLDER:SPLIT gives one); they live until the block ends."""
    with tempfile.TemporaryDirectory(prefix="foundry-hf-") as tmp:
        out = []
        for spec in folders:
            folder, _, given = spec.rpartition(":") if ":" in spec else (spec, "", "")
            if not Path(folder).is_dir():
                raise InvalidArgumentError(
                    f"no such folder: {folder} (--format hf takes save_to_disk folders)",
                    violations=[FieldViolation("FILE", folder)],
                )
            for file in split_files(Path(folder)):
                parquet = Path(tmp) / f"{file.name}.parquet"
                if parquet.exists():
                    raise InvalidArgumentError(f"two folders hold {file.name}; ingest them one at a time")
                arrow_to_parquet(file.path, parquet)
                split = given or file.split
                out.append(f"{parquet}:{split}" if split else str(parquet))
        yield out
