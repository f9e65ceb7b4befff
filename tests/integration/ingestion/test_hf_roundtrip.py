"""Hugging Face `datasets` round trip against the real ingestion service and S3 server, through
the CLI: `datasets` writes Parquet and save_to_disk folders with ClassLabel features, `foundry
ingest` stores them with the label names, `foundry datasets export` writes them back out, and
ingesting the export gives the same version id (jsonl, conll, parquet, hf)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import datasets
import pytest
from typer.testing import CliRunner

from foundry.cli.main import app
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

NER_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
TRAIN = [
    (["Alice", "Smith", "went", "to", "Paris"], [1, 2, 0, 0, 3]),
    (["Bob", "lives", "in", "New", "York"], [1, 0, 0, 3, 4]),
    (["nothing", "to", "see"], [0, 0, 0]),
    (["Carol", "met", "Dave"], [1, 0, 1]),
]
TEST = [(["Eve", "left", "Rome"], [1, 0, 3]), (["quiet", "day"], [0, 0])]
SENTIMENT_TRAIN = [("a great film", 1), ("dull and long", 0), ("loved it", 1)]
SENTIMENT_TEST = [("not for me", 0), ("superb acting", 1)]

Foundry = Callable[..., Awaitable[str]]


def ner_dataset(rows: list[tuple[list[str], list[int]]]) -> datasets.Dataset:
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=NER_NAMES)),
        }
    )
    return datasets.Dataset.from_dict(
        {"tokens": [t for t, _ in rows], "ner_tags": [g for _, g in rows]}, features=features
    )


def sentiment_dataset(rows: list[tuple[str, int]]) -> datasets.Dataset:
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])}
    )
    return datasets.Dataset.from_dict({"text": [t for t, _ in rows], "label": [g for _, g in rows]}, features)


@pytest.fixture
async def foundry(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Foundry]:
    async with ingestion_server(settings) as (server, _):
        monkeypatch.setenv("FOUNDRY_INGESTION_ADDRESS", f"127.0.0.1:{server.port}")
        monkeypatch.setenv("COLUMNS", "200")
        runner = CliRunner()

        async def run(*args: str) -> str:
            result = await asyncio.to_thread(runner.invoke, app, list(args))
            assert result.exit_code == 0, (result.output, result.exception)
            return result.output

        yield run


def version_of(output: str) -> str:
    return output.split("@", 1)[1].split(":", 1)[0]


async def show(foundry: Foundry, name: str) -> dict[str, object]:
    return dict(json.loads(await foundry("datasets", "show", name, "--json")))


async def test_parquet_class_labels_are_names_and_export_reingests_to_the_same_version(
    foundry: Foundry, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ner_dataset(TRAIN).to_parquet(str(src / "train.parquet"))
    ner_dataset(TEST).to_parquet(str(src / "test.parquet"))
    first = await foundry(
        "ingest", f"{src / 'train.parquet'}:train", f"{src / 'test.parquet'}:test", "--name", "hfner"
    )
    version = await show(foundry, "hfner")
    assert version["label_set"] == ["LOC", "PER"]
    out = tmp_path / "parquet"
    await foundry("datasets", "export", "hfner", str(out), "--format", "parquet")
    loaded = datasets.load_dataset("parquet", data_files={"train": str(out / "train.parquet")})["train"]
    assert loaded.features["ner_tags"].feature.names[:3] == ["O", "B-LOC", "I-LOC"]
    names = loaded.features["ner_tags"].feature.int2str
    assert [names(t) for t in loaded[0]["ner_tags"]] == ["B-PER", "I-PER", "O", "O", "B-LOC"]
    again = await foundry(
        "ingest", f"{out / 'train.parquet'}:train", f"{out / 'test.parquet'}:test", "--name", "hfner"
    )
    assert version_of(again) == version_of(first)


async def test_save_to_disk_classification_round_trip(foundry: Foundry, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    datasets.DatasetDict(
        train=sentiment_dataset(SENTIMENT_TRAIN), test=sentiment_dataset(SENTIMENT_TEST)
    ).save_to_disk(str(disk))
    first = await foundry("ingest", str(disk), "--format", "hf", "--task", "classification", "--name", "sst")
    version = await show(foundry, "sst")
    assert version["label_set"] == ["negative", "positive"]
    assert version["counts"] == {"train": "3", "test": "2", "total": "5"}
    out = tmp_path / "hf"
    await foundry("datasets", "export", "sst", str(out), "--format", "hf")
    loaded = datasets.load_from_disk(str(out))
    assert loaded["train"].features["label"].names == ["negative", "positive"]
    pairs = {
        (row["text"], loaded["train"].features["label"].int2str(row["label"])) for row in loaded["train"]
    }
    assert pairs == {(t, ["negative", "positive"][g]) for t, g in SENTIMENT_TRAIN}
    again = await foundry("ingest", str(out), "--format", "hf", "--task", "classification", "--name", "sst")
    assert version_of(again) == version_of(first)


@pytest.mark.parametrize("fmt", ["jsonl", "conll"])
async def test_text_exports_reingest_to_the_same_version(foundry: Foundry, tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    ner_dataset(TRAIN).to_parquet(str(tmp_path / "train.parquet"))
    ner_dataset(TEST).to_parquet(str(tmp_path / "test.parquet"))
    await foundry(
        "ingest", f"{tmp_path / 'train.parquet'}:train", f"{tmp_path / 'test.parquet'}:test", "--name", "p"
    )
    await foundry("datasets", "export", "p", str(src), "--format", fmt)
    first = await foundry(
        "ingest", f"{src / f'train.{fmt}'}:train", f"{src / f'test.{fmt}'}:test", "--name", f"n{fmt}"
    )
    out = tmp_path / "out"
    await foundry("datasets", "export", f"n{fmt}", str(out), "--format", fmt)
    assert (out / f"train.{fmt}").read_bytes() == (src / f"train.{fmt}").read_bytes()
    again = await foundry(
        "ingest", f"{out / f'train.{fmt}'}:train", f"{out / f'test.{fmt}'}:test", "--name", f"n{fmt}"
    )
    assert version_of(again) == version_of(first)
    exported = (await show(foundry, f"n{fmt}"))["label_set"]
    assert exported == ["LOC", "PER"]
