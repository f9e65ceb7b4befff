"""pb ⇄ domain for the ingestion service."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import json_format

from foundry.api.common.v1 import dataset_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2, ingestion_service_pb2
from foundry.domain.formats import SourceSpec
from foundry.domain.steps import RowViolation, StepReport
from foundry.ingestion.core import IngestOutcome, IngestSpec, UploadFileSpec
from foundry.ingestion.options import IngestRecipe
from foundry.runtime.convert import manifest_to_pb, message_to_dataclass, split_from_pb, task_from_pb


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


def import_spec_from_pb(request: ingestion_service_pb2.ImportObjectRequest) -> IngestSpec:
    return IngestSpec(
        request.dataset_name,
        task_from_pb(request.task),
        source_from_pb(request.source),
        recipe_from_pb(request.recipe),
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
    )


def upload_response(outcome: IngestOutcome) -> ingestion_service_pb2.UploadResponse:
    return ingestion_service_pb2.UploadResponse(
        dataset_version=manifest_to_pb(outcome.manifest), report=outcome_to_report(outcome)
    )


def import_response(outcome: IngestOutcome) -> ingestion_service_pb2.ImportObjectResponse:
    return ingestion_service_pb2.ImportObjectResponse(
        dataset_version=manifest_to_pb(outcome.manifest), report=outcome_to_report(outcome)
    )
