"""Token generation for chat models on ONNX Runtime with a key/value cache (no torch, no transformers).

- `GenerationBackend`: the loaded chat models; `generate(selector, request, timeout_s=...)`
  streams `GeneratedPiece`s; the inference core loads chat model versions into it and serves
  `Generate` from it.
- `GenerationEngine` (`engine`): one model's continuous-batching scheduler.
- the ONNX graph, its cache contract and `CausalSession`: `foundry.domain.causallm`.
- `ChatTokenizer` (`chat`): tokenizer, chat template, end-of-sequence ids.
- `text`: incremental detokenization and stop sequences; `sampling`: greedy / temperature / top-p.
- `bundle`: a chat model version's files from the object store, sha256-verified.
- `convert`: `GenerateRequest` / `GenerateResponse` ⇄ the domain types (`types`).
"""

from foundry.inference.generation.backend import GenerationBackend, LoadedChatModel, ModelSelector
from foundry.inference.generation.chat import ChatTokenizer
from foundry.inference.generation.engine import GenerationEngine, collect
from foundry.inference.generation.types import (
    FinishReason,
    GeneratedPiece,
    GenerationRequest,
    ModelKey,
    SamplingParams,
    Usage,
)

__all__ = [
    "ChatTokenizer",
    "FinishReason",
    "GeneratedPiece",
    "GenerationBackend",
    "GenerationEngine",
    "GenerationRequest",
    "LoadedChatModel",
    "ModelKey",
    "ModelSelector",
    "SamplingParams",
    "Usage",
    "collect",
]
