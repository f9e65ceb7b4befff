"""`python -m foundry.inference`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.inference.v1 import inference_service_pb2_grpc
from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc
from foundry.inference import servicer
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings


def build(settings: Settings) -> ServiceDefinition:
    def register(server: grpc.aio.Server) -> None:
        inference_service_pb2_grpc.add_InferenceServiceServicer_to_server(servicer.build_servicer(), server)
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            servicer.build_oip_servicer(), server
        )

    return ServiceDefinition(
        name=ServiceName.INFERENCE,
        register=register,
        grpc_services=(
            servicer.SERVICE.full_name,
            servicer.OIP_SERVICE.full_name,
        ),
        startup=start_object_store(settings),
    )


if __name__ == "__main__":
    run_service(build)
