"""The inference service's settings: the shared ones and its own (`FOUNDRY_INFERENCE_*`,
`FOUNDRY_GENERATE_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from foundry.runtime.settings import Settings


class InferenceSettings(Settings):
    """Every knob of the inference service. Units are in the names."""

    inference_max_batch_size: int = Field(32, ge=1, description="largest dynamic batch, in sequences")
    inference_max_queue_delay_ms: float = Field(
        2.0, ge=0, description="longest a request waits for its batch to fill"
    )
    inference_max_queue_size: int = Field(
        256, ge=1, description="requests waiting per model before RESOURCE_EXHAUSTED"
    )
    inference_max_padding_ratio: float = Field(
        0.25,
        ge=0,
        description="a length bucket closes before its padding exceeds this share of its real tokens",
    )
    inference_intra_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime intra-op threads; 0: one per core"
    )
    inference_intra_op_spinning: bool = Field(
        False,
        description="ONNX Runtime worker threads busy-wait between ops (steals CPU from the event loop)",
    )
    inference_max_text_chars: int = Field(
        100_000, ge=1, description="longest text (or joined words) in one input"
    )
    inference_max_inputs: int = Field(1024, ge=1, description="inputs in one Predict request")
    inference_window_stride_tokens: int = Field(
        32, ge=0, description="tokens two overlapping windows share when a long text is read in windows"
    )
    inference_cache_dir: Path | None = Field(
        None, description="local cache of model bundles; None: <home_dir>/cache/models"
    )
    inference_preload_models: str = Field(
        "", description="models to load at start-up: NAME[@VERSION][:int8], comma-separated"
    )
    generate_max_batch_size: int = Field(
        8,
        ge=1,
        description="generations decoded together per chat model (continuous batching); 1: one at a time",
    )
    generate_max_new_tokens: int = Field(
        4096, ge=1, description="largest max_new_tokens a Generate request may ask for"
    )
