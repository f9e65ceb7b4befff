"""`python -m foundry.ingestion`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc
from foundry.ingestion import servicer
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings


def build(settings: Settings) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        ingestion_service_pb2_grpc.add_IngestionServiceServicer_to_server(servicer.build_servicer(), server)

    return ServiceDefinition(
        name=ServiceName.INGESTION,
        register=register,
        grpc_services=(servicer.SERVICE.full_name,),
        startup=start_object_store(settings),
    )


if __name__ == "__main__":
    run_service(build)
