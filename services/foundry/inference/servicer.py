"""The inference service's RPCs. Thin: convert, call the core, convert back.

A request that does not parse (invalid UTF-8 in a text) is INVALID_ARGUMENT naming the input
before it reaches these methods, as on every service (`foundry.runtime.decoding`).
`Generate` streams from a chat model loaded into the core's optional `GenerationBackend` (the
chat generation engine); without one it is UNIMPLEMENTED.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.api.inference.v1 import inference_service_pb2_grpc as pb_grpc
from foundry.domain.bundle import Variant
from foundry.inference import convert
from foundry.inference.core import InferenceCore
from foundry.inference.generation import convert as generation_convert

SERVICE = pb.DESCRIPTOR.services_by_name["InferenceService"]
Context = grpc.aio.ServicerContext[Any, Any]


def deadline_of(context: Context) -> float | None:
    """The caller's deadline as a `time.monotonic()` instant (None: no deadline)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class InferenceServicer(pb_grpc.InferenceServiceServicer):
    def __init__(self, core: InferenceCore) -> None:
        self.core = core

    async def LoadModel(self, request: pb.LoadModelRequest, context: Context) -> pb.LoadModelResponse:
        variant = convert.variant_from_pb(request.variant, default=Variant.FP32) or Variant.FP32
        entry = await self.core.load_model(
            request.model.name,
            request.model.version_id,
            variant,
            convert.load_options_from_pb(request.options),
        )
        return pb.LoadModelResponse(loaded_model=convert.loaded_model_to_pb(entry))

    async def UnloadModel(self, request: pb.UnloadModelRequest, context: Context) -> pb.UnloadModelResponse:
        variant = convert.variant_from_pb(request.variant, default=None)
        entries = await self.core.unload_model(request.model.name, request.model.version_id, variant)
        return pb.UnloadModelResponse(unloaded_models=[convert.loaded_model_to_pb(e) for e in entries])

    async def Predict(self, request: pb.PredictRequest, context: Context) -> pb.PredictResponse:
        result = await self.core.predict(
            request.model.name,
            request.model.version_id,
            convert.variant_from_pb(request.variant, default=None),
            convert.predict_inputs_from_pb(request),
            convert.predict_options_from_pb(request),
            deadline_of(context),
        )
        return convert.predict_response_to_pb(result)

    async def ListModels(self, request: pb.ListModelsRequest, context: Context) -> pb.ListModelsResponse:
        return pb.ListModelsResponse(
            loaded_models=[convert.loaded_model_to_pb(e) for e in self.core.list_models(request.name)]
        )

    async def Generate(  # type: ignore[override]
        self, request: pb.GenerateRequest, context: Context
    ) -> AsyncIterator[pb.GenerateResponse]:
        selector, generation_request = generation_convert.generate_request(request)
        pieces = self.core.generate(selector, generation_request, timeout_s=context.time_remaining())
        async for piece in pieces:
            yield generation_convert.generate_response(piece)


def add_to_server(servicer: InferenceServicer, server: grpc.aio.Server) -> None:
    """Register `servicer` (the generated registration; the runtime parses requests leniently)."""
    pb_grpc.add_InferenceServiceServicer_to_server(servicer, server)


__all__ = ["SERVICE", "InferenceServicer", "add_to_server", "deadline_of"]
