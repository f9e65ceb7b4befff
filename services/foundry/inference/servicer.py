"""The inference service's RPCs. Thin: convert, call the core, convert back."""

from __future__ import annotations

from foundry.api.inference.v1 import inference_service_pb2, inference_service_pb2_grpc
from foundry.api.inference.v2 import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
from foundry.runtime.placeholder import placeholder_servicer

SERVICE = inference_service_pb2.DESCRIPTOR.services_by_name["InferenceService"]


def build_servicer() -> inference_service_pb2_grpc.InferenceServiceServicer:
    """Every RPC answers UNIMPLEMENTED until issue 5 lands."""
    return placeholder_servicer(inference_service_pb2_grpc.InferenceServiceServicer, SERVICE, "issue 5")


OIP_SERVICE = grpc_predict_v2_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]


def build_oip_servicer() -> grpc_predict_v2_pb2_grpc.GRPCInferenceServiceServicer:
    """The Open Inference Protocol v2; UNIMPLEMENTED until issue 5 lands."""
    return placeholder_servicer(grpc_predict_v2_pb2_grpc.GRPCInferenceServiceServicer, OIP_SERVICE, "issue 5")
