"""The ingestion service's RPCs. Thin: convert, call the core (in a worker thread: it does file
and object-store IO), convert back. Errors are domain errors, mapped by the interceptor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc

from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.ingestion import convert
from foundry.ingestion.core import IngestionCore, IngestSpec
from foundry.runtime import paging
from foundry.runtime.convert import (
    example_from_pb,
    example_to_pb,
    manifest_to_pb,
    split_from_pb,
    task_from_pb,
)
from foundry.runtime.errors import FieldViolation, InvalidArgumentError

SERVICE = pb.DESCRIPTOR.services_by_name["IngestionService"]
#: one ReadExamples message stays under 1 MiB
MAX_RESPONSE_BYTES = 1024 * 1024 - 64 * 1024
DEFAULT_READ_BATCH = 256
MAX_PREVIEW_BYTES = 1024 * 1024

Context = grpc.aio.ServicerContext[object, object]


class IngestionServicer(pb_grpc.IngestionServiceServicer):
    def __init__(self, core: IngestionCore) -> None:
        self.core = core

    async def Upload(
        self, request_iterator: AsyncIterator[pb.UploadRequest], context: Context
    ) -> pb.UploadResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgumentError(
                "an upload starts with its header", violations=[FieldViolation("header", "first message")]
            )
        # not in a thread: a cancellation while it ran would leave its scratch folder behind
        session = self.core.begin_upload(convert.upload_spec_from_pb(first.header))

        def drop_scratch(_context: Context) -> None:  # however the RPC ends, its scratch goes
            session.abort()

        context.add_done_callback(drop_scratch)  # type: ignore[arg-type]  # the stubs type it as a class
        try:
            async for request in request_iterator:
                part = request.WhichOneof("part")
                if part == "chunk":
                    session.write(request.chunk)
                elif part == "file_start":
                    session.start_file(request.file_start.index)
                elif part == "examples":
                    session.add_examples([example_from_pb(e) for e in request.examples.examples])
                else:
                    raise InvalidArgumentError(
                        "only the first message is a header",
                        violations=[FieldViolation("header", "repeated")],
                    )
        except BaseException:
            session.abort()  # the stream broke off or was bad: nothing is stored
            raise
        outcome = await asyncio.to_thread(session.finish)
        return convert.upload_response(outcome)

    async def ImportObject(
        self, request: pb.ImportObjectRequest, context: Context
    ) -> pb.ImportObjectResponse:
        spec: IngestSpec = convert.import_spec_from_pb(request)
        outcome = await asyncio.to_thread(
            self.core.import_object, spec, request.object.bucket, request.object.key, request.sha256.lower()
        )
        return convert.import_response(outcome)

    async def GetDataset(self, request: pb.GetDatasetRequest, context: Context) -> pb.GetDatasetResponse:
        manifest = await asyncio.to_thread(self.core.get, request.dataset.name, request.dataset.version_id)
        return pb.GetDatasetResponse(dataset_version=manifest_to_pb(manifest))

    async def ListDatasets(
        self, request: pb.ListDatasetsRequest, context: Context
    ) -> pb.ListDatasetsResponse:
        task = task_from_pb(request.task) if request.task else None
        manifests = await asyncio.to_thread(self.core.list_versions, request.name, task)
        page, token = paging.page(manifests, request.page_token, request.page_size)
        full = request.view == pb.DATASET_VIEW_FULL
        return pb.ListDatasetsResponse(
            dataset_versions=[manifest_to_pb(m, full=full) for m in page], next_page_token=token
        )

    async def ReadExamples(
        self, request: pb.ReadExamplesRequest, context: Context
    ) -> AsyncIterator[pb.ReadExamplesResponse]:
        splits = [split_from_pb(s) for s in request.splits]
        manifest = await asyncio.to_thread(self.core.get, request.dataset.name, request.dataset.version_id)
        batch_size = request.batch_size or DEFAULT_READ_BATCH
        batches = self.core.read(manifest.name, manifest.version_id, splits, request.offset, request.limit)
        while (item := await asyncio.to_thread(next, batches, None)) is not None:
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
        if request.WhichOneof("sample") != "data":
            raise InvalidArgumentError(
                "preview takes its sample inline", violations=[FieldViolation("data", "required")]
            )
        if len(request.data) > MAX_PREVIEW_BYTES:
            raise InvalidArgumentError(
                f"preview samples are at most {MAX_PREVIEW_BYTES} bytes",
                violations=[FieldViolation("data", "too large")],
            )
        spec = IngestSpec(
            "preview",
            task_from_pb(request.task),
            convert.source_from_pb(request.source),
            convert.recipe_from_pb(request.recipe),
        )
        examples, result = await asyncio.to_thread(self.core.preview, spec, request.data, request.limit or 20)
        return pb.PreviewResponse(
            examples=[example_to_pb(e) for e in examples],
            steps=convert.step_reports_to_pb(result.reports),
            violations=[convert.violation_to_pb(v) for v in result.violations],
            format=request.source.format,
        )
