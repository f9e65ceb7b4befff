"""Splits that come with the data, through the real ingestion service (grpc.aio server, S3
server): evaluation splits stored untouched, train decontaminated, leakage rows counted, example
ids unique within the version and the same for the same files."""

from __future__ import annotations

import hashlib
import json
import random
import string
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from foundry.api.common.v1 import example_pb2, refs_pb2, task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as recipe_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

TRAIN, VALIDATION, TEST = example_pb2.SPLIT_TRAIN, example_pb2.SPLIT_VALIDATION, example_pb2.SPLIT_TEST


def sentences(count: int, seed: int) -> list[str]:
    """Sentences of random made-up words: no two are near duplicates."""
    rng = random.Random(seed)
    return [
        " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8))) for _ in range(12))
        for _ in range(count)
    ]


T, V, E = sentences(20, 1), sentences(10, 2), sentences(10, 3)
CONFLICT = "this sentence is labelled both ways in the training file on purpose"

#: 30 train rows: 20 unique, 2 exact duplicates inside train, 3 exact and 1 near copy of test
#: rows, 2 copies of validation rows, and a label conflict (2 rows)
TRAIN_ROWS = (
    [(t, "pos" if i % 2 else "neg") for i, t in enumerate(T)]
    + [(T[0], "neg"), (T[1], "pos")]
    + [(E[5], "pos"), (E[6], "pos"), (E[7], "pos"), (E[8] + " !", "pos")]
    + [(V[1], "pos"), (V[2], "pos")]
    + [(CONFLICT, "pos"), (CONFLICT, "neg")]
)
#: 12 validation rows: 10 unique, an exact duplicate inside validation, a copy of test row 9
VALIDATION_ROWS = [(v, "pos") for v in V] + [(V[0], "pos"), (E[9], "pos")]
#: 12 test rows: 10 unique, an exact duplicate and a label conflict inside test
TEST_ROWS = [(e, "pos") for e in E] + [(E[1], "pos"), (E[2], "neg")]


def jsonl(rows: list[tuple[str, str]]) -> bytes:
    return "".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in rows).encode()


FILES = [
    ("train.jsonl", jsonl(TRAIN_ROWS), TRAIN),
    ("dev.jsonl", jsonl(VALIDATION_ROWS), VALIDATION),
    ("test.jsonl", jsonl(TEST_ROWS), TEST),
]


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[pb_grpc.IngestionServiceStub]:
    async with (
        ingestion_server(settings) as (server, _),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield pb_grpc.IngestionServiceStub(channel)


def requests(name: str, recipe: recipe_pb2.IngestRecipe | None = None) -> Iterator[pb.UploadRequest]:
    header = pb.UploadHeader(
        dataset_name=name,
        task=task_pb2.TASK_TEXT_CLASSIFICATION,
        source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_JSONL),
        recipe=recipe,
    )
    for file_name, data, split in FILES:
        header.files.add(
            file_name=file_name, split=split, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()
        )
    yield pb.UploadRequest(header=header)
    for index, (_, data, _) in enumerate(FILES):
        yield pb.UploadRequest(file_start=pb.UploadFileStart(index=index))
        yield pb.UploadRequest(chunk=data)


async def read_all(stub: pb_grpc.IngestionServiceStub, name: str) -> list[example_pb2.Example]:
    request = pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name=name), batch_size=50)
    return [example async for part in stub.ReadExamples(request) for example in part.examples]


def texts(rows: list[example_pb2.Example], split: int) -> list[tuple[str, str]]:
    return [(r.text, r.label) for r in rows if r.split == split]


def leaks(version: object) -> dict[str, tuple[int, int]]:
    names = {TRAIN: "train", VALIDATION: "validation", TEST: "test"}
    return {
        f"{names[leak.split_a]}~{names[leak.split_b]}": (leak.clusters, leak.rows)
        for leak in version.statistics.leakage  # type: ignore[attr-defined]
    }


async def test_defaults_keep_eval_splits_and_decontaminate_train(stub: pb_grpc.IngestionServiceStub) -> None:
    version = (await stub.Upload(requests("splits"))).dataset_version
    assert (version.counts.train, version.counts.validation, version.counts.test) == (22, 12, 12)
    rows = await read_all(stub, "splits")
    assert texts(rows, VALIDATION) == VALIDATION_ROWS  # every row, in file order
    assert texts(rows, TEST) == TEST_ROWS
    leaked = {E[5], E[6], E[7], E[8] + " !", V[1], V[2]}
    stored_train = texts(rows, TRAIN)
    assert not leaked & {text for text, _ in stored_train}
    assert (CONFLICT, "pos") in stored_train and (CONFLICT, "neg") in stored_train  # reported only
    dedup = next(s for s in version.statistics.steps if s.step == "dedup")
    assert dict(dedup.drop_reasons) == {"exact_duplicate": 2, "eval_duplicate": 6}
    duplicates = version.statistics.duplicates
    assert duplicates.eval_duplicates_removed == 6 and duplicates.eval_duplicates_kept == 3
    assert duplicates.label_conflict_groups == 2 and duplicates.label_conflict_rows_dropped == 0
    assert leaks(version) == {"test~validation": (1, 2)}
    ids = [r.id for r in rows]
    assert len(set(ids)) == len(ids) == 46


async def test_without_decontamination_every_leaking_row_is_counted(
    stub: pb_grpc.IngestionServiceStub,
) -> None:
    recipe = recipe_pb2.IngestRecipe(dedup=recipe_pb2.DedupOptions(decontaminate=False))
    version = (await stub.Upload(requests("leaky", recipe))).dataset_version
    assert (version.counts.train, version.counts.validation, version.counts.test) == (28, 12, 12)
    assert leaks(version) == {"test~train": (4, 8), "train~validation": (2, 4), "test~validation": (1, 2)}
    rows = await read_all(stub, "leaky")
    ids = [r.id for r in rows]
    assert len(set(ids)) == len(ids) == 52  # the same sentence in train and test: two ids
    by_text: dict[str, set[str]] = {}
    for row in rows:
        by_text.setdefault(row.text, set()).add(row.id)
    assert len(by_text[E[5]]) == 2

    # the same files again (another dataset, same recipe): the same ids, row for row
    again = await read_all(stub, (await stub.Upload(requests("leaky-again", recipe))).dataset_version.name)
    assert [(r.id, r.split, r.provenance.line) for r in again] == [
        (r.id, r.split, r.provenance.line) for r in rows
    ]


async def test_dedup_eval_splits_and_a_dropping_conflict_policy_are_options(
    stub: pb_grpc.IngestionServiceStub,
) -> None:
    recipe = recipe_pb2.IngestRecipe(
        dedup=recipe_pb2.DedupOptions(
            dedup_eval_splits=True, conflict_policy=recipe_pb2.CONFLICT_POLICY_KEEP_FIRST
        )
    )
    version = (await stub.Upload(requests("strict", recipe))).dataset_version
    # train: 30 - 2 exact - 6 eval copies - 1 conflict; validation: -1 exact; test: -1 exact, -1 conflict
    assert (version.counts.train, version.counts.validation, version.counts.test) == (21, 11, 10)
    assert leaks(version) == {"test~validation": (1, 2)}
