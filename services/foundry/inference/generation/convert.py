"""`Generate` messages ⇄ the generation domain (no grpc imports)."""

from __future__ import annotations

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.domain.bundle import Variant
from foundry.inference.generation.backend import ModelSelector
from foundry.inference.generation.types import (
    DEFAULT_MAX_NEW_TOKENS,
    FinishReason,
    GeneratedPiece,
    GenerationRequest,
    SamplingParams,
)
from foundry.runtime.examples import ChatMessage

_VARIANTS = {model_pb2.MODEL_VARIANT_FP32: Variant.FP32, model_pb2.MODEL_VARIANT_INT8: Variant.INT8}
_FINISH = {
    FinishReason.END_OF_SEQUENCE: pb.FINISH_REASON_END_OF_SEQUENCE,
    FinishReason.MAX_NEW_TOKENS: pb.FINISH_REASON_MAX_NEW_TOKENS,
    FinishReason.STOP_SEQUENCE: pb.FINISH_REASON_STOP_SEQUENCE,
}


def generate_request(message: pb.GenerateRequest) -> tuple[ModelSelector, GenerationRequest]:
    """The model selector and the domain request (validated later, by the engine)."""
    config = message.config
    params = SamplingParams(
        max_new_tokens=config.max_new_tokens if config.HasField("max_new_tokens") else DEFAULT_MAX_NEW_TOKENS,
        stop=tuple(config.stop),
        do_sample=config.do_sample,
        temperature=config.temperature if config.HasField("temperature") else 1.0,
        top_p=config.top_p if config.HasField("top_p") else 1.0,
        seed=config.seed if config.HasField("seed") else None,
    )
    request = GenerationRequest(
        messages=tuple(ChatMessage(m.role, m.content) for m in message.messages),
        prompt=message.prompt,
        params=params,
    )
    selector = ModelSelector(message.model.name, message.model.version_id, _VARIANTS.get(message.variant))
    return selector, request


def generate_response(piece: GeneratedPiece) -> pb.GenerateResponse:
    """One streamed message."""
    response = pb.GenerateResponse(text_delta=piece.text, token_ids=list(piece.token_ids))
    if piece.model is not None:
        response.model.CopyFrom(refs_pb2.ModelRef(name=piece.model.name, version_id=piece.model.version_id))
    if piece.finish_reason is not None:
        response.finish_reason = _FINISH[piece.finish_reason]
        response.stop_sequence = piece.stop_sequence
    if piece.usage is not None:
        response.usage.CopyFrom(
            pb.GenerationUsage(
                prompt_tokens=piece.usage.prompt_tokens,
                completion_tokens=piece.usage.completion_tokens,
                time_to_first_token_ms=piece.usage.time_to_first_token_ms,
                tokens_per_s=piece.usage.tokens_per_s,
            )
        )
    return response


__all__ = ["generate_request", "generate_response"]
