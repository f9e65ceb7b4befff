"""The augmentation service's RPCs. Thin: convert, call the core, convert back."""

from __future__ import annotations

from foundry.api.augmentation.v1 import augmentation_service_pb2, augmentation_service_pb2_grpc
from foundry.runtime.placeholder import placeholder_servicer

SERVICE = augmentation_service_pb2.DESCRIPTOR.services_by_name["AugmentationService"]


def build_servicer() -> augmentation_service_pb2_grpc.AugmentationServiceServicer:
    """Every RPC answers UNIMPLEMENTED until issue 6 lands."""
    return placeholder_servicer(augmentation_service_pb2_grpc.AugmentationServiceServicer, SERVICE, "issue 6")
