"""The training service's RPCs. Thin: convert, call the core (in a worker thread: it does
object-store IO), convert back. Errors are domain errors, mapped by the interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict

import grpc

from foundry.api.common.v1 import retention_pb2
from foundry.api.training.v1 import training_service_pb2 as pb
from foundry.api.training.v1 import training_service_pb2_grpc as pb_grpc
from foundry.runtime import paging
from foundry.runtime.convert import corrupt_entries_to_pb, task_from_pb
from foundry.runtime.interceptors import caller
from foundry.runtime.listing import CorruptEntry
from foundry.runtime.uploads import receive_upload
from foundry.runtime.workpool import WorkPool
from foundry.training import convert
from foundry.training.baseimport import ImportSession
from foundry.training.core import TrainingCore

SERVICE = pb.DESCRIPTOR.services_by_name["TrainingService"]

Context = grpc.aio.ServicerContext[object, object]


class TrainingServicer(pb_grpc.TrainingServiceServicer):
    def __init__(self, core: TrainingCore, pool: WorkPool) -> None:
        self.pool = pool
        self.core = core

    async def SubmitJob(self, request: pb.SubmitJobRequest, context: Context) -> pb.SubmitJobResponse:
        spec = convert.jobspec_from_pb(request.spec)
        outcome = await self.pool.run(
            context, self.core.submit_job, request.request_id, spec, validate_only=request.validate_only
        )
        if outcome.job is None:  # validate_only
            return pb.SubmitJobResponse(job=convert.validated_spec_job(outcome.spec), created=False)
        return pb.SubmitJobResponse(job=convert.job_to_pb(outcome.job), created=outcome.created)

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        view = await self.pool.run(context, self.core.get_job, request.job_id)
        return pb.GetJobResponse(job=convert.job_to_pb(view))

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: Context
    ) -> AsyncIterator[pb.WatchJobResponse]:
        async for batch in self.core.watch(request.job_id, request.after_seq):
            for event in batch:
                yield pb.WatchJobResponse(event=convert.event_to_pb(event))

    async def CancelJob(self, request: pb.CancelJobRequest, context: Context) -> pb.CancelJobResponse:
        view = await self.pool.run(context, self.core.cancel, request.job_id, request.reason)
        return pb.CancelJobResponse(job=convert.job_to_pb(view))

    async def ListJobs(self, request: pb.ListJobsRequest, context: Context) -> pb.ListJobsResponse:
        states = [convert.job_state_from_pb(s) for s in request.states]
        views = await self.pool.run(context, self.core.list_jobs, states, request.model_name)
        page, token = paging.page(views, request.page_token, request.page_size)
        return pb.ListJobsResponse(jobs=[convert.job_to_pb(v) for v in page], next_page_token=token)

    async def GetModel(self, request: pb.GetModelRequest, context: Context) -> pb.GetModelResponse:
        manifest = await self.pool.run(
            context, self.core.get_model, request.model.name, request.model.version_id
        )
        return pb.GetModelResponse(model_version=convert.model_version_to_pb(manifest))

    async def ListModels(self, request: pb.ListModelsRequest, context: Context) -> pb.ListModelsResponse:
        task = task_from_pb(request.task) if request.task else None
        corrupt: list[CorruptEntry] = []
        manifests = await self.pool.run(
            context,
            self.core.list_models,
            request.name,
            task,
            include_rejected=request.include_rejected,
            corrupt=corrupt,
        )
        page, token = paging.page(manifests, request.page_token, request.page_size)
        return pb.ListModelsResponse(
            model_versions=[convert.model_version_to_pb(m) for m in page],
            next_page_token=token,
            corrupt=corrupt_entries_to_pb(corrupt, request.page_token),
        )

    async def ImportBaseModel(
        self, request_iterator: AsyncIterator[pb.ImportBaseModelRequest], context: Context
    ) -> pb.ImportBaseModelResponse:
        outcome = await receive_upload(
            request_iterator,
            context,
            begin=lambda first: self.core.begin_import(convert.import_header_from_pb(first.header)),
            receive=convert.receive_import_chunk,
            finish=ImportSession.finish,
            what="an import",
            pool=self.pool,
        )
        return pb.ImportBaseModelResponse(
            base_model=convert.base_model_to_pb(outcome.manifest), created=outcome.created
        )

    async def ListBaseModels(
        self, request: pb.ListBaseModelsRequest, context: Context
    ) -> pb.ListBaseModelsResponse:
        corrupt: list[CorruptEntry] = []
        manifests = await self.pool.run(context, self.core.list_base_models, request.name, corrupt=corrupt)
        page, token = paging.page(manifests, request.page_token, request.page_size)
        return pb.ListBaseModelsResponse(
            base_models=[convert.base_model_to_pb(m) for m in page],
            next_page_token=token,
            corrupt=corrupt_entries_to_pb(corrupt, request.page_token),
        )

    async def DeleteModelVersion(
        self, request: pb.DeleteModelVersionRequest, context: Context
    ) -> pb.DeleteModelVersionResponse:
        tombstone = await self.pool.run(
            context,
            self.core.delete_model,
            request.model.name,
            request.model.version_id,
            force=request.force,
            deleted_by=caller(context),
            reason=request.reason,
        )
        return pb.DeleteModelVersionResponse(tombstone=retention_pb2.Tombstone(**asdict(tombstone)))
