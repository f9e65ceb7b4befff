"""The ingestion service's RPCs. Thin: convert, call the core (in a worker thread: it does file
and object-store IO), convert back. Errors are domain errors, mapped by the interceptor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.ingestion import convert
from foundry.ingestion.core import IngestionCore, IngestSpec
from foundry.ingestion.upload import UploadSession
from foundry.runtime import paging
from foundry.runtime.convert import (
    corrupt_entries_to_pb,
    example_to_pb,
    manifest_to_pb,
    split_from_pb,
    task_from_pb,
)
from foundry.runtime.interceptors import caller
from foundry.runtime.listing import CorruptEntry
from foundry.runtime.uploads import receive_upload
from foundry.runtime.workpool import WorkPool

SERVICE = pb.DESCRIPTOR.services_by_name["IngestionService"]
#: one ReadExamples message stays under 1 MiB
MAX_RESPONSE_BYTES = 1024 * 1024 - 64 * 1024

Context = grpc.aio.ServicerContext[object, object]


class IngestionServicer(pb_grpc.IngestionServiceServicer):
    def __init__(self, core: IngestionCore, pool: WorkPool) -> None:
        self.pool = pool
        self.core = core

    async def Upload(
        self, request_iterator: AsyncIterator[pb.UploadRequest], context: Context
    ) -> pb.UploadResponse:
        outcome = await receive_upload(
            request_iterator,
            context,
            begin=lambda first: self.core.begin_upload(convert.upload_spec_from_pb(first.header)),
            receive=convert.receive_upload_part,
            finish=UploadSession.finish,
            parts=("chunk", "file_start", "examples"),
            commit="commit",
            declared=convert.upload_declared,
            pool=self.pool,
        )
        return convert.upload_response(outcome)

    async def ImportObject(
        self, request: pb.ImportObjectRequest, context: Context
    ) -> pb.ImportObjectResponse:
        spec: IngestSpec = convert.import_spec_from_pb(request)
        outcome = await self.pool.run(
            context,
            self.core.import_object,
            spec,
            request.object.bucket,
            request.object.key,
            request.sha256.lower(),
        )
        return convert.import_response(outcome)

    async def GetDataset(self, request: pb.GetDatasetRequest, context: Context) -> pb.GetDatasetResponse:
        manifest = await self.pool.run(
            context, self.core.get, request.dataset.name, request.dataset.version_id
        )
        deleted = await self.pool.run(context, self.core.deleted_parents, manifest)
        return pb.GetDatasetResponse(
            dataset_version=manifest_to_pb(manifest),
            deleted_parents=[convert.tombstone_to_pb(t) for t in deleted],
        )

    async def ListDatasets(
        self, request: pb.ListDatasetsRequest, context: Context
    ) -> pb.ListDatasetsResponse:
        task = task_from_pb(request.task) if request.task else None
        corrupt: list[CorruptEntry] = []
        manifests = await self.pool.run(context, self.core.list_versions, request.name, task, corrupt=corrupt)
        page, token = paging.page(manifests, request.page_token, request.page_size)
        full = request.view == pb.DATASET_VIEW_FULL
        return pb.ListDatasetsResponse(
            dataset_versions=[manifest_to_pb(m, full=full) for m in page],
            next_page_token=token,
            corrupt=corrupt_entries_to_pb(corrupt, request.page_token),
        )

    async def ReadExamples(
        self, request: pb.ReadExamplesRequest, context: Context
    ) -> AsyncIterator[pb.ReadExamplesResponse]:
        splits = [split_from_pb(s) for s in request.splits]
        manifest = await self.pool.run(
            context, self.core.get, request.dataset.name, request.dataset.version_id
        )
        batch_size = self.core.read_batch_size(request.batch_size)
        batches = self.core.read(manifest.name, manifest.version_id, splits, request.offset, request.limit)
        while (item := await self.pool.run(context, next, batches, None)) is not None:
            offset, examples = item
            response = pb.ReadExamplesResponse(offset=offset, version_id=manifest.version_id)
            for example in examples:
                message = example_to_pb(example)
                full = len(response.examples) >= batch_size
                if full or response.ByteSize() + message.ByteSize() > MAX_RESPONSE_BYTES:
                    yield response
                    response = pb.ReadExamplesResponse(offset=offset, version_id=manifest.version_id)
                response.examples.append(message)
                offset += 1
            if response.examples:
                yield response

    async def Preview(self, request: pb.PreviewRequest, context: Context) -> pb.PreviewResponse:
        sample = convert.preview_sample_from_pb(request)
        spec = convert.preview_spec_from_pb(request)
        outcome = await self.pool.run(context, self.core.preview, spec, sample, request.limit or 20)
        return convert.preview_to_pb(outcome, request.source.format)

    async def DeleteDatasetVersion(
        self, request: pb.DeleteDatasetVersionRequest, context: Context
    ) -> pb.DeleteDatasetVersionResponse:
        tombstone = await self.pool.run(
            context,
            self.core.delete_version,
            request.dataset.name,
            request.dataset.version_id,
            force=request.force,
            deleted_by=caller(context),
            reason=request.reason,
        )
        return pb.DeleteDatasetVersionResponse(tombstone=convert.tombstone_to_pb(tombstone))

    async def EraseSubject(
        self, request: pb.EraseSubjectRequest, context: Context
    ) -> pb.EraseSubjectResponse:
        log = await self.pool.run(
            context,
            self.core.erase_subject,
            convert.pii_type_from_pb(request.pii_type),
            request.value,
            request.pseudonym,
            requested_by=caller(context),
            reason=request.reason,
            dry_run=request.dry_run,
        )
        return convert.erasure_to_pb(log)

    async def CollectGarbage(
        self, request: pb.CollectGarbageRequest, context: Context
    ) -> pb.CollectGarbageResponse:
        grace_s = request.grace_s if request.HasField("grace_s") else None
        report = await self.pool.run(context, self.core.collect_garbage, apply=request.apply, grace_s=grace_s)
        return convert.gc_to_pb(report)
