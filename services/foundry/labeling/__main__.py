"""`python -m foundry.labeling`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.labeling.v1 import labeling_service_pb2_grpc
from foundry.labeling import servicer
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings


def build(settings: Settings) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        labeling_service_pb2_grpc.add_LabelingServiceServicer_to_server(servicer.build_servicer(), server)

    return ServiceDefinition(
        name=ServiceName.LABELING,
        register=register,
        grpc_services=(servicer.SERVICE.full_name,),
        startup=start_object_store(settings),
    )


if __name__ == "__main__":
    run_service(build)
