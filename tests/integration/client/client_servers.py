"""Small real servicers of the suite's own service interfaces, served by the runtime's
`FoundryServer` (auth and the domain-error → status interceptor included) on 127.0.0.1, for the
client tests. Each counts its calls and keeps the metadata of the last one.

`FakeInference.Predict` fails with the domain error named by `model.name` (the class name,
`Boom` for a plain bug, `Abort:CODE` for a status set by hand), succeeds after
`unavailable_first` UNAVAILABLE answers, or waits forever when the name is `wait`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from foundry.api.inference.v1 import inference_service_pb2 as ipb
from foundry.api.inference.v1 import inference_service_pb2_grpc as ipb_grpc
from foundry.api.training.v1 import training_service_pb2 as tpb
from foundry.api.training.v1 import training_service_pb2_grpc as tpb_grpc
from foundry.client import errors as client_errors
from foundry.runtime import errors
from foundry.runtime.errors import FieldViolation
from foundry.runtime.server import FoundryServer, ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings

#: the domain errors a test server raises by name: every class the client maps a status back to
ERROR_CLASSES = {cls.__name__: cls for cls in client_errors.ERROR_CLASSES.values()}
VIOLATIONS = [
    FieldViolation("tags", "I-PER follows O", line=12),
    FieldViolation("inputs[0].text", "empty"),
    FieldViolation("text", "too long", line=40),
    FieldViolation("model.name", "unknown"),
    FieldViolation("variant", "not served"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Calls:
    count: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    chunks: int = 0

    def seen(self, context: Any) -> None:
        self.count += 1
        self.metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}


class FakeInference(ipb_grpc.InferenceServiceServicer):
    def __init__(self, unavailable_first: int = 0) -> None:
        self.calls = Calls()
        self.unavailable_first = unavailable_first
        self.never = asyncio.Event()

    async def Predict(self, request: ipb.PredictRequest, context: Any) -> ipb.PredictResponse:
        self.calls.seen(context)
        name = request.model.name
        if self.calls.count <= self.unavailable_first:
            raise errors.UnavailableError("object store down", retry_after_s=0.01)
        if name == "wait":
            await self.never.wait()
        if name == "Boom":
            raise RuntimeError("a bug")
        if name.startswith("Abort:"):
            await context.abort(getattr(grpc.StatusCode, name.split(":", 1)[1]), "set by hand")
        if name in ERROR_CLASSES:
            raise ERROR_CLASSES[name](
                f"{name} happened",
                reason="SOMETHING_" + name.upper(),
                violations=VIOLATIONS,
                metadata={"model": "m1", "where": "test"},
                retry_after_s=1.5,
            )
        return ipb.PredictResponse(model=request.model)

    async def Generate(
        self, request: ipb.GenerateRequest, context: Any
    ) -> AsyncIterator[ipb.GenerateResponse]:
        self.calls.seen(context)
        if self.calls.count <= self.unavailable_first:
            raise errors.UnavailableError("not yet")
        yield ipb.GenerateResponse(text_delta="a")
        if request.prompt == "break":
            raise errors.UnavailableError("cut mid-stream")
        yield ipb.GenerateResponse(text_delta="b")


class FakeTraining(tpb_grpc.TrainingServiceServicer):
    """SubmitJob and ImportBaseModel always answer UNAVAILABLE (after reading the whole upload)."""

    def __init__(self) -> None:
        self.calls = Calls()

    async def SubmitJob(self, request: tpb.SubmitJobRequest, context: Any) -> tpb.SubmitJobResponse:
        self.calls.seen(context)
        raise errors.UnavailableError("executor down")

    async def ImportBaseModel(self, requests: Any, context: Any) -> tpb.ImportBaseModelResponse:
        self.calls.seen(context)
        async for _ in requests:
            self.calls.chunks += 1
        raise errors.UnavailableError("object store down")


def inference_server(settings: Settings, servicer: FakeInference) -> FoundryServer:
    def register(server: grpc.aio.Server) -> None:
        ipb_grpc.add_InferenceServiceServicer_to_server(servicer, server)

    name = ipb.DESCRIPTOR.services_by_name["InferenceService"].full_name
    return FoundryServer(settings, ServiceDefinition(ServiceName.INFERENCE, register, (name,)))


def training_server(settings: Settings, servicer: FakeTraining) -> FoundryServer:
    def register(server: grpc.aio.Server) -> None:
        tpb_grpc.add_TrainingServiceServicer_to_server(servicer, server)

    name = tpb.DESCRIPTOR.services_by_name["TrainingService"].full_name
    return FoundryServer(settings, ServiceDefinition(ServiceName.TRAINING, register, (name,)))
