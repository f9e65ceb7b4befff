"""The ingestion service's RPCs. Thin: convert, call the core, convert back."""

from __future__ import annotations

from foundry.api.ingestion.v1 import ingestion_service_pb2, ingestion_service_pb2_grpc
from foundry.runtime.placeholder import placeholder_servicer

SERVICE = ingestion_service_pb2.DESCRIPTOR.services_by_name["IngestionService"]


def build_servicer() -> ingestion_service_pb2_grpc.IngestionServiceServicer:
    """Every RPC answers UNIMPLEMENTED until issue 3 lands."""
    return placeholder_servicer(ingestion_service_pb2_grpc.IngestionServiceServicer, SERVICE, "issue 3")
