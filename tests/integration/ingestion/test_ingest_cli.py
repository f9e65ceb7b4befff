"""`foundry ingest` against the real ingestion service (and S3 server): every source option from
the command line (`--field`, `--delimiter`, `--no-header`, `--quote`, `--encoding`, `--id-field`,
`--split-field`), a recipe file with a `source:` section, and flags over the recipe's values."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from google.protobuf import json_format
from typer.testing import CliRunner

from foundry.api.common.v1 import example_pb2, refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.cli.main import app

Foundry = Callable[..., Awaitable[str]]
Row = tuple[str, str, str, str]  # (id, text, label, split)
SPLIT = {
    example_pb2.SPLIT_TRAIN: "train",
    example_pb2.SPLIT_VALIDATION: "validation",
    example_pb2.SPLIT_TEST: "test",
}


@pytest.fixture
def foundry() -> Foundry:
    runner = CliRunner()

    async def run(*args: str, code: int = 0) -> str:
        result = await asyncio.to_thread(runner.invoke, app, list(args))
        assert result.exit_code == code, (result.output, result.exception)
        return " ".join(result.output.split())  # rich wraps long lines at the console's width

    return run


async def rows(stub: pb_grpc.IngestionServiceStub, name: str) -> list[Row]:
    out: list[Row] = []
    request = pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name=name))
    async for batch in stub.ReadExamples(request):
        out += [(e.id, e.text, e.label, SPLIT.get(e.split, "?")) for e in batch.examples]
    return sorted(out, key=lambda row: row[1])


SENTENCES = [
    ("r1", "1", "a gripping , heartfelt film that earns its tears"),
    ("r2", "0", '"wow" said nobody who sat through this dull exercise'),
    ("r3", "1", "the cast is superb and the score lingers for days"),
    ("r4", "0", "a lifeless plot that never finds a reason to exist"),
    ("r5", "1", "funny , warm and smarter than it has any right to be"),
]


async def test_headerless_tsv_with_field_mapping_delimiter_and_quote(
    stub: pb_grpc.IngestionServiceStub, foundry: Foundry, tmp_path: Path
) -> None:
    path = tmp_path / "sentiment.txt"  # id, label, sentence; no header; one text opens with a "
    path.write_text("".join(f"{i}\t{label}\t{text}\n" for i, label, text in SENTENCES))
    common = ["ingest", f"{path}:train", "--task", "classification", "--format", "csv"]
    mapping = ["--field", "label=1", "--field", "text=2", "--id-field", "0", "--no-header"]

    out = await foundry(*common, "--name", "sst-default", *mapping, code=1)
    assert "INVALID_ARGUMENT" in out  # a comma-separated file with one column and a bad quote

    await foundry(*common, "--name", "sst", *mapping, "--delimiter", "\\t", "--quote", "'")
    assert await rows(stub, "sst") == sorted(
        [(i, text, label, "train") for i, label, text in SENTENCES], key=lambda row: row[1]
    )
    # no quoting at all: the " of r2 is plain text
    await foundry(*common, "--name", "sst-none", *mapping, "--delimiter", "tab", "--quote", "none")
    assert await rows(stub, "sst-none") == await rows(stub, "sst")
    # the same file and options by other names: one version
    again = await foundry(
        *common,
        "--name",
        "sst",
        "--delimiter",
        "tab",
        "--quote",
        "'",
        "--no-header",
        "--field",
        "id=0",
        "--field",
        "label=1",
        "--field",
        "text=2",
    )
    assert "identical version already stored" in again


async def test_a_latin1_file_needs_encoding_and_the_error_names_the_flag(
    stub: pb_grpc.IngestionServiceStub, foundry: Foundry, tmp_path: Path
) -> None:
    path = tmp_path / "questions.csv"
    texts = ["où est la crème brûlée ?", "qui a écrit « Les Misérables » ?", "how far is the moon ?"]
    path.write_bytes(("text,label\n" + "".join(f"{t},q{n}\n" for n, t in enumerate(texts))).encode("latin-1"))
    common = ["ingest", str(path), "--task", "classification", "--name", "trec"]

    out = await foundry(*common, code=1)
    assert "bad_encoding" in out and "--encoding" in out and "latin-1" in out, out
    dropped = await foundry(*common, "--policy", "drop-row")  # dropped rows: the hint names the flag
    assert "not valid utf-8" in dropped and "--encoding latin-1" in dropped, dropped

    await foundry(*common, "--encoding", "latin-1")
    assert sorted(text for _, text, _, _ in await rows(stub, "trec")) == sorted(texts)


async def test_a_recipe_with_its_source_section_and_flags_over_it(
    stub: pb_grpc.IngestionServiceStub, foundry: Foundry, tmp_path: Path
) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "source:\n"
        "  format: FORMAT_CSV\n"
        "  csv: {delimiter: ';', has_header: false, quote_char: \"'\"}\n"
        "  field_mapping: {label_field: '0', text_field: '1', split_field: '2'}\n"
        "validation: {policy: VALIDATION_POLICY_REJECT_FILE}\n"
        "split: {seed: 7}\n"
    )
    splits = ["train", "train", "train", "dev", "test"]
    semicolons = tmp_path / "reviews.txt"
    semicolons.write_text(
        "".join(f"{lab};{t};{s}\n" for (_, lab, t), s in zip(SENTENCES, splits, strict=True))
    )
    await foundry(
        "ingest", str(semicolons), "--task", "classification", "--name", "rev", "--recipe", str(recipe)
    )
    expected = sorted(
        [
            ("", t, lab, "validation" if s == "dev" else s)
            for (_, lab, t), s in zip(SENTENCES, splits, strict=True)
        ],
        key=lambda row: row[1],
    )
    assert [row[1:] for row in await rows(stub, "rev")] == [row[1:] for row in expected]

    # a TSV with a header: the flags override the recipe's delimiter, header, mapping and policy
    tsv = tmp_path / "reviews.tsv.txt"
    tsv.write_text(
        "sentiment\tsentence\tpart\n"
        + "".join(f"{lab}\t{t}\t{s}\n" for (_, lab, t), s in zip(SENTENCES, splits, strict=True))
        + "1\tone cell too many\ttrain\textra\n"
    )
    flags = ["--delimiter", "tab", "--header", "--field", "label=sentiment", "--field", "text=sentence"]
    out = await foundry(
        "ingest",
        str(tsv),
        "--task",
        "classification",
        "--name",
        "rev2",
        "--recipe",
        str(recipe),
        *flags,
        "--split-field",
        "part",
        "--policy",
        "drop-row",
    )
    assert "new version" in out
    assert [row[1:] for row in await rows(stub, "rev2")] == [row[1:] for row in expected]
    version = (
        await stub.GetDataset(pb.GetDatasetRequest(dataset=refs_pb2.DatasetRef(name="rev2")))
    ).dataset_version
    stored = json_format.MessageToDict(version.recipe)  # the source as sent, and the recipe
    source, ingest = stored["source"], stored["ingest"]
    assert source["format"] == "csv"
    assert source["csv"] | {"encoding": "-"} == {
        "delimiter": "\t",
        "has_header": True,
        "quote_char": "'",
        "encoding": "-",
        "quoting": True,
        "max_record_lines": 100,
        "last_column_takes_rest": False,
    }
    mapping = {k: v for k, v in source["field_mapping"].items() if k.endswith("_field") and v}
    assert mapping == {"label_field": "sentiment", "text_field": "sentence", "split_field": "part"}
    assert (ingest["validation"]["policy"], ingest["split"]["seed"]) == ("drop_row", 7)
    assert "dropped 1" in out or "wrong_column_count=1" in out, out

    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {csv: {delimiter_typo: x}}\n")
    out = await foundry(
        "ingest", str(tsv), "--task", "classification", "--name", "x", "--recipe", str(bad), code=1
    )
    assert "bad recipe" in out and "delimiter_typo" in out
