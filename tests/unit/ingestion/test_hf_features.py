"""Hugging Face `datasets` Parquet files: ClassLabel ids are read as their names (features from
the schema metadata), a bad id drops its row, -1 is unlabeled; save_to_disk Arrow files convert."""

from __future__ import annotations

import io
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from foundry.domain.formats import Format, SourceSpec, ValidationOptions, ValidationPolicy
from foundry.domain.hfdisk import arrow_to_parquet, split_files
from foundry.domain.readers import open_reader
from foundry.runtime.examples import Task

NAMES = ["O", "B-PER", "I-PER"]


def parquet_bytes(dataset: datasets.Dataset, path: Path) -> io.BytesIO:
    dataset.to_parquet(str(path))
    return io.BytesIO(path.read_bytes())


def test_sequence_class_label_ner_tags_are_names(tmp_path: Path) -> None:
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NAMES)),
        }
    )
    data = datasets.Dataset.from_dict(
        {"tokens": [["Ann", "Lee", "ran"], ["x"]], "ner_tags": [[1, 2, 0], [0]]}, features=features
    )
    valid = pq.read_table(parquet_bytes(data, tmp_path / "t.parquet"))
    # a file whose ids go past the names (datasets itself refuses to write one)
    tags = pa.array([[1, 2, 0], [7]], valid.schema.field("ner_tags").type)
    broken = valid.set_column(valid.schema.get_field_index("ner_tags"), "ner_tags", tags)
    sink = io.BytesIO()
    pq.write_table(broken.replace_schema_metadata(valid.schema.metadata), sink)
    sink.seek(0)
    reader = open_reader(
        sink,
        SourceSpec(format=Format.PARQUET, file_name="t.parquet"),
        Task.TOKEN_CLASSIFICATION,
        ValidationOptions(policy=ValidationPolicy.DROP_ROW),
    )
    examples = list(reader)
    assert [e.tags for e in examples] == [["B-PER", "I-PER", "O"]]
    assert reader.report.drop_reasons == {"unknown_label": 1}


def test_class_label_ids_are_names_and_minus_one_is_unlabeled(tmp_path: Path) -> None:
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    data = datasets.Dataset.from_dict(
        {"text": ["good", "bad", "meh"], "label": [1, 0, -1]}, features=features
    )
    reader = open_reader(
        parquet_bytes(data, tmp_path / "c.parquet"),
        SourceSpec(format=Format.PARQUET, file_name="c.parquet"),
        Task.TEXT_CLASSIFICATION,
    )
    assert [e.label for e in reader] == ["pos", "neg", None]


def test_save_to_disk_arrow_files_convert_with_their_features(tmp_path: Path) -> None:
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    data = datasets.Dataset.from_dict({"text": ["good", "bad"], "label": [1, 0]}, features=features)
    datasets.DatasetDict(train=data, test=data).save_to_disk(str(tmp_path / "disk"))
    files = split_files(tmp_path / "disk")
    assert [(f.split, f.name) for f in files] == [
        ("train", "train-data-00000-of-00001"),
        ("test", "test-data-00000-of-00001"),
    ]
    assert arrow_to_parquet(files[0].path, tmp_path / "train.parquet") == 2
    reader = open_reader(
        io.BytesIO((tmp_path / "train.parquet").read_bytes()),
        SourceSpec(format=Format.PARQUET, file_name="train.parquet"),
        Task.TEXT_CLASSIFICATION,
    )
    assert [(e.text, e.label) for e in reader] == [("good", "pos"), ("bad", "neg")]
