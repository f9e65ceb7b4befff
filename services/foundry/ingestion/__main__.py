"""`python -m foundry.ingestion`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc
from foundry.ingestion.core import IngestionCore
from foundry.ingestion.servicer import SERVICE, IngestionServicer
from foundry.ingestion.settings import IngestionSettings
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName
from foundry.runtime.workpool import WorkPool


def build(settings: IngestionSettings) -> ServiceDefinition:
    store = ObjectStore.from_settings(settings)
    core = IngestionCore(store, settings)
    pool = WorkPool.from_settings(settings, ServiceName.INGESTION.value)

    def register(server: grpc.aio.Server) -> None:
        ingestion_service_pb2_grpc.add_IngestionServiceServicer_to_server(
            IngestionServicer(core, pool), server
        )

    return ServiceDefinition(
        workpool=pool,
        name=ServiceName.INGESTION,
        register=register,
        grpc_services=(SERVICE.full_name,),
        startup=start_object_store(settings, store),
    )


if __name__ == "__main__":
    run_service(IngestionSettings, build)
