"""`GenerationBackend`: the chat models loaded for generation, and `generate` over them.

The inference core's `generate` calls `generate(selector, request, timeout_s=...)`; its
`load_model` / `unload_model` call `load` / `unload` for chat model versions. Each loaded model has its own
`GenerationEngine` (ONNX Runtime session, tokenizer, continuous-batching scheduler). No torch
and no transformers anywhere on this path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from foundry.domain.bundle import Variant
from foundry.domain.causallm import CausalSession
from foundry.inference.generation.bundle import fetch_chat_bundle
from foundry.inference.generation.chat import ChatTokenizer
from foundry.inference.generation.engine import DEFAULT_MAX_NEW_TOKENS_LIMIT, GenerationEngine
from foundry.inference.generation.types import GeneratedPiece, GenerationRequest, ModelKey
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.objectstore import ObjectStore


@dataclass(frozen=True, slots=True)
class ModelSelector:
    """Which loaded model: an empty version means the newest loaded; no variant means fp32 if
    loaded, else the loaded one."""

    name: str
    version_id: str = ""
    variant: Variant | None = None


@dataclass(frozen=True)
class LoadedChatModel:
    """A chat model ready to generate."""

    key: ModelKey
    engine: GenerationEngine
    loaded_at: float


class GenerationBackend:
    """The loaded chat models and their engines."""

    def __init__(
        self,
        store: ObjectStore | None = None,
        cache_dir: Path | None = None,
        *,
        max_batch_size: int = 8,
        max_new_tokens_limit: int = DEFAULT_MAX_NEW_TOKENS_LIMIT,
        intra_op_threads: int | None = None,
    ) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self.max_batch_size = max_batch_size
        self.max_new_tokens_limit = max_new_tokens_limit
        self.intra_op_threads = intra_op_threads
        self._models: dict[ModelKey, LoadedChatModel] = {}

    async def load(
        self,
        name: str,
        version_id: str = "",
        variant: Variant = Variant.FP32,
        *,
        max_batch_size: int | None = None,
        intra_op_threads: int | None = None,
    ) -> LoadedChatModel:
        """Fetch (sha256-verified) and load a chat model version; the loaded one if it is already.
        `max_batch_size` and `intra_op_threads` override the backend's for this model."""
        if self.store is None or self.cache_dir is None:
            raise FailedPreconditionError("this generation backend has no object store", reason="NO_STORE")
        bundle = await asyncio.to_thread(
            fetch_chat_bundle, self.store, name, version_id, variant, self.cache_dir
        )
        key = ModelKey(bundle.name, bundle.version_id, variant.value)
        if key in self._models:
            return self._models[key]
        return await asyncio.to_thread(
            self.add_folder,
            key,
            bundle.folder,
            bundle.onnx_path,
            max_batch_size=max_batch_size,
            intra_op_threads=intra_op_threads,
        )

    def add_folder(
        self,
        key: ModelKey,
        folder: Path,
        onnx_path: Path,
        *,
        max_batch_size: int | None = None,
        intra_op_threads: int | None = None,
    ) -> LoadedChatModel:
        """Load a bundle already on disk (`folder` with the tokenizer files) under `key`; warms it up."""
        threads = intra_op_threads if intra_op_threads is not None else self.intra_op_threads
        session = CausalSession(onnx_path, threads=threads)
        tokenizer = ChatTokenizer.from_folder(folder)
        session.greedy([next(iter(tokenizer.eos_ids), 0)], 2)  # warm-up: a prefill and a step
        engine = GenerationEngine(
            session,
            tokenizer,
            max_batch_size=max_batch_size or self.max_batch_size,
            max_new_tokens_limit=self.max_new_tokens_limit,
        )
        loaded = LoadedChatModel(key, engine, time.monotonic())
        self._models[key] = loaded
        return loaded

    async def unload(self, name: str, version_id: str, variant: Variant | None = None) -> list[ModelKey]:
        """Unload the version (every variant when None); generations in flight end with an error."""
        keys = [
            k
            for k in self._models
            if k.name == name and k.version_id == version_id and variant in (None, Variant(k.variant))
        ]
        for key in keys:
            await self._models.pop(key).engine.close()
        return keys

    def loaded(self) -> list[LoadedChatModel]:
        """The loaded chat models, oldest first."""
        return sorted(self._models.values(), key=lambda m: m.loaded_at)

    def resolve(self, selector: ModelSelector) -> LoadedChatModel:
        """The loaded model `selector` names; FAILED_PRECONDITION when none is loaded."""
        matches = [
            m
            for m in self.loaded()
            if m.key.name == selector.name and selector.version_id in ("", m.key.version_id)
        ]
        if selector.variant is not None:
            matches = [m for m in matches if m.key.variant == selector.variant.value]
        elif any(m.key.variant == Variant.FP32.value for m in matches):
            matches = [m for m in matches if m.key.variant == Variant.FP32.value]
        if not matches:
            wanted = selector.name + (f"@{selector.version_id[:12]}" if selector.version_id else "")
            raise FailedPreconditionError(
                f"chat model {wanted} is not loaded; call LoadModel first", reason="MODEL_NOT_LOADED"
            )
        return matches[-1]

    async def generate(
        self, selector: ModelSelector, request: GenerationRequest, *, timeout_s: float | None = None
    ) -> AsyncIterator[GeneratedPiece]:
        """Stream a generation; the first and last pieces name the model that answered."""
        model = self.resolve(selector)
        first = True
        async for piece in model.engine.generate(request, timeout_s=timeout_s):
            if first or piece.finish_reason is not None:
                piece = dataclasses.replace(piece, model=model.key)
            first = False
            yield piece

    async def close(self) -> None:
        """Unload everything."""
        for model in list(self._models.values()):
            await model.engine.close()
        self._models.clear()


__all__ = ["GenerationBackend", "LoadedChatModel", "ModelSelector"]
