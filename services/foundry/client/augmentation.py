"""`AugmentationClient`: Augment, PreviewAugment, ListOperators."""

from __future__ import annotations

import grpc

from foundry.api.augmentation.v1 import augmentation_service_pb2 as pb
from foundry.api.augmentation.v1 import augmentation_service_pb2_grpc as pb_grpc
from foundry.client.calls import ServiceClient
from foundry.runtime.settings import ServiceName


class AugmentationClient(ServiceClient):
    """The augmentation service. Augment stores a content-addressed version (the same recipe on
    the same version returns the stored one), so it is retried on UNAVAILABLE like the reads;
    it runs over the whole dataset and has no default deadline."""

    service = ServiceName.AUGMENTATION

    def _bind(self, channel: grpc.Channel) -> None:
        self._stub = pb_grpc.AugmentationServiceStub(channel)

    def augment(self, request: pb.AugmentRequest, *, timeout_s: float | None = None) -> pb.AugmentResponse:
        return self._unary(self._stub.Augment, request, timeout_s=timeout_s, long=True)

    def preview_augment(
        self, request: pb.PreviewAugmentRequest, *, timeout_s: float | None = None
    ) -> pb.PreviewAugmentResponse:
        return self._unary(self._stub.PreviewAugment, request, timeout_s=timeout_s)

    def list_operators(
        self, request: pb.ListOperatorsRequest | None = None, *, timeout_s: float | None = None
    ) -> pb.ListOperatorsResponse:
        return self._unary(
            self._stub.ListOperators, request or pb.ListOperatorsRequest(), timeout_s=timeout_s
        )
