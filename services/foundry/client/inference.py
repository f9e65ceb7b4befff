"""`InferenceClient`: loading models, predictions, and generation streamed as it decodes."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.api.inference.v1 import inference_service_pb2_grpc as pb_grpc
from foundry.client.calls import ServiceClient
from foundry.runtime.settings import ServiceName


class InferenceClient(ServiceClient):
    """The inference service. Every call is safe to repeat (LoadModel of a loaded model is a
    no-op), so all are retried on UNAVAILABLE; Generate only before its first delta. LoadModel
    downloads and warms a bundle and has no default deadline."""

    service = ServiceName.INFERENCE

    def _bind(self, channel: grpc.Channel) -> None:
        self._stub = pb_grpc.InferenceServiceStub(channel)

    def load_model(
        self, request: pb.LoadModelRequest, *, timeout_s: float | None = None
    ) -> pb.LoadModelResponse:
        return self._unary(self._stub.LoadModel, request, timeout_s=timeout_s, long=True)

    def unload_model(
        self, request: pb.UnloadModelRequest, *, timeout_s: float | None = None
    ) -> pb.UnloadModelResponse:
        return self._unary(self._stub.UnloadModel, request, timeout_s=timeout_s)

    def predict(self, request: pb.PredictRequest, *, timeout_s: float | None = None) -> pb.PredictResponse:
        return self._unary(self._stub.Predict, request, timeout_s=timeout_s)

    def list_models(
        self, request: pb.ListModelsRequest, *, timeout_s: float | None = None
    ) -> pb.ListModelsResponse:
        return self._unary(self._stub.ListModels, request, timeout_s=timeout_s)

    def generate(
        self, request: pb.GenerateRequest, *, timeout_s: float | None = None
    ) -> Iterator[pb.GenerateResponse]:
        """The reply's deltas as they are decoded; the last carries the finish reason and usage."""
        return self._stream(self._stub.Generate, request, timeout_s=timeout_s)
