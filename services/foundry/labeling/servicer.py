"""The labeling service's RPCs. Thin: convert, call the core, convert back."""

from __future__ import annotations

from foundry.api.labeling.v1 import labeling_service_pb2, labeling_service_pb2_grpc
from foundry.runtime.placeholder import placeholder_servicer

SERVICE = labeling_service_pb2.DESCRIPTOR.services_by_name["LabelingService"]


def build_servicer() -> labeling_service_pb2_grpc.LabelingServiceServicer:
    """Every RPC answers UNIMPLEMENTED until issue 7 lands."""
    return placeholder_servicer(labeling_service_pb2_grpc.LabelingServiceServicer, SERVICE, "issue 7")
