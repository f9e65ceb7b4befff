"""Helpers of the labeling service tests: the typed stub, a started service, error details."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from foundry.api.labeling.v1 import labeling_service_pb2_grpc as pb_grpc
from foundry.labeling.__main__ import build
from foundry.labeling.settings import LabelingSettings
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings

if TYPE_CHECKING:
    Stub = pb_grpc.LabelingServiceAsyncStub
else:
    Stub = pb_grpc.LabelingServiceStub

Labeling = tuple[Stub, ObjectStore]


async def start_labeling(settings: Settings) -> FoundryServer:
    """The real labeling service (every interceptor) on a free port of 127.0.0.1; `settings` give
    the shared values (the labeling service's own keep their defaults)."""
    local = LabelingSettings(**{**settings.model_dump(), "grpc_port": 0, "metrics_port": 0})
    server = FoundryServer(local, build(local))
    await server.start()
    return server


def violations(err: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the error's `google.rpc.BadRequest` details."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    out: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(v.field for v in bad.field_violations)
    return out
