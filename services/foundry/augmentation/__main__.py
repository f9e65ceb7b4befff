"""`python -m foundry.augmentation`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.augmentation.v1 import augmentation_service_pb2_grpc
from foundry.augmentation.core import AugmentationCore
from foundry.augmentation.servicer import SERVICE, AugmentationServicer
from foundry.augmentation.settings import AugmentationSettings
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName
from foundry.runtime.workpool import WorkPool


def build(settings: AugmentationSettings) -> ServiceDefinition:
    store = ObjectStore.from_settings(settings)
    core = AugmentationCore(store, settings)
    pool = WorkPool.from_settings(settings, ServiceName.AUGMENTATION.value)

    def register(server: grpc.aio.Server) -> None:
        augmentation_service_pb2_grpc.add_AugmentationServiceServicer_to_server(
            AugmentationServicer(core, pool), server
        )

    return ServiceDefinition(
        workpool=pool,
        name=ServiceName.AUGMENTATION,
        register=register,
        grpc_services=(SERVICE.full_name,),
        startup=start_object_store(settings, store),
    )


if __name__ == "__main__":
    run_service(AugmentationSettings, build)
