"""`python -m foundry.training`: settings → wire → serve.

At start-up, after the bucket is there, the executor reconciles: live workers of unfinished
jobs are re-attached, dead ones restarted from their checkpoints; then the core runs every unfinished
recipe search again (`foundry.training.search`)."""

from __future__ import annotations

import asyncio

import grpc

from foundry.api.training.v1 import training_service_pb2_grpc
from foundry.runtime.app import run_service, start_object_store
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import ServiceDefinition
from foundry.runtime.settings import ServiceName
from foundry.runtime.workpool import WorkPool
from foundry.training.core import TrainingCore
from foundry.training.executor import JobExecutor, LocalExecutor
from foundry.training.servicer import SERVICE, TrainingServicer
from foundry.training.settings import TrainingSettings


def build(settings: TrainingSettings, executor: JobExecutor | None = None) -> ServiceDefinition:
    """Wire the service; `executor` defaults to the one `training_executor` names."""
    store = ObjectStore.from_settings(settings)
    if executor is None and settings.training_executor == "kubernetes":
        from foundry.training.k8s.executor import KubernetesExecutor  # needs the `k8s` extra

        executor = KubernetesExecutor(settings, store)
    executor = executor or LocalExecutor(settings, store)
    core = TrainingCore(store, settings, executor)
    ensure_bucket = start_object_store(settings, store)
    pool = WorkPool.from_settings(settings, ServiceName.TRAINING.value)

    def register(server: grpc.aio.Server) -> None:
        training_service_pb2_grpc.add_TrainingServiceServicer_to_server(TrainingServicer(core, pool), server)

    async def startup() -> None:
        await ensure_bucket()
        await asyncio.to_thread(executor.reconcile)
        await asyncio.to_thread(core.resume_searches)

    async def shutdown() -> None:
        await asyncio.to_thread(core.close)  # searches stop following; the next start resumes them
        await asyncio.to_thread(executor.close)  # workers keep running; the next start re-attaches

    return ServiceDefinition(
        workpool=pool,
        name=ServiceName.TRAINING,
        register=register,
        grpc_services=(SERVICE.full_name,),
        startup=startup,
        shutdown=shutdown,
    )


if __name__ == "__main__":
    run_service(TrainingSettings, build)
