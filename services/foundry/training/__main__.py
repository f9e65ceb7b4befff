"""`python -m foundry.training`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.training.v1 import training_service_pb2_grpc
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings
from foundry.training import servicer


def build(settings: Settings) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        training_service_pb2_grpc.add_TrainingServiceServicer_to_server(servicer.build_servicer(), server)

    return ServiceDefinition(
        name=ServiceName.TRAINING,
        register=register,
        grpc_services=(servicer.SERVICE.full_name,),
        startup=start_object_store(settings),
    )


if __name__ == "__main__":
    run_service(build)
