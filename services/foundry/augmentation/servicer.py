"""The augmentation service's RPCs. Thin: convert, call the core (in a worker thread: it reads and
writes the object store and runs operators), convert back. Errors are domain errors, mapped by
the interceptor."""

from __future__ import annotations

import grpc

from foundry.api.augmentation.v1 import augmentation_service_pb2 as pb
from foundry.api.augmentation.v1 import augmentation_service_pb2_grpc as pb_grpc
from foundry.augmentation import convert
from foundry.augmentation.core import AugmentationCore
from foundry.runtime.convert import example_from_pb, manifest_to_pb, task_from_pb
from foundry.runtime.workpool import WorkPool

SERVICE = pb.DESCRIPTOR.services_by_name["AugmentationService"]

Context = grpc.aio.ServicerContext[object, object]


class AugmentationServicer(pb_grpc.AugmentationServiceServicer):
    def __init__(self, core: AugmentationCore, pool: WorkPool) -> None:
        self.pool = pool
        self.core = core

    async def Augment(self, request: pb.AugmentRequest, context: Context) -> pb.AugmentResponse:
        recipe = convert.recipe_from_pb(request.recipe)
        outcome = await self.pool.run(
            context,
            self.core.augment,
            request.dataset.name,
            request.dataset.version_id,
            recipe,
            request.output_name,
        )
        return pb.AugmentResponse(
            dataset_version=manifest_to_pb(outcome.manifest),
            steps=convert.step_reports_to_pb(outcome.result.reports),
            created=outcome.created,
        )

    async def PreviewAugment(
        self, request: pb.PreviewAugmentRequest, context: Context
    ) -> pb.PreviewAugmentResponse:
        recipe = convert.recipe_from_pb(request.recipe)
        inline = [example_from_pb(e) for e in request.examples]
        result = await self.pool.run(
            context,
            self.core.preview,
            recipe,
            name=request.dataset.name,
            version_id=request.dataset.version_id,
            example_ids=list(request.example_ids),
            examples=inline,
            task=task_from_pb(request.task) if inline else None,
            limit=request.limit,
        )
        return convert.preview_response(result)

    async def ListOperators(
        self, request: pb.ListOperatorsRequest, context: Context
    ) -> pb.ListOperatorsResponse:
        task = task_from_pb(request.task) if request.task else None
        operators = await self.pool.run(context, self.core.list_operators, task)
        return pb.ListOperatorsResponse(operators=[convert.operator_to_pb(o) for o in operators])
