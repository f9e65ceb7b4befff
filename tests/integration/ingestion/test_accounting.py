"""Every record of a malformed file is accounted for through the real ingestion service (grpc.aio
server, real S3 server): per file, rows read = rows kept + rows dropped, each drop with its
reason, the first ones with their lines (tests/fixtures/ingestion/malformed)."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from foundry.api.common.v1 import refs_pb2, task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as recipe_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server

MALFORMED = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "ingestion" / "malformed"
BY_INDEX = recipe_pb2.FieldMapping(label_field="0", text_field="1")
SENTENCE = recipe_pb2.FieldMapping(text_field="sentence")
DROP_ROW = recipe_pb2.ValidationOptions(policy=recipe_pb2.VALIDATION_POLICY_DROP_ROW)
#: de-duplication off, so that each case's drops are exactly the ones named
NO_DEDUP = recipe_pb2.IngestRecipe(
    validation=DROP_ROW, dedup=recipe_pb2.DedupOptions(exact=False, near=False)
)


def space(**options: object) -> recipe_pb2.CsvOptions:
    return recipe_pb2.CsvOptions(delimiter=" ", has_header=False, **options)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    file: str
    source: recipe_pb2.SourceSpec
    kept: int
    #: (line, reason) of each row dropped while reading or validating
    drops: list[tuple[int, str]] = field(default_factory=list)


CASES = {
    "space-delimited, no header": Case(
        "sentiment_space.txt",
        recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CSV, csv=space(), field_mapping=BY_INDEX),
        kept=1,
        drops=[(line, "wrong_column_count") for line in (1, 2, 5, 6)],
    ),
    "space-delimited, the last column takes the rest": Case(
        "sentiment_space.txt",
        recipe_pb2.SourceSpec(
            format=recipe_pb2.FORMAT_CSV, csv=space(last_column_takes_rest=True), field_mapping=BY_INDEX
        ),
        kept=5,
    ),
    "a stray quote in a TSV": Case(
        "stray_quote.tsv",
        recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_TSV, field_mapping=SENTENCE),
        kept=3,
        drops=[(3, "unclosed_quote")],
    ),
    "a stray quote in a TSV, quote: none": Case(
        "stray_quote.tsv",
        recipe_pb2.SourceSpec(
            format=recipe_pb2.FORMAT_TSV, field_mapping=SENTENCE, csv=recipe_pb2.CsvOptions(quoting=False)
        ),
        kept=4,
    ),
    "a stray quote closed later": Case(
        "stray_quote_closed.tsv",
        recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_TSV, field_mapping=SENTENCE),
        kept=4,
        drops=[(3, "malformed_csv")],
    ),
    "ragged rows (and an empty one, dropped by validation)": Case(
        "ragged.csv",
        recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CSV),
        kept=3,
        drops=[(3, "wrong_column_count"), (4, "wrong_column_count"), (7, "wrong_column_count")],
    ),
    "an unterminated quote at the end": Case(
        "unterminated_eof.csv",
        recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CSV),
        kept=2,
        drops=[(4, "unclosed_quote")],
    ),
    "Latin-1 read as UTF-8": Case(
        "questions_latin1.txt",
        recipe_pb2.SourceSpec(
            format=recipe_pb2.FORMAT_CSV, csv=space(last_column_takes_rest=True), field_mapping=BY_INDEX
        ),
        kept=2,
        drops=[(2, "bad_encoding"), (3, "bad_encoding")],
    ),
    "Latin-1 read as Latin-1": Case(
        "questions_latin1.txt",
        recipe_pb2.SourceSpec(
            format=recipe_pb2.FORMAT_CSV,
            csv=space(last_column_takes_rest=True, encoding="latin-1"),
            field_mapping=BY_INDEX,
        ),
        kept=4,
    ),
    "BOM and CRLF": Case("crlf_bom.csv", recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CSV), kept=3),
    "a quoted field over more than max_record_lines": Case(
        "long_quote.csv",
        recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_CSV, csv=recipe_pb2.CsvOptions(max_record_lines=3)),
        kept=5,
        drops=[(3, "unclosed_quote")],
    ),
    "blank lines (and a row of empty cells, dropped by validation)": Case(
        "blank_lines.tsv", recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_TSV), kept=3
    ),
}


@pytest.fixture
async def stub(settings: Settings) -> AsyncIterator[pb_grpc.IngestionServiceStub]:
    async with (
        ingestion_server(settings) as (server, _),
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        yield pb_grpc.IngestionServiceStub(channel)


async def upload(
    stub: pb_grpc.IngestionServiceStub,
    name: str,
    files: list[str],
    source: recipe_pb2.SourceSpec,
    recipe: recipe_pb2.IngestRecipe,
) -> pb.UploadResponse:
    header = pb.UploadHeader(
        dataset_name=name, task=task_pb2.TASK_TEXT_CLASSIFICATION, source=source, recipe=recipe
    )
    contents = [(MALFORMED / file).read_bytes() for file in files]
    for file, data in zip(files, contents, strict=True):
        header.files.add(file_name=file, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header)
        for index, data in enumerate(contents):
            yield pb.UploadRequest(file_start=pb.UploadFileStart(index=index))
            yield pb.UploadRequest(chunk=data)

    response: pb.UploadResponse = await stub.Upload(requests())
    return response


async def stored_per_file(stub: pb_grpc.IngestionServiceStub, name: str) -> Counter[str]:
    per_file: Counter[str] = Counter()
    async for part in stub.ReadExamples(pb.ReadExamplesRequest(dataset=refs_pb2.DatasetRef(name=name))):
        per_file.update(example.provenance.source for example in part.examples)
    return per_file


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
async def test_each_file_reconciles_through_the_service(
    stub: pb_grpc.IngestionServiceStub, case: Case
) -> None:
    response = await upload(stub, "malformed", [case.file], case.source, NO_DEDUP)
    (report,) = response.report.files
    assert report.file_name == case.file
    assert report.rows_read == report.rows_kept + report.rows_dropped
    assert report.rows_dropped == sum(report.drop_reasons.values())
    assert report.rows_kept == case.kept == response.dataset_version.counts.total
    assert await stored_per_file(stub, "malformed") == {case.file: case.kept}
    read_drops = [(v.line, v.reason) for v in report.violations if (v.line, v.reason) in case.drops]
    assert read_drops == case.drops
    assert Counter(reason for _, reason in case.drops) <= Counter(report.drop_reasons)
    assert list(response.dataset_version.statistics.files) == list(response.report.files)


async def test_several_files_and_deduplication_are_accounted_per_file(
    stub: pb_grpc.IngestionServiceStub,
) -> None:
    files = ["stray_quote.tsv", "stray_quote_closed.tsv", "stray_quote.tsv"]
    recipe = recipe_pb2.IngestRecipe(validation=DROP_ROW)
    source = recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_TSV, field_mapping=SENTENCE)
    response = await upload(stub, "several", files, source, recipe)
    reports = list(response.report.files)
    assert [r.file_name for r in reports] == files
    for report in reports:
        assert (
            report.rows_read == report.rows_kept + report.rows_dropped == 4 + (report.file_name != files[0])
        )
    assert [(v.line, v.reason) for v in reports[0].violations] == [(3, "unclosed_quote")]
    assert [(v.line, v.reason) for v in reports[1].violations] == [(3, "malformed_csv")]
    # the third file repeats the first: its three rows are exact duplicates of kept ones
    assert dict(reports[2].drop_reasons) == {"unclosed_quote": 1, "exact_duplicate": 3}
    assert sum(r.rows_kept for r in reports) == response.dataset_version.counts.total == 7
    stored = await stored_per_file(stub, "several")
    assert sum(stored.values()) == 7
