"""The models loaded in this process: several names, versions and variants at once.

An entry is keyed by (name, version id, variant) and goes LOADING → READY (or FAILED, with its
error, until a new LoadModel retries) → UNLOADING → gone. Lookups for serving see READY entries
only. Encoder models (token and text classification) carry their bundle, ONNX session and
batcher; chat models are held by the generation backend and appear here with their task only
(Predict and ModelInfer refuse them: `serving()` says Generate serves them). Each change of readiness is reported to `on_readiness(health_name, ready)` (the service
wires it to the gRPC health service: `model/<name>` is SERVING while any version of the name is
ready, `model/<name>@<version_id>:<variant>` while that one is).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from foundry.domain.bundle import ModelBundle, Variant
from foundry.inference.batcher import Batcher, BatchSettings
from foundry.inference.session import OrtModel
from foundry.inference.tokenize import Encoder
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Task

ReadinessHook = Callable[[str, bool], Awaitable[None]]


class ModelState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    UNLOADING = "unloading"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, order=True)
class ModelKey:
    name: str
    version_id: str
    variant: Variant

    @property
    def health_name(self) -> str:
        return f"model/{self.name}@{self.version_id}:{self.variant.value}"

    @property
    def oip_name(self) -> str:
        """The Open Inference Protocol model name: the model's name, `:int8` for that variant."""
        return self.name if self.variant is Variant.FP32 else f"{self.name}:{self.variant.value}"


@dataclass(frozen=True, slots=True)
class LoadSettings:
    batch: BatchSettings
    intra_op_threads: int


@dataclass(eq=False)
class LoadedModel:
    key: ModelKey
    settings: LoadSettings
    state: ModelState = ModelState.LOADING
    error: str = ""
    bundle: ModelBundle | None = None
    model: OrtModel | None = None
    encoder: Encoder | None = None
    batcher: Batcher | None = None
    loaded_at: datetime | None = None
    created_at: str = ""
    #: the model version's task (None until its manifest is read)
    task: Task | None = None
    #: the ONNX Runtime execution provider serving it
    provider: str = ""

    @property
    def serves_tensors(self) -> bool:
        """Whether Predict and the Open Inference Protocol can serve it (chat models: Generate)."""
        return self.state is ModelState.READY and self.task is not Task.CHAT

    def serving(self) -> tuple[ModelBundle, OrtModel, Encoder, Batcher]:
        if self.task is Task.CHAT:
            raise FailedPreconditionError(
                f"model {self.key.name}@{self.key.version_id[:12]} is a chat model, served by Generate",
                reason="TASK_NOT_SERVED",
            )
        if (
            self.state is not ModelState.READY
            or self.bundle is None
            or self.model is None
            or self.encoder is None
            or self.batcher is None
        ):
            raise FailedPreconditionError(
                f"model {self.key.name} is {self.state.value}", reason="MODEL_NOT_READY"
            )
        return self.bundle, self.model, self.encoder, self.batcher


class Registry:
    def __init__(self, on_readiness: ReadinessHook | None = None) -> None:
        self._entries: dict[ModelKey, LoadedModel] = {}
        self._on_readiness = on_readiness

    def get(self, key: ModelKey) -> LoadedModel | None:
        return self._entries.get(key)

    def put(self, entry: LoadedModel) -> None:
        self._entries[entry.key] = entry

    def remove(self, key: ModelKey) -> None:
        self._entries.pop(key, None)

    def all(self, name: str = "") -> list[LoadedModel]:
        entries = [e for e in self._entries.values() if not name or e.key.name == name]
        return sorted(
            entries, key=lambda e: (e.key.name, e.loaded_at.timestamp() if e.loaded_at else 0.0, e.key)
        )

    def ready(self, name: str, version_id: str = "", variant: Variant | None = None) -> LoadedModel | None:
        """The READY entry to serve: the given version (else the newest by its manifest's
        creation), the given variant (else fp32 when loaded, else the one loaded)."""
        candidates = [
            e
            for e in self._entries.values()
            if e.state is ModelState.READY
            and e.key.name == name
            and (not version_id or e.key.version_id == version_id)
            and (variant is None or e.key.variant is variant)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda e: (e.created_at, e.key.variant is Variant.FP32, e.loaded_at))

    def by_oip_name(self, oip_name: str, version: str = "") -> LoadedModel | None:
        name, _, variant = oip_name.partition(":")
        try:
            wanted = Variant(variant) if variant else Variant.FP32
        except ValueError:
            return None
        return self.ready(name, version, wanted)

    async def announce(self, key: ModelKey) -> None:
        """Report the readiness of `key` and of its name to the hook."""
        if self._on_readiness is None:
            return
        entry = self._entries.get(key)
        await self._on_readiness(key.health_name, entry is not None and entry.state is ModelState.READY)
        await self._on_readiness(f"model/{key.name}", self.ready(key.name) is not None)


__all__ = ["LoadSettings", "LoadedModel", "ModelKey", "ModelState", "ReadinessHook", "Registry"]
