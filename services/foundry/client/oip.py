"""`OpenInferenceClient`: the Open Inference Protocol (KServe v2, `inference.GRPCInferenceService`)
that the inference service serves beside its own API, for callers that speak tensors."""

from __future__ import annotations

import grpc

from foundry.api.inference.v2 import grpc_predict_v2_pb2 as pb
from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc as pb_grpc
from foundry.client.calls import ServiceClient
from foundry.runtime.settings import ServiceName


class OpenInferenceClient(ServiceClient):
    """OIP v2 on the inference service's address; every call is a read or a pure function."""

    service = ServiceName.INFERENCE

    def _bind(self, channel: grpc.Channel) -> None:
        self._stub = pb_grpc.GRPCInferenceServiceStub(channel)

    def server_live(self) -> bool:
        return self._unary(self._stub.ServerLive, pb.ServerLiveRequest(), timeout_s=None).live

    def server_ready(self) -> bool:
        return self._unary(self._stub.ServerReady, pb.ServerReadyRequest(), timeout_s=None).ready

    def model_ready(self, name: str, version: str = "") -> bool:
        request = pb.ModelReadyRequest(name=name, version=version)
        return self._unary(self._stub.ModelReady, request, timeout_s=None).ready

    def model_metadata(
        self, request: pb.ModelMetadataRequest, *, timeout_s: float | None = None
    ) -> pb.ModelMetadataResponse:
        return self._unary(self._stub.ModelMetadata, request, timeout_s=timeout_s)

    def model_infer(
        self, request: pb.ModelInferRequest, *, timeout_s: float | None = None
    ) -> pb.ModelInferResponse:
        return self._unary(self._stub.ModelInfer, request, timeout_s=timeout_s)
