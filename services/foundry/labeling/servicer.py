"""The labeling service's RPCs. Thin: convert, call the core (in a worker thread: it does
object-store and inference IO), convert back. Errors are domain errors, mapped by the interceptor."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import grpc

from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as pb_grpc
from foundry.labeling import convert
from foundry.labeling.core import LabelingCore
from foundry.labeling.modelwork import ModelWork
from foundry.runtime import paging
from foundry.runtime.convert import example_to_pb, manifest_to_pb
from foundry.runtime.errors import FieldViolation, InvalidArgumentError

SERVICE = pb.DESCRIPTOR.services_by_name["LabelingService"]
MAX_CHUNK_BYTES = 1024 * 1024
MAX_IMPORT_BYTES = 512 * 1024 * 1024
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000

Context = grpc.aio.ServicerContext[object, object]


def _bad(field: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, violations=[FieldViolation(field, message)])


class LabelingServicer(pb_grpc.LabelingServiceServicer):
    def __init__(self, core: LabelingCore, work: ModelWork) -> None:
        self.core = core
        self.work = work

    async def CreateProject(
        self, request: pb.CreateProjectRequest, context: Context
    ) -> pb.CreateProjectResponse:
        project = await asyncio.to_thread(self.core.create_project, convert.spec_from_pb(request))
        progress = await asyncio.to_thread(self.core.progress, project)
        return pb.CreateProjectResponse(project=convert.project_to_pb(project, progress))

    async def GetProject(self, request: pb.GetProjectRequest, context: Context) -> pb.GetProjectResponse:
        project = await asyncio.to_thread(self.core.project, request.project_id)
        progress = await asyncio.to_thread(self.core.progress, project)
        return pb.GetProjectResponse(project=convert.project_to_pb(project, progress))

    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: Context
    ) -> pb.ListProjectsResponse:
        projects = await asyncio.to_thread(
            self.core.list_projects, request.dataset.name, request.dataset.version_id
        )
        page, token = paging.page(projects, request.page_token, request.page_size)
        return pb.ListProjectsResponse(
            projects=[convert.project_to_pb(p) for p in page], next_page_token=token
        )

    async def NextTasks(self, request: pb.NextTasksRequest, context: Context) -> pb.NextTasksResponse:
        tasks, remaining = await asyncio.to_thread(
            self.core.next_tasks,
            request.project_id,
            request.annotator,
            request.limit or 10,
            request.include_suggestions,
        )
        out = pb.NextTasksResponse(remaining=remaining)
        for t in tasks:
            task = out.tasks.add(item_id=t.example.id, example=example_to_pb(t.example))
            task.suggestions.extend(convert.annotation_to_pb(a) for a in t.suggestions)
            if t.previous is not None:
                task.previous.CopyFrom(convert.annotation_to_pb(t.previous))
        return out

    async def SubmitAnnotations(
        self, request: pb.SubmitAnnotationsRequest, context: Context
    ) -> pb.SubmitAnnotationsResponse:
        annotations = [convert.annotation_from_pb(a) for a in request.annotations]
        stored, unchanged = await asyncio.to_thread(self.core.submit, request.project_id, annotations)
        return pb.SubmitAnnotationsResponse(stored=stored, unchanged=unchanged)

    async def ImportAnnotations(
        self, request_iterator: AsyncIterator[pb.ImportAnnotationsRequest], context: Context
    ) -> pb.ImportAnnotationsResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            raise _bad("header", "an import starts with its header")
        header = first.header
        if not 0 < header.size_bytes <= MAX_IMPORT_BYTES:
            raise _bad("header.size_bytes", f"size_bytes must be in (0, {MAX_IMPORT_BYTES}]")
        data = bytearray()
        async for request in request_iterator:
            if request.WhichOneof("part") != "chunk":
                raise _bad("header", "only the first message is a header")
            if len(request.chunk) > MAX_CHUNK_BYTES:
                raise _bad("chunk", f"chunks are at most {MAX_CHUNK_BYTES} bytes")
            data.extend(request.chunk)
            if len(data) > header.size_bytes:
                raise _bad("header.size_bytes", "the file is larger than declared")
        if len(data) != header.size_bytes:
            raise _bad("header.size_bytes", f"declared {header.size_bytes} bytes, received {len(data)}")
        if header.sha256 and hashlib.sha256(data).hexdigest() != header.sha256.lower():
            raise _bad("header.sha256", "the file's sha256 does not match")
        outcome = await asyncio.to_thread(
            self.core.import_annotations,
            header.project_id,
            header.annotator,
            convert.import_format_from_pb(header.format),
            bytes(data),
            convert.item_match_from_pb(header.match),
            convert.conll_from_pb(header.conll),
        )
        return convert.import_to_pb(outcome)

    async def PreLabel(self, request: pb.PreLabelRequest, context: Context) -> pb.PreLabelResponse:
        annotator, count, predictions = await asyncio.to_thread(
            self.work.prelabel,
            request.project_id,
            convert.model_from_pb(request.model, request.variant),
            list(request.item_ids),
        )
        response = pb.PreLabelResponse(annotator=annotator, items_labeled=count)
        response.model.name, response.model.version_id = predictions.name, predictions.version_id
        return response

    async def Aggregate(self, request: pb.AggregateRequest, context: Context) -> pb.AggregateResponse:
        size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        aggregation_id, _, offset = request.page_token.partition(":")
        if request.page_token:
            stored = await asyncio.to_thread(
                self.core.store.get_aggregation, request.project_id, aggregation_id
            )
            response = pb.AggregateResponse.FromString(bytes.fromhex(stored["response"]))
        else:
            aggregation_id, result = await asyncio.to_thread(
                self.core.aggregate,
                request.project_id,
                convert.method_from_pb(request.method),
                convert.level_from_pb(request.level),
                convert.filter_from_pb(request.filter),
                request.min_votes or 1,
                request.max_iterations if request.HasField("max_iterations") else 100,
                request.tolerance if request.HasField("tolerance") else 1e-6,
            )
            response = pb.AggregateResponse(
                aggregation_id=aggregation_id,
                method=convert.method_to_pb(result.method),
                level=convert.level_to_pb(result.level),
                items=len(result.items),
                iterations=result.iterations,
                converged=result.converged,
                annotators=[convert.reliability_to_pb(r) for r in result.annotators],
                aggregated_items=[convert.aggregated_to_pb(i) for i in result.items],
            )
            if len(result.items) > size:
                payload = {"response": response.SerializeToString().hex()}
                await asyncio.to_thread(
                    self.core.store.put_aggregation, request.project_id, aggregation_id, payload
                )
        start = paging.offset(offset)
        items = list(response.aggregated_items)
        del response.aggregated_items[:]
        response.aggregated_items.extend(items[start : start + size])
        response.next_page_token = f"{aggregation_id}:{start + size}" if start + size < len(items) else ""
        return response

    async def Agreement(self, request: pb.AgreementRequest, context: Context) -> pb.AgreementResponse:
        report = await asyncio.to_thread(
            self.core.agreement,
            request.project_id,
            convert.level_from_pb(request.level),
            convert.filter_from_pb(request.filter),
            convert.method_from_pb(request.aggregate_method),
        )
        return convert.agreement_to_pb(report)

    async def ApplyRules(self, request: pb.ApplyRulesRequest, context: Context) -> pb.ApplyRulesResponse:
        stats, covered, items, stored = await asyncio.to_thread(
            self.core.apply_rules,
            request.project_id,
            [convert.rule_from_pb(r) for r in request.rules],
            request.store,
        )
        return pb.ApplyRulesResponse(
            rules=[convert.rule_stats_to_pb(s) for s in stats],
            items_covered=covered,
            items=items,
            votes_stored=stored,
        )

    async def FindLabelIssues(
        self, request: pb.FindLabelIssuesRequest, context: Context
    ) -> pb.FindLabelIssuesResponse:
        which = request.WhichOneof("probabilities")
        issues, checked, noise, created = await asyncio.to_thread(
            self.work.label_issues,
            request.project_id,
            convert.given_from_pb(request.given),
            request.annotator,
            convert.model_from_pb(request.model) if which == "model" else None,
            convert.table_from_pb(request.table) if which == "table" else [],
            request.limit or 100,
            request.create_tasks,
        )
        return pb.FindLabelIssuesResponse(
            issues=[convert.issue_to_pb(i) for i in issues],
            items_checked=checked,
            estimated_noise_rate=noise,
            tasks_created=created,
        )

    async def SelectForLabeling(
        self, request: pb.SelectForLabelingRequest, context: Context
    ) -> pb.SelectForLabelingResponse:
        chosen, candidates = await asyncio.to_thread(
            self.work.select,
            request.project_id,
            convert.model_from_pb(request.model),
            request.unlabeled_only if request.HasField("unlabeled_only") else True,
            convert.strategy_from_pb(request.strategy),
            convert.reduction_from_pb(request.reduction),
            request.diversity_weight,
            request.seed,
            request.count,
            request.prioritize,
        )
        return pb.SelectForLabelingResponse(
            items=[pb.SelectedItem(item_id=i, score=s.score, uncertainty=s.uncertainty) for i, s in chosen],
            candidates=candidates,
        )

    async def ExportProject(
        self, request: pb.ExportProjectRequest, context: Context
    ) -> pb.ExportProjectResponse:
        outcome = await asyncio.to_thread(
            self.core.export,
            request.project_id,
            convert.method_from_pb(request.method),
            convert.level_from_pb(request.level),
            convert.filter_from_pb(request.filter),
            request.min_confidence,
            request.include_unlabeled,
            request.output_name,
        )
        return pb.ExportProjectResponse(
            dataset_version=manifest_to_pb(outcome.manifest),
            exported=outcome.exported,
            skipped_low_confidence=outcome.skipped_low_confidence,
            skipped_unlabeled=outcome.skipped_unlabeled,
        )
