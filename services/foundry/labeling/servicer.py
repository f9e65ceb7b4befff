"""The labeling service's RPCs. Thin: convert, call the core (in a worker thread: it does
object-store and inference IO), convert back. Errors are domain errors, mapped by the interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import labeling_service_pb2_grpc as pb_grpc
from foundry.labeling import convert, convert_models
from foundry.labeling.core import LabelingCore
from foundry.labeling.modelwork import ModelWork
from foundry.labeling.upload import AnnotationUpload
from foundry.runtime import paging
from foundry.runtime.uploads import receive_upload
from foundry.runtime.workpool import WorkPool

SERVICE = pb.DESCRIPTOR.services_by_name["LabelingService"]

Context = grpc.aio.ServicerContext[object, object]


class LabelingServicer(pb_grpc.LabelingServiceServicer):
    def __init__(self, core: LabelingCore, work: ModelWork, pool: WorkPool) -> None:
        self.pool = pool
        self.projects = core.projects
        self.core = core
        self.work = work

    async def CreateProject(
        self, request: pb.CreateProjectRequest, context: Context
    ) -> pb.CreateProjectResponse:
        project = await self.pool.run(context, self.projects.create_project, convert.spec_from_pb(request))
        progress = await self.pool.run(context, self.projects.progress, project)
        return pb.CreateProjectResponse(project=convert.project_to_pb(project, progress))

    async def GetProject(self, request: pb.GetProjectRequest, context: Context) -> pb.GetProjectResponse:
        project = await self.pool.run(context, self.projects.project, request.project_id)
        progress = await self.pool.run(context, self.projects.progress, project)
        return pb.GetProjectResponse(project=convert.project_to_pb(project, progress))

    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: Context
    ) -> pb.ListProjectsResponse:
        projects = await self.pool.run(
            context, self.projects.list_projects, request.dataset.name, request.dataset.version_id
        )
        page, token = paging.page(projects, request.page_token, request.page_size)
        return pb.ListProjectsResponse(
            projects=[convert.project_to_pb(p) for p in page], next_page_token=token
        )

    async def NextTasks(self, request: pb.NextTasksRequest, context: Context) -> pb.NextTasksResponse:
        tasks = await self.pool.run(
            context,
            self.core.annotating.next_tasks,
            request.project_id,
            request.annotator,
            request.limit or 10,
            request.include_suggestions,
        )
        return convert.next_tasks_to_pb(tasks)

    async def SubmitAnnotations(
        self, request: pb.SubmitAnnotationsRequest, context: Context
    ) -> pb.SubmitAnnotationsResponse:
        annotations = [convert.annotation_from_pb(a) for a in request.annotations]
        outcome = await self.pool.run(context, self.core.annotating.submit, request.project_id, annotations)
        return convert.submit_to_pb(outcome)

    async def ImportAnnotations(
        self, request_iterator: AsyncIterator[pb.ImportAnnotationsRequest], context: Context
    ) -> pb.ImportAnnotationsResponse:
        def begin(first: pb.ImportAnnotationsRequest) -> AnnotationUpload:
            header = first.header
            request = convert.import_request_from_pb(header)
            return self.core.begin_import(request, header.size_bytes, header.sha256)

        outcome = await receive_upload(
            request_iterator,
            context,
            begin=begin,
            receive=lambda upload, request: upload.write(request.chunk),
            finish=AnnotationUpload.finish,
            what="an import",
            pool=self.pool,
        )
        return convert.import_to_pb(outcome)

    async def PreLabel(self, request: pb.PreLabelRequest, context: Context) -> pb.PreLabelResponse:
        outcome = await self.pool.run(
            context,
            self.work.prelabel,
            request.project_id,
            convert_models.model_from_pb(request.model, request.variant),
            list(request.item_ids),
        )
        return convert_models.prelabel_to_pb(outcome)

    async def Aggregate(self, request: pb.AggregateRequest, context: Context) -> pb.AggregateResponse:
        spec = convert.aggregate_spec_from_pb(request)
        self.core.aggregating.check(spec, request.page_size)  # before it takes a worker
        page = await self.pool.run(
            context,
            self.core.aggregating.aggregate_page,
            request.project_id,
            spec,
            request.page_token,
            request.page_size,
        )
        return convert.aggregation_page_to_pb(page)

    async def Agreement(self, request: pb.AgreementRequest, context: Context) -> pb.AgreementResponse:
        report = await self.pool.run(
            context,
            self.core.aggregating.agreement,
            request.project_id,
            convert.level_from_pb(request.level),
            convert.filter_from_pb(request.filter),
            convert.method_from_pb(request.aggregate_method),
        )
        return convert.agreement_to_pb(report)

    async def ApplyRules(self, request: pb.ApplyRulesRequest, context: Context) -> pb.ApplyRulesResponse:
        outcome = await self.pool.run(
            context,
            self.core.aggregating.apply_rules,
            request.project_id,
            [convert.rule_from_pb(r) for r in request.rules],
            request.store,
        )
        return convert.rules_to_pb(outcome)

    async def FindLabelIssues(
        self, request: pb.FindLabelIssuesRequest, context: Context
    ) -> pb.FindLabelIssuesResponse:
        spec = convert_models.issue_spec_from_pb(request)
        outcome = await self.pool.run(context, self.work.label_issues, request.project_id, spec)
        return convert_models.issues_to_pb(outcome)

    async def SelectForLabeling(
        self, request: pb.SelectForLabelingRequest, context: Context
    ) -> pb.SelectForLabelingResponse:
        spec = convert_models.select_spec_from_pb(request)
        outcome = await self.pool.run(context, self.work.select, request.project_id, spec)
        return convert_models.select_to_pb(outcome)

    async def ExportProject(
        self, request: pb.ExportProjectRequest, context: Context
    ) -> pb.ExportProjectResponse:
        spec = convert.export_spec_from_pb(request)
        outcome = await self.pool.run(context, self.core.exporting.export, request.project_id, spec)
        return convert.export_to_pb(outcome)
