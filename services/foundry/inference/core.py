"""The inference service's core: LoadModel, UnloadModel, ListModels, Predict and the tensor path
of the Open Inference Protocol. Knows no gRPC; raises `foundry.runtime.errors` domain errors.

Object-store work and session creation run in worker threads; Predict tokenizes on the event
loop (the Rust tokenizer takes microseconds), sends every window of every input through the
model's `Batcher`, and decodes. A bad input fails its own request only; an unknown model is
NOT_FOUND, a known one that is not loaded FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from foundry.inference.batcher import Batcher, BatchSettings
from foundry.inference.bundle import ModelBundle, Variant, fetch_bundle
from foundry.inference.decode import Aggregation, Prediction, classification, entities, sigmoid, softmax
from foundry.inference.decode import word_probabilities as word_probs
from foundry.inference.registry import (
    LoadedModel,
    LoadSettings,
    ModelKey,
    ModelState,
    ReadinessHook,
    Registry,
)
from foundry.inference.session import OrtModel
from foundry.inference.tokenize import Encoded, Encoder
from foundry.runtime.errors import (
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
)
from foundry.runtime.examples import Task
from foundry.runtime.manifest import DATASET_NAME_PATTERN, VERSION_ID_PATTERN
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training.modelversions import get_model_version


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Per-model overrides of the configured batching and thread settings (None: configured)."""

    max_batch_size: int | None = None
    max_queue_delay_ms: float | None = None
    max_queue_size: int | None = None
    intra_op_threads: int | None = None


@dataclass(frozen=True, slots=True)
class PredictInput:
    id: str = ""
    text: str | None = None
    tokens: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PredictOptions:
    top_k: int = 1
    aggregation: Aggregation = Aggregation.FIRST
    multilabel_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class PredictResult:
    model: LoadedModel
    predictions: list[Prediction]


class InferenceCore:
    def __init__(
        self, settings: Settings, store: ObjectStore, on_readiness: ReadinessHook | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = Registry(on_readiness)
        self.cache_dir = settings.inference_cache_dir or settings.cache_dir / "models"
        self._loading: dict[ModelKey, asyncio.Task[LoadedModel]] = {}

    # --- model management ------------------------------------------------------------------------

    async def load_model(
        self,
        name: str,
        version_id: str = "",
        variant: Variant = Variant.FP32,
        options: LoadOptions | None = None,
    ) -> LoadedModel:
        """Load (or return the already loaded) `name@version_id` in `variant`; ready on return."""
        _check_ref(name, version_id, field="model")
        load = self._load_settings(options or LoadOptions())
        if not version_id:
            version_id = (
                await asyncio.to_thread(get_model_version, self.store, name, "", verify_artifacts=False)
            ).version_id
        key = ModelKey(name, version_id, variant)
        existing = self.registry.get(key)
        if existing is not None and existing.state is ModelState.READY:
            return existing
        if key not in self._loading:
            self._loading[key] = asyncio.get_running_loop().create_task(self._load(key, load))
        try:
            return await asyncio.shield(self._loading[key])
        finally:
            if self._loading.get(key) is not None and self._loading[key].done():
                self._loading.pop(key, None)

    async def _load(self, key: ModelKey, load: LoadSettings) -> LoadedModel:
        entry = LoadedModel(key, load)
        self.registry.put(entry)
        await self.registry.announce(key)
        try:
            bundle, model, encoder = await asyncio.to_thread(self._open, key, load)
        except Exception as exc:
            entry.state, entry.error = ModelState.FAILED, str(exc)
            await self.registry.announce(key)
            raise
        pad_id = encoder.tokenizer.token_to_id("[PAD]") or 0
        entry.bundle, entry.model, entry.encoder = bundle, model, encoder
        entry.batcher = Batcher(model.run, load.batch, pad_id=pad_id, per_token=model.per_token)
        entry.created_at = bundle.manifest.created_at
        entry.loaded_at = datetime.now(UTC)
        entry.state = ModelState.READY
        await self.registry.announce(key)
        return entry

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
            bundle.tokenizer_path, bundle.max_seq_length, self.settings.inference_window_stride_tokens
        )
        model.warm_up()
        return bundle, model, encoder

    async def unload_model(self, name: str, version_id: str, variant: Variant | None) -> list[LoadedModel]:
        """Unload the version (every variant when None) after its in-flight requests finish."""
        _check_ref(name, version_id, field="model")
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
            self.registry.remove(entry.key)
            await self.registry.announce(entry.key)
        return entries

    def list_models(self, name: str = "") -> list[LoadedModel]:
        return self.registry.all(name)

    async def close(self) -> None:
        for entry in self.registry.all():
            if entry.batcher is not None:
                await entry.batcher.close()

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
        self._check_inputs(inputs, options)
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
        _check_ref(name, version_id, field="model")
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

    def _check_inputs(self, inputs: list[PredictInput], options: PredictOptions) -> None:
        limit_chars, violations = self.settings.inference_max_text_chars, []
        if not inputs:
            violations.append(FieldViolation("inputs", "at least one input is needed"))
        if len(inputs) > self.settings.inference_max_inputs:
            violations.append(
                FieldViolation(
                    "inputs", f"{len(inputs)} inputs, at most {self.settings.inference_max_inputs}"
                )
            )
        for i, item in enumerate(inputs):
            if item.text is not None:
                if not item.text.strip():
                    violations.append(FieldViolation(f"inputs[{i}].text", "is empty"))
                elif len(item.text) > limit_chars:
                    violations.append(
                        FieldViolation(
                            f"inputs[{i}].text", f"has {len(item.text)} characters, at most {limit_chars}"
                        )
                    )
            elif item.tokens is not None:
                if not item.tokens:
                    violations.append(FieldViolation(f"inputs[{i}].tokens", "has no words"))
                for j, word in enumerate(item.tokens):
                    if not word.strip():
                        violations.append(FieldViolation(f"inputs[{i}].tokens.tokens[{j}]", "is empty"))
                joined = sum(map(len, item.tokens)) + max(len(item.tokens) - 1, 0)
                if joined > limit_chars:
                    violations.append(
                        FieldViolation(
                            f"inputs[{i}].tokens", f"has {joined} characters, at most {limit_chars}"
                        )
                    )
            else:
                violations.append(FieldViolation(f"inputs[{i}]", "needs text or tokens"))
        if options.top_k < 0:
            violations.append(FieldViolation("top_k", f"must be >= 0, got {options.top_k}"))
        threshold = options.multilabel_threshold
        if threshold is not None and not 0 < threshold < 1:
            violations.append(FieldViolation("multilabel_threshold", f"must be in (0, 1), got {threshold}"))
        if violations:
            raise InvalidArgumentError(
                "invalid Predict request", reason="INVALID_INPUT", violations=violations
            )

    # --- tensors (Open Inference Protocol) -------------------------------------------------------

    async def infer_tensors(
        self, entry: LoadedModel, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """The graph's logits for a caller's padded batch (shapes and ids checked first)."""
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
        return await asyncio.to_thread(model.run, input_ids, attention_mask)

    def _load_settings(self, options: LoadOptions) -> LoadSettings:
        s = self.settings
        delay_ms = (
            options.max_queue_delay_ms
            if options.max_queue_delay_ms is not None
            else s.inference_max_queue_delay_ms
        )
        batch = BatchSettings(
            max_batch_size=options.max_batch_size or s.inference_max_batch_size,
            max_queue_delay_s=delay_ms / 1000,
            max_queue_size=options.max_queue_size or s.inference_max_queue_size,
            max_padding_ratio=s.inference_max_padding_ratio,
        )
        violations = [
            FieldViolation(f"options.{name}", "must be positive")
            for name, value in (
                ("max_batch_size", options.max_batch_size),
                ("max_queue_size", options.max_queue_size),
            )
            if value is not None and value < 1
        ]
        if delay_ms < 0:
            violations.append(FieldViolation("options.max_queue_delay_ms", "must be >= 0"))
        threads = (
            options.intra_op_threads if options.intra_op_threads is not None else s.inference_intra_op_threads
        )
        if threads < 0:
            violations.append(FieldViolation("options.intra_op_threads", "must be >= 0"))
        if violations:
            raise InvalidArgumentError("invalid load options", violations=violations)
        return LoadSettings(batch, threads)


def _check_ref(name: str, version_id: str, *, field: str) -> None:
    violations = []
    if not DATASET_NAME_PATTERN.fullmatch(name):
        violations.append(FieldViolation(f"{field}.name", f"{name!r} is not a model name"))
    if version_id and not VERSION_ID_PATTERN.fullmatch(version_id):
        violations.append(
            FieldViolation(f"{field}.version_id", f"{version_id!r} is not a version id (64 hex)")
        )
    if violations:
        raise InvalidArgumentError(
            "invalid model reference", reason="INVALID_MODEL_REF", violations=violations
        )


def _encode(encoder: Encoder, item: PredictInput, token_task: bool) -> Encoded:
    if token_task:
        return encoder.words(item.tokens) if item.tokens is not None else encoder.text(item.text or "")
    return encoder.sequence(" ".join(item.tokens) if item.tokens is not None else item.text or "")


def _decode(
    bundle: ModelBundle,
    input_id: str,
    encoded: Encoded,
    logits: list[npt.NDArray[np.float32]],
    options: PredictOptions,
) -> Prediction:
    windows = len(encoded.windows)
    if bundle.task is Task.TOKEN_CLASSIFICATION:
        probs = word_probs(encoded, logits, options.aggregation)
        return Prediction(input_id, windows, entities=entities(encoded, probs, bundle.labels))
    multilabel = bundle.task is Task.MULTILABEL_CLASSIFICATION
    per_window = [sigmoid(x) if multilabel else softmax(x) for x in logits]
    threshold = options.multilabel_threshold or bundle.multilabel_threshold
    distribution, top, labels = classification(
        per_window, bundle.labels, options.top_k, multilabel=multilabel, threshold=threshold
    )
    return Prediction(input_id, windows, distribution=distribution, top_k=top, labels=labels)


__all__ = ["InferenceCore", "LoadOptions", "PredictInput", "PredictOptions", "PredictResult"]
