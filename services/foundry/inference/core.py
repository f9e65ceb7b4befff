"""The inference service's core: LoadModel, UnloadModel, ListModels, Predict, Generate and the
tensor path of the Open Inference Protocol. Knows no gRPC; raises `foundry.runtime.errors`
domain errors.

A model version is served by its task: token and text classification models get an ONNX
Runtime session and a `Batcher` here; chat models are loaded into the `GenerationBackend` (when
the service has one) and served by Generate. Both kinds live in the same `Registry`, with the
same LOADING → READY / FAILED states and readiness announcements.

Object-store work and session creation run in worker threads; Predict tokenizes on the event
loop (the Rust tokenizer takes microseconds), sends every window of every input through the
model's `Batcher`, and decodes. ModelInfer's caller-padded tensors run in a worker thread, at
most the model's `max_queue_size` at once (an `InFlightLimit`; one more is RESOURCE_EXHAUSTED,
as from a full batcher queue). A bad input fails its own request only; an unknown model is
NOT_FOUND, a known one that is not loaded FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from foundry.domain.bundle import ModelBundle, Variant, fetch_bundle
from foundry.domain.modelversions import get_model_version
from foundry.domain.textjoin import join_tokens
from foundry.inference.admission import InFlightLimit
from foundry.inference.batcher import Batcher
from foundry.inference.decode import Prediction, classification, entities, sigmoid, softmax
from foundry.inference.decode import word_probabilities as word_probs
from foundry.inference.generation import GeneratedPiece, GenerationBackend, GenerationRequest, ModelSelector
from foundry.inference.registry import (
    LoadedModel,
    LoadSettings,
    ModelKey,
    ModelState,
    ReadinessHook,
    Registry,
)
from foundry.inference.requests import (
    LoadOptions,
    PredictInput,
    PredictOptions,
    chat_load_settings,
    check_predict,
    check_ref,
    load_settings,
)
from foundry.inference.session import OrtModel
from foundry.inference.settings import InferenceSettings
from foundry.inference.tokenize import Encoded, Encoder
from foundry.runtime.errors import (
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    UnimplementedError,
)
from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore


@dataclass(frozen=True, slots=True)
class PredictResult:
    model: LoadedModel
    predictions: list[Prediction]


class InferenceCore:
    def __init__(
        self,
        settings: InferenceSettings,
        store: ObjectStore,
        on_readiness: ReadinessHook | None = None,
        generation: GenerationBackend | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = Registry(on_readiness)
        self.generation = generation
        self.cache_dir = settings.inference_cache_dir or settings.cache_dir / "models"
        self._loading: dict[ModelKey, asyncio.Task[LoadedModel]] = {}
        #: each loaded encoder model's bound on ModelInfer requests in flight
        self.tensor_limits: dict[ModelKey, InFlightLimit] = {}

    # --- model management ------------------------------------------------------------------------

    async def load_model(
        self,
        name: str,
        version_id: str = "",
        variant: Variant = Variant.FP32,
        options: LoadOptions | None = None,
    ) -> LoadedModel:
        """Load (or return the already loaded) `name@version_id` in `variant`; ready on return."""
        check_ref(name, version_id, field="model")
        options = options or LoadOptions()
        load = load_settings(self.settings, options)
        existing = self.registry.get(ModelKey(name, version_id, variant)) if version_id else None
        if existing is not None and existing.state is ModelState.READY:
            return existing
        manifest = await asyncio.to_thread(
            get_model_version, self.store, name, version_id, verify_artifacts=False
        )
        task = Task(manifest.task)
        if task is Task.CHAT:
            if self.generation is None:
                raise FailedPreconditionError(
                    f"model {name}@{manifest.version_id[:12]} is a chat model and this service has "
                    "no generation backend",
                    reason="NO_GENERATION_BACKEND",
                )
            load = chat_load_settings(self.settings, options, load)
        key = ModelKey(name, manifest.version_id, variant)
        existing = self.registry.get(key)
        if existing is not None and existing.state is ModelState.READY:
            return existing
        if key not in self._loading:
            entry = LoadedModel(key, load, task=task, created_at=manifest.created_at)
            self._loading[key] = asyncio.get_running_loop().create_task(self._load(entry))
        try:
            return await asyncio.shield(self._loading[key])
        finally:
            if self._loading.get(key) is not None and self._loading[key].done():
                self._loading.pop(key, None)

    async def _load(self, entry: LoadedModel) -> LoadedModel:
        self.registry.put(entry)
        await self.registry.announce(entry.key)
        try:
            if entry.task is Task.CHAT:
                await self._load_chat(entry)
            else:
                await self._load_encoder(entry)
        except Exception as exc:
            entry.state, entry.error = ModelState.FAILED, str(exc)
            await self.registry.announce(entry.key)
            raise
        entry.loaded_at = datetime.now(UTC)
        entry.state = ModelState.READY
        await self.registry.announce(entry.key)
        return entry

    async def _load_encoder(self, entry: LoadedModel) -> None:
        bundle, model, encoder = await asyncio.to_thread(self._open, entry.key, entry.settings)
        pad_id = encoder.tokenizer.token_to_id("[PAD]") or 0
        entry.bundle, entry.model, entry.encoder = bundle, model, encoder
        batch = entry.settings.batch
        entry.batcher = Batcher(model.run, batch, pad_id=pad_id, per_token=model.per_token)
        self.tensor_limits[entry.key] = InFlightLimit(
            batch.max_queue_size, retry_after_s=max(batch.max_queue_delay_s, 0.01)
        )
        entry.provider = model.provider

    async def _load_chat(self, entry: LoadedModel) -> None:
        if self.generation is None:  # checked by load_model; kept for the type checker
            raise FailedPreconditionError("no generation backend", reason="NO_GENERATION_BACKEND")
        key = entry.key
        chat = await self.generation.load(
            key.name,
            key.version_id,
            key.variant,
            max_batch_size=entry.settings.batch.max_batch_size,
            intra_op_threads=entry.settings.intra_op_threads or None,
        )
        entry.provider = chat.engine.session.provider

    def _open(self, key: ModelKey, load: LoadSettings) -> tuple[ModelBundle, OrtModel, Encoder]:
        bundle = fetch_bundle(self.store, key.name, key.version_id, key.variant, self.cache_dir)
        model = OrtModel(
            bundle.onnx_path,
            intra_op_threads=load.intra_op_threads,
            spinning=self.settings.inference_intra_op_spinning,
        )
        expected_per_token = bundle.task is Task.TOKEN_CLASSIFICATION
        if model.per_token != expected_per_token or model.num_labels != len(bundle.labels):
            raise FailedPreconditionError(
                f"the ONNX graph of {bundle.ref} does not fit its task and {len(bundle.labels)} labels",
                reason="BUNDLE_INCONSISTENT",
            )
        encoder = Encoder(
            bundle.tokenizer_path,
            bundle.max_seq_length,
            self.settings.inference_window_stride_tokens,
            bundle.normalization,
        )
        model.warm_up()
        return bundle, model, encoder

    async def unload_model(self, name: str, version_id: str, variant: Variant | None) -> list[LoadedModel]:
        """Unload the version (every variant when None) after its in-flight requests finish
        (a chat model's generations in flight end with an error)."""
        check_ref(name, version_id, field="model")
        if not version_id:
            raise InvalidArgumentError(
                "UnloadModel needs a version id", violations=[FieldViolation("model.version_id", "required")]
            )
        entries = [
            e
            for e in self.registry.all(name)
            if e.key.version_id == version_id and (variant is None or e.key.variant is variant)
        ]
        if not entries:
            raise NotFoundError(f"model {name}@{version_id[:12]} is not loaded", reason="MODEL_NOT_LOADED")
        for entry in entries:
            entry.state = ModelState.UNLOADING
            await self.registry.announce(entry.key)
            if entry.batcher is not None:
                await entry.batcher.close()
            self.tensor_limits.pop(entry.key, None)
            if entry.task is Task.CHAT and self.generation is not None:
                await self.generation.unload(name, version_id, entry.key.variant)
            self.registry.remove(entry.key)
            await self.registry.announce(entry.key)
        return entries

    def list_models(self, name: str = "") -> list[LoadedModel]:
        return self.registry.all(name)

    async def close(self) -> None:
        """Stop every batcher and unload every chat model."""
        for entry in self.registry.all():
            if entry.batcher is not None:
                await entry.batcher.close()
        if self.generation is not None:
            await self.generation.close()

    # --- Generate -----------------------------------------------------------------------------------

    def generate(
        self, selector: ModelSelector, request: GenerationRequest, *, timeout_s: float | None = None
    ) -> AsyncIterator[GeneratedPiece]:
        """Stream a generation from the loaded chat model `selector` names."""
        if self.generation is None:
            raise UnimplementedError(
                "Generate needs a generation backend, and this server has none",
                reason="NO_GENERATION_BACKEND",
            )
        entry = self.registry.ready(selector.name, selector.version_id, selector.variant)
        if entry is not None and entry.task is not Task.CHAT:
            task = entry.task.value if entry.task is not None else "encoder"
            raise FailedPreconditionError(
                f"model {selector.name} is a {task} model; Generate serves chat models (use Predict)",
                reason="TASK_NOT_SERVED",
            )
        return self.generation.generate(selector, request, timeout_s=timeout_s)

    # --- Predict ------------------------------------------------------------------------------------

    async def predict(
        self,
        name: str,
        version_id: str,
        variant: Variant | None,
        inputs: list[PredictInput],
        options: PredictOptions,
        deadline: float | None = None,
    ) -> PredictResult:
        entry = await self.resolve(name, version_id, variant)
        bundle, _, encoder, batcher = entry.serving()
        check_predict(self.settings, inputs, options)
        token_task = bundle.task is Task.TOKEN_CLASSIFICATION
        encoded = [_encode(encoder, item, token_task) for item in inputs]
        rows = [window.ids for enc in encoded for window in enc.windows]
        logits = await batcher.submit(rows, deadline)
        predictions, offset = [], 0
        for item, enc in zip(inputs, encoded, strict=True):
            own = logits[offset : offset + len(enc.windows)]
            offset += len(enc.windows)
            predictions.append(_decode(bundle, item.id, enc, own, options))
        return PredictResult(entry, predictions)

    async def resolve(self, name: str, version_id: str, variant: Variant | None) -> LoadedModel:
        """The READY model to serve, else NOT_FOUND (unknown) or FAILED_PRECONDITION (not loaded)."""
        check_ref(name, version_id, field="model")
        entry = self.registry.ready(name, version_id, variant)
        if entry is not None:
            return entry
        what = f"{name}@{version_id[:12]}" if version_id else name
        if variant is not None:
            what += f" ({variant.value})"
        await asyncio.to_thread(get_model_version, self.store, name, version_id, verify_artifacts=False)
        raise FailedPreconditionError(
            f"model {what} is not loaded; call LoadModel first", reason="MODEL_NOT_LOADED"
        )

    # --- tensors (Open Inference Protocol) -------------------------------------------------------

    async def infer_tensors(
        self, entry: LoadedModel, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """The graph's logits for a caller's padded batch (shapes and ids checked first); at most
        the model's `max_queue_size` such requests at once, else `ResourceExhaustedError`."""
        bundle, model, encoder, _ = entry.serving()
        violations = []
        if input_ids.ndim != 2 or input_ids.shape[0] < 1 or input_ids.shape[1] < 1:
            violations.append(
                FieldViolation(
                    "inputs[input_ids].shape", f"must be [batch, sequence], got {list(input_ids.shape)}"
                )
            )
        elif input_ids.shape[1] > bundle.max_seq_length:
            violations.append(
                FieldViolation(
                    "inputs[input_ids].shape", f"sequence {input_ids.shape[1]} > {bundle.max_seq_length}"
                )
            )
        elif input_ids.min() < 0 or input_ids.max() >= encoder.vocab_size:
            violations.append(
                FieldViolation("inputs[input_ids]", f"ids must be in [0, {encoder.vocab_size})")
            )
        if attention_mask.shape != input_ids.shape:
            violations.append(
                FieldViolation(
                    "inputs[attention_mask].shape", f"must equal input_ids' {list(input_ids.shape)}"
                )
            )
        if violations:
            raise InvalidArgumentError(
                "invalid ModelInfer inputs", reason="INVALID_TENSOR", violations=violations
            )
        async with self.tensor_limits[entry.key].hold():
            return await asyncio.to_thread(model.run, input_ids, attention_mask)


def _encode(encoder: Encoder, item: PredictInput, token_task: bool) -> Encoded:
    if token_task:
        return encoder.words(item.tokens) if item.tokens is not None else encoder.text(item.text or "")
    return encoder.sequence(join_tokens(item.tokens) if item.tokens is not None else item.text or "")


def _decode(
    bundle: ModelBundle,
    input_id: str,
    encoded: Encoded,
    logits: list[npt.NDArray[np.float32]],
    options: PredictOptions,
) -> Prediction:
    windows = len(encoded.windows)
    if bundle.task is Task.TOKEN_CLASSIFICATION:
        probs, has_token = word_probs(encoded, logits, options.aggregation)
        return Prediction(input_id, windows, entities=entities(encoded, probs, has_token, bundle.labels))
    multilabel = bundle.task is Task.MULTILABEL_CLASSIFICATION
    per_window = [sigmoid(x) if multilabel else softmax(x) for x in logits]
    threshold = options.multilabel_threshold or bundle.multilabel_threshold
    distribution, top, labels = classification(
        per_window, bundle.labels, options.top_k, multilabel=multilabel, threshold=threshold
    )
    return Prediction(input_id, windows, distribution=distribution, top_k=top, labels=labels)


__all__ = ["InferenceCore", "LoadOptions", "PredictInput", "PredictOptions", "PredictResult"]
