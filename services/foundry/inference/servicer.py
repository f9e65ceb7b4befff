"""The inference service's RPCs. Thin: convert, call the core, convert back.

Every method is registered with a lenient request parser (`wire.lenient`), so a request that
does not parse (invalid UTF-8 in a text) is INVALID_ARGUMENT naming the input, not UNKNOWN.
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
from foundry.inference.wire import Undecodable, decoded, lenient

SERVICE = pb.DESCRIPTOR.services_by_name["InferenceService"]
Context = grpc.aio.ServicerContext[Any, Any]


def deadline_of(context: Context) -> float | None:
    """The caller's deadline as a `time.monotonic()` instant (None: no deadline)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class InferenceServicer(pb_grpc.InferenceServiceServicer):
    def __init__(self, core: InferenceCore) -> None:
        self.core = core

    async def LoadModel(
        self, request: pb.LoadModelRequest | Undecodable, context: Context
    ) -> pb.LoadModelResponse:
        req = decoded(request)
        variant = convert.variant_from_pb(req.variant, default=Variant.FP32) or Variant.FP32
        entry = await self.core.load_model(
            req.model.name, req.model.version_id, variant, convert.load_options_from_pb(req.options)
        )
        return pb.LoadModelResponse(loaded_model=convert.loaded_model_to_pb(entry))

    async def UnloadModel(
        self, request: pb.UnloadModelRequest | Undecodable, context: Context
    ) -> pb.UnloadModelResponse:
        req = decoded(request)
        variant = convert.variant_from_pb(req.variant, default=None)
        entries = await self.core.unload_model(req.model.name, req.model.version_id, variant)
        return pb.UnloadModelResponse(unloaded_models=[convert.loaded_model_to_pb(e) for e in entries])

    async def Predict(self, request: pb.PredictRequest | Undecodable, context: Context) -> pb.PredictResponse:
        req = decoded(request)
        result = await self.core.predict(
            req.model.name,
            req.model.version_id,
            convert.variant_from_pb(req.variant, default=None),
            convert.predict_inputs_from_pb(req),
            convert.predict_options_from_pb(req),
            deadline_of(context),
        )
        return convert.predict_response_to_pb(result)

    async def ListModels(
        self, request: pb.ListModelsRequest | Undecodable, context: Context
    ) -> pb.ListModelsResponse:
        req = decoded(request)
        return pb.ListModelsResponse(
            loaded_models=[convert.loaded_model_to_pb(e) for e in self.core.list_models(req.name)]
        )

    async def Generate(  # type: ignore[override]
        self, request: pb.GenerateRequest | Undecodable, context: Context
    ) -> AsyncIterator[pb.GenerateResponse]:
        req = decoded(request)
        selector, generation_request = generation_convert.generate_request(req)
        pieces = self.core.generate(selector, generation_request, timeout_s=context.time_remaining())
        async for piece in pieces:
            yield generation_convert.generate_response(piece)


def add_to_server(servicer: InferenceServicer, server: grpc.aio.Server) -> None:
    """Register `servicer` like the generated `add_InferenceServiceServicer_to_server`, with
    lenient request parsers."""
    unary = grpc.unary_unary_rpc_method_handler
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "LoadModel": unary(
            servicer.LoadModel,
            request_deserializer=lenient(pb.LoadModelRequest),
            response_serializer=pb.LoadModelResponse.SerializeToString,
        ),
        "UnloadModel": unary(
            servicer.UnloadModel,
            request_deserializer=lenient(pb.UnloadModelRequest),
            response_serializer=pb.UnloadModelResponse.SerializeToString,
        ),
        "Predict": unary(
            servicer.Predict,
            request_deserializer=lenient(pb.PredictRequest),
            response_serializer=pb.PredictResponse.SerializeToString,
        ),
        "ListModels": unary(
            servicer.ListModels,
            request_deserializer=lenient(pb.ListModelsRequest),
            response_serializer=pb.ListModelsResponse.SerializeToString,
        ),
        "Generate": grpc.unary_stream_rpc_method_handler(
            servicer.Generate,
            request_deserializer=lenient(pb.GenerateRequest),
            response_serializer=pb.GenerateResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)


__all__ = ["SERVICE", "InferenceServicer", "add_to_server", "deadline_of"]
