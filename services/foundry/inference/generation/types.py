"""The generation domain: what a caller asks for and what streams back (no gRPC here)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import ChatMessage

DEFAULT_MAX_NEW_TOKENS = 256
#: stop sequences a request may give, and their longest length in characters
MAX_STOP_SEQUENCES = 16
MAX_STOP_CHARS = 256
ROLES = ("system", "user", "assistant", "tool")


class FinishReason(StrEnum):
    """Why a generation ended."""

    END_OF_SEQUENCE = "end_of_sequence"
    MAX_NEW_TOKENS = "max_new_tokens"
    STOP_SEQUENCE = "stop_sequence"


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Decoding settings (`GenerationConfig` in the API)."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    stop: tuple[str, ...] = ()
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    #: keep generating past the end-of-sequence token (benchmarks; not in the API)
    ignore_eos: bool = False

    def violations(self, max_new_tokens_limit: int) -> list[FieldViolation]:
        """What is out of range, each naming its `config.*` field."""
        found = []
        if not 1 <= self.max_new_tokens <= max_new_tokens_limit:
            found.append(
                FieldViolation(
                    "config.max_new_tokens",
                    f"must be in [1, {max_new_tokens_limit}], got {self.max_new_tokens}",
                )
            )
        if len(self.stop) > MAX_STOP_SEQUENCES:
            found.append(
                FieldViolation(
                    "config.stop", f"at most {MAX_STOP_SEQUENCES} stop sequences, got {len(self.stop)}"
                )
            )
        for i, stop in enumerate(self.stop):
            if not stop or len(stop) > MAX_STOP_CHARS:
                found.append(
                    FieldViolation(f"config.stop[{i}]", f"must have 1 to {MAX_STOP_CHARS} characters")
                )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            found.append(FieldViolation("config.temperature", f"must be > 0, got {self.temperature}"))
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            found.append(FieldViolation("config.top_p", f"must be in (0, 1], got {self.top_p}"))
        return found


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A conversation (the chat template is applied) or a raw prompt, and how to decode."""

    messages: tuple[ChatMessage, ...] = ()
    prompt: str = ""
    params: SamplingParams = SamplingParams()

    def validate(self, max_new_tokens_limit: int) -> None:
        """`InvalidArgumentError` naming every bad field."""
        found = []
        if not self.messages and not self.prompt:
            found.append(FieldViolation("prompt", "give messages or a prompt"))
        for i, message in enumerate(self.messages):
            if message.role not in ROLES:
                found.append(FieldViolation(f"messages[{i}].role", f"must be one of {', '.join(ROLES)}"))
        found += self.params.violations(max_new_tokens_limit)
        if found:
            raise InvalidArgumentError(
                "invalid generate request", reason="INVALID_GENERATE_REQUEST", violations=found
            )


@dataclass(frozen=True, slots=True)
class ModelKey:
    """A loaded chat model: name, version id, variant ("fp32" or "int8")."""

    name: str
    version_id: str
    variant: str


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts and timings of one generation."""

    prompt_tokens: int
    completion_tokens: int
    time_to_first_token_ms: float
    tokens_per_s: float


@dataclass(frozen=True, slots=True)
class GeneratedPiece:
    """New text and token ids since the previous piece; the last one has `finish_reason` and usage."""

    text: str
    token_ids: tuple[int, ...]
    finish_reason: FinishReason | None = None
    stop_sequence: str = ""
    usage: Usage | None = None
    #: the model that answered (first and last piece)
    model: ModelKey | None = None


__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "FinishReason",
    "GeneratedPiece",
    "GenerationRequest",
    "ModelKey",
    "SamplingParams",
    "Usage",
]
