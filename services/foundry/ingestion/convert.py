"""pb ⇄ domain for the ingestion service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from google.protobuf import json_format

from foundry.api.common.v1 import dataset_pb2, retention_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2, ingestion_service_pb2
from foundry.domain.formats import SourceSpec
from foundry.domain.retention.gc import GcReport
from foundry.domain.retention.tombstones import Tombstone
from foundry.domain.steps import RowViolation, StepReport
from foundry.ingestion.accounting import FileAccount
from foundry.ingestion.core import IngestOutcome, IngestSpec, PreviewOutcome
from foundry.ingestion.erasure import ErasureLog
from foundry.ingestion.options import IngestRecipe, PiiType
from foundry.ingestion.upload import UploadFileSpec, UploadSession
from foundry.runtime.convert import (
    example_from_pb,
    example_to_pb,
    manifest_to_pb,
    message_to_dataclass,
    split_from_pb,
    task_from_pb,
)
from foundry.runtime.errors import FieldViolation, InvalidArgumentError


def source_from_pb(pb: ingest_recipe_pb2.SourceSpec) -> SourceSpec:
    return message_to_dataclass(pb, SourceSpec)


def recipe_from_pb(pb: ingest_recipe_pb2.IngestRecipe) -> IngestRecipe:
    return message_to_dataclass(pb, IngestRecipe)


def upload_spec_from_pb(header: ingestion_service_pb2.UploadHeader) -> IngestSpec:
    source = source_from_pb(header.source)
    files = tuple(
        UploadFileSpec(f.file_name, split_from_pb(f.split), f.size_bytes, f.sha256.lower())
        for f in header.files
    )
    single = UploadFileSpec(source.file_name, source.default_split, header.size_bytes, header.sha256.lower())
    return IngestSpec(
        header.dataset_name,
        task_from_pb(header.task, "header.task"),
        source,
        recipe_from_pb(header.recipe),
        files,
        single=None if files else single,
    )


def upload_declared(first: ingestion_service_pb2.UploadRequest) -> bool:
    """Whether an Upload's header declares the size and sha256 of every file (then the session
    verifies the bytes against them, and the stream needs no final commit message)."""
    header = first.header
    if header.source.format == ingest_recipe_pb2.FORMAT_EXAMPLES:
        return False
    if header.files:
        return all(f.size_bytes > 0 and f.sha256 for f in header.files)
    return header.size_bytes > 0 and bool(header.sha256)


def receive_upload_part(session: UploadSession, request: ingestion_service_pb2.UploadRequest) -> None:
    """One Upload message after the header, handed to the session: a chunk of the current file,
    the start of the next declared file, or a batch of examples."""
    part = request.WhichOneof("part")
    if part == "chunk":
        session.write(request.chunk)
    elif part == "file_start":
        session.start_file(request.file_start.index)
    else:
        session.add_examples([example_from_pb(e) for e in request.examples.examples])


def import_spec_from_pb(request: ingestion_service_pb2.ImportObjectRequest) -> IngestSpec:
    return IngestSpec(
        request.dataset_name,
        task_from_pb(request.task),
        source_from_pb(request.source),
        recipe_from_pb(request.recipe),
    )


def preview_spec_from_pb(request: ingestion_service_pb2.PreviewRequest) -> IngestSpec:
    return IngestSpec(
        "preview",
        task_from_pb(request.task),
        source_from_pb(request.source),
        recipe_from_pb(request.recipe),
    )


def preview_sample_from_pb(request: ingestion_service_pb2.PreviewRequest) -> bytes:
    if request.WhichOneof("sample") != "data":
        raise InvalidArgumentError(
            "preview takes its sample inline", violations=[FieldViolation("data", "required")]
        )
    return request.data


def preview_to_pb(outcome: PreviewOutcome, source_format: int) -> ingestion_service_pb2.PreviewResponse:
    return ingestion_service_pb2.PreviewResponse(
        examples=[example_to_pb(e) for e in outcome.examples],
        steps=step_reports_to_pb(outcome.reports),
        violations=[violation_to_pb(v) for v in outcome.violations],
        format=source_format,  # type: ignore[arg-type]
    )


def violation_to_pb(violation: RowViolation) -> dataset_pb2.RowViolation:
    return dataset_pb2.RowViolation(
        line=violation.line or 0,
        field=violation.field,
        reason=violation.reason,
        description=violation.description,
        example_id=violation.example_id,
    )


def step_reports_to_pb(reports: Sequence[StepReport]) -> list[dataset_pb2.StepReport]:
    out = []
    for report in reports:
        pb = dataset_pb2.StepReport()
        data = report.to_dict()
        data["violations"] = [{k: v for k, v in d.items() if v is not None} for d in data["violations"]]
        json_format.ParseDict(data, pb)
        out.append(pb)
    return out


def outcome_to_report(outcome: IngestOutcome) -> ingestion_service_pb2.IngestReport:
    return ingestion_service_pb2.IngestReport(
        steps=step_reports_to_pb(outcome.reports),
        violations=[violation_to_pb(v) for r in outcome.reports for v in r.violations],
        created=outcome.created,
        bytes_read=outcome.bytes_read,
        wall_time_s=outcome.wall_time_s,
        files=[file_report_to_pb(account) for account in outcome.files],
    )


def file_report_to_pb(account: FileAccount) -> dataset_pb2.SourceFileReport:
    pb = dataset_pb2.SourceFileReport()
    data = account.to_dict()
    data["violations"] = [{k: v for k, v in d.items() if v is not None} for d in data["violations"]]
    json_format.ParseDict(data, pb)
    return pb


def upload_response(outcome: IngestOutcome) -> ingestion_service_pb2.UploadResponse:
    return ingestion_service_pb2.UploadResponse(
        dataset_version=manifest_to_pb(outcome.manifest), report=outcome_to_report(outcome)
    )


def import_response(outcome: IngestOutcome) -> ingestion_service_pb2.ImportObjectResponse:
    return ingestion_service_pb2.ImportObjectResponse(
        dataset_version=manifest_to_pb(outcome.manifest), report=outcome_to_report(outcome)
    )


def tombstone_to_pb(tombstone: Tombstone) -> retention_pb2.Tombstone:
    return retention_pb2.Tombstone(**asdict(tombstone))


def pii_type_from_pb(value: ingest_recipe_pb2.PiiType.ValueType) -> PiiType | None:
    """The PiiType of a `foundry.ingestion.v1.PiiType` value (None for UNSPECIFIED)."""
    if not value:
        return None
    try:
        return PiiType[ingest_recipe_pb2.PiiType.Name(value).removeprefix("PII_TYPE_")]
    except (KeyError, ValueError) as exc:
        raise InvalidArgumentError(
            f"unknown pii_type {value}", violations=[FieldViolation("pii_type", "unknown value")]
        ) from exc


def erasure_to_pb(log: ErasureLog) -> ingestion_service_pb2.EraseSubjectResponse:
    return ingestion_service_pb2.EraseSubjectResponse(
        erasure_id=log.erasure_id,
        versions=[
            ingestion_service_pb2.ErasedVersion(
                old_version=v.old, new_version=v.new, examples_removed=v.examples_removed
            )
            for v in log.versions
        ],
        examples_removed=log.examples_removed,
        versions_scanned=log.versions_scanned,
        unreadable_versions=log.unreadable_versions,
        models_trained_on_erased=log.models_trained_on_erased,
        dry_run=log.dry_run,
        erased_at=log.erased_at,
    )


def gc_to_pb(report: GcReport) -> ingestion_service_pb2.CollectGarbageResponse:
    return ingestion_service_pb2.CollectGarbageResponse(**asdict(report))
