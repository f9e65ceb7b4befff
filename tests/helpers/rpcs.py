"""Every RPC of every service, read from the generated descriptors in `foundry.api` (so a new
proto's RPCs are here without anyone listing them)."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import foundry.api


@dataclass(frozen=True)
class Rpc:
    service: str  # full name, "foundry.ingestion.v1.IngestionService"
    method: str
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"

    def __str__(self) -> str:
        return f"{self.service.rsplit('.', 1)[-1]}.{self.method}"


def all_rpcs() -> list[Rpc]:
    found = []
    for info in pkgutil.walk_packages(foundry.api.__path__, "foundry.api."):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(info.name)
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                found.append(Rpc(service.full_name, m.name, m.client_streaming, m.server_streaming))
    return sorted(found, key=lambda r: r.path)


RPCS = all_rpcs()
