"""The training service's RPCs. Thin: convert, call the core, convert back."""

from __future__ import annotations

from foundry.api.training.v1 import training_service_pb2, training_service_pb2_grpc
from foundry.runtime.placeholder import placeholder_servicer

SERVICE = training_service_pb2.DESCRIPTOR.services_by_name["TrainingService"]


def build_servicer() -> training_service_pb2_grpc.TrainingServiceServicer:
    """Every RPC answers UNIMPLEMENTED until issue 4 lands."""
    return placeholder_servicer(training_service_pb2_grpc.TrainingServiceServicer, SERVICE, "issue 4")
