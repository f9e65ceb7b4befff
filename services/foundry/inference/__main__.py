"""`python -m foundry.inference`: settings → wire → serve."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc
from foundry.domain.bundle import Variant
from foundry.inference.core import InferenceCore
from foundry.inference.generation import GenerationBackend
from foundry.inference.oip import SERVICE as OIP_SERVICE
from foundry.inference.oip import OipServicer
from foundry.inference.readiness import HealthReadiness
from foundry.inference.servicer import SERVICE, InferenceServicer, add_to_server
from foundry.inference.settings import InferenceSettings
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName


def parse_model_list(value: str) -> list[tuple[str, str, Variant]]:
    """`NAME[@VERSION][:int8]`, comma-separated → (name, version id, variant)."""
    models = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        ref, _, variant = item.partition(":")
        name, _, version = ref.partition("@")
        try:
            models.append((name, version, Variant(variant or "fp32")))
        except ValueError as exc:
            raise InvalidArgumentError(
                "invalid model list",
                violations=[
                    FieldViolation("inference_preload_models", f"{item!r}: variant must be fp32 or int8")
                ],
            ) from exc
    return models


@dataclass(frozen=True)
class Wired:
    """The wired service and its core (tests look into the core)."""

    core: InferenceCore
    definition: ServiceDefinition


def build(settings: InferenceSettings) -> ServiceDefinition:
    """The inference service, ready for `serve()`."""
    return wire(settings).definition


def wire(settings: InferenceSettings) -> Wired:
    """The inference service: encoder models for Predict and the Open Inference Protocol, chat
    models (loaded into the generation backend) for Generate, each model's readiness on the
    health service."""
    store = ObjectStore.from_settings(settings)
    cache_dir = settings.inference_cache_dir or settings.cache_dir / "models"
    generation = GenerationBackend(
        store,
        cache_dir,
        max_batch_size=settings.generate_max_batch_size,
        max_new_tokens_limit=settings.generate_max_new_tokens,
        intra_op_threads=settings.inference_intra_op_threads or None,
    )
    readiness = HealthReadiness()
    core = InferenceCore(settings, store, readiness, generation=generation)
    preload = parse_model_list(settings.inference_preload_models)
    ensure_store = start_object_store(settings, store)

    def register(server: grpc.aio.Server) -> None:
        add_to_server(InferenceServicer(core), server)
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(OipServicer(core), server)

    async def startup() -> None:
        await ensure_store()
        for name, version, variant in preload:
            await core.load_model(name, version, variant)

    definition = ServiceDefinition(
        name=ServiceName.INFERENCE,
        register=register,
        grpc_services=(SERVICE.full_name, OIP_SERVICE.full_name),
        startup=startup,
        shutdown=core.close,
        bind_health=readiness.bind,
    )
    return Wired(core, definition)


if __name__ == "__main__":
    run_service(InferenceSettings, build)
