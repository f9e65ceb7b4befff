"""`python -m foundry.labeling`: settings → wire → serve."""

from __future__ import annotations

import grpc

from foundry.api.labeling.v1 import labeling_service_pb2_grpc
from foundry.labeling.core import LabelingCore
from foundry.labeling.modelwork import ModelWork
from foundry.labeling.predictor import InferencePredictor
from foundry.labeling.servicer import SERVICE, LabelingServicer
from foundry.labeling.settings import LabelingSettings
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName
from foundry.runtime.workpool import WorkPool


def build(settings: LabelingSettings) -> ServiceDefinition:
    store = ObjectStore.from_settings(settings)
    core = LabelingCore(store, rule_timeout_s=settings.labeling_rule_timeout_ms / 1000)
    predictor = InferencePredictor(settings, timeout_s=settings.labeling_inference_timeout_s)
    pool = WorkPool.from_settings(settings, ServiceName.LABELING.value)

    def register(server: grpc.aio.Server) -> None:
        labeling_service_pb2_grpc.add_LabelingServiceServicer_to_server(
            LabelingServicer(core, ModelWork(core, predictor), pool), server
        )

    return ServiceDefinition(
        workpool=pool,
        name=ServiceName.LABELING,
        register=register,
        grpc_services=(SERVICE.full_name,),
        startup=start_object_store(settings, store),
    )


if __name__ == "__main__":
    run_service(LabelingSettings, build)
