"""The inference core's request types, and the checks of what callers send: model references,
Predict inputs and options, load options. Each check raises one `InvalidArgumentError` naming
every bad field."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from foundry.domain.worddecoding import DEFAULT_AGGREGATION, Aggregation
from foundry.inference.batcher import BatchSettings
from foundry.inference.registry import LoadSettings
from foundry.inference.settings import InferenceSettings
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.manifest import DATASET_NAME_PATTERN, VERSION_ID_PATTERN

#: the most label scores a prediction may list (Predict top_k)
MAX_TOP_K = 1000
# The maxima of a LoadModel's options (each above the configured default).
MAX_LOAD_BATCH_SIZE = 1024
MAX_LOAD_QUEUE_SIZE = 100_000
MAX_LOAD_QUEUE_DELAY_MS = 10_000
MAX_LOAD_THREADS = 256


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
    aggregation: Aggregation = DEFAULT_AGGREGATION
    multilabel_threshold: float | None = None


def check_ref(name: str, version_id: str, *, field: str) -> None:
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


def check_predict(settings: InferenceSettings, inputs: list[PredictInput], options: PredictOptions) -> None:
    """Refuse a Predict request with no, too many, empty or oversized inputs or bad options."""
    limit_chars, violations = settings.inference_max_text_chars, []
    if not inputs:
        violations.append(FieldViolation("inputs", "at least one input is needed"))
    if len(inputs) > settings.inference_max_inputs:
        violations.append(
            FieldViolation("inputs", f"{len(inputs)} inputs, at most {settings.inference_max_inputs}")
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
                    FieldViolation(f"inputs[{i}].tokens", f"has {joined} characters, at most {limit_chars}")
                )
        else:
            violations.append(FieldViolation(f"inputs[{i}]", "needs text or tokens"))
    if not 0 <= options.top_k <= MAX_TOP_K:
        violations.append(FieldViolation("top_k", f"must be in [0, {MAX_TOP_K}], got {options.top_k}"))
    threshold = options.multilabel_threshold
    if threshold is not None and not 0 < threshold < 1:
        violations.append(FieldViolation("multilabel_threshold", f"must be in (0, 1), got {threshold}"))
    if violations:
        raise InvalidArgumentError("invalid Predict request", reason="INVALID_INPUT", violations=violations)


# --- tensors (Open Inference Protocol) -------------------------------------------------------


def load_settings(settings: InferenceSettings, options: LoadOptions) -> LoadSettings:
    """The batching and thread settings of a load: `options` over the configured ones, checked."""
    s = settings
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
    for name, value, maximum in (
        ("max_batch_size", options.max_batch_size, MAX_LOAD_BATCH_SIZE),
        ("max_queue_size", options.max_queue_size, MAX_LOAD_QUEUE_SIZE),
        ("max_queue_delay_ms", options.max_queue_delay_ms, MAX_LOAD_QUEUE_DELAY_MS),
        ("intra_op_threads", options.intra_op_threads, MAX_LOAD_THREADS),
    ):
        if value is not None and value > maximum:
            violations.append(FieldViolation(f"options.{name}", f"must be at most {maximum}, got {value}"))
    if violations:
        raise InvalidArgumentError("invalid load options", violations=violations)
    return LoadSettings(batch, threads)


def chat_load_settings(settings: InferenceSettings, options: LoadOptions, load: LoadSettings) -> LoadSettings:
    """A chat model's settings: its generation batch (`options.max_batch_size`, else
    `generate_max_batch_size`) and threads; the request-queue options do not apply to it."""
    violations = [
        FieldViolation(f"options.{name}", "applies to Predict's request queue, not to a chat model")
        for name, value in (
            ("max_queue_delay_ms", options.max_queue_delay_ms),
            ("max_queue_size", options.max_queue_size),
        )
        if value is not None
    ]
    if violations:
        raise InvalidArgumentError("invalid load options for a chat model", violations=violations)
    batch = options.max_batch_size or settings.generate_max_batch_size
    return dataclasses.replace(load, batch=dataclasses.replace(load.batch, max_batch_size=batch))


__all__ = [
    "LoadOptions",
    "PredictInput",
    "PredictOptions",
    "chat_load_settings",
    "check_predict",
    "check_ref",
    "load_settings",
]
