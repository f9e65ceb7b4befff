"""Operators that call the configured OpenAI-compatible chat endpoint.

Text classification: `paraphrase` and `back_translation` (through a pivot language) rewrite the
text and keep the label. Chat: `instruction_paraphrase` rewrites the user's last
instruction (same meaning), `instruction_evolution` makes it harder and more specific, Evol-
Instruct style (one of: add constraints, deepen, concretize, more reasoning steps, a rarer task
of the same domain); with `regenerate_response` the assistant's reply to the new instruction is
asked of the endpoint too (always for evolution: the old reply no longer fits). Each request
carries a seed drawn from the operator's generator, so an endpoint that honours seeds gives the
same output for the same recipe. Empty replies leave the example unchanged (counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from foundry.augmentation.llm_client import ChatClient, ChatOptions
from foundry.augmentation.operators.base import Family, Operator, OperatorContext, Params
from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Task

TEXT = frozenset({Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION})
CHAT = frozenset({Task.CHAT})
SYSTEM = "You rewrite text for a training data set. Answer with the rewritten text only: no preamble, no quotes, no notes."

PARAPHRASE = "Paraphrase the following text. Keep its meaning, its language, its tone and every fact; change the wording and the sentence structure.\n\nText:\n{text}"
TRANSLATE = "Translate the following text into {language}. Keep its meaning and tone.\n\nText:\n{text}"
INSTRUCTION_PARAPHRASE = "Rewrite the following instruction so that it asks for exactly the same thing in different words.\n\nInstruction:\n{text}"
EVOLUTION_METHODS: dict[str, str] = {
    "constraints": "Add one more constraint or requirement to it.",
    "deepen": "Increase the depth and breadth of what it asks about.",
    "concretize": "Replace general concepts with more specific ones.",
    "reasoning": "Make it explicitly require several steps of reasoning.",
    "breadth": "Write a new instruction of the same domain and length, but about a rarer topic.",
}
EVOLVE = (
    "Rewrite the following instruction into a more complex version that a capable assistant can still "
    "answer. {method} The new instruction must be reasonable, self-contained and understood by humans; "
    "add at most 20 words.\n\nInstruction:\n{text}"
)
_LABELS = ("paraphrase:", "rewritten text:", "rewritten instruction:", "new instruction:", "translation:")


def clean_reply(reply: str) -> str:
    """The reply without surrounding white space, quotes or a leading label."""
    text = reply.strip()
    lower = text.lower()
    for label in _LABELS:
        if lower.startswith(label):
            text = text[len(label) :].strip()
            break
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text


class LlmParams(Params):
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="sampling temperature")
    max_tokens: int = Field(256, ge=1, le=8192, description="longest reply in tokens")


class BackTranslationParams(LlmParams):
    pivot_language: str = Field("German", min_length=1, description="the language translated through")


class ChatParams(LlmParams):
    regenerate_response: bool = Field(False, description="ask the endpoint for a new assistant reply")
    response_max_tokens: int = Field(512, ge=1, le=8192, description="longest regenerated reply")


class EvolutionParams(ChatParams):
    regenerate_response: bool = Field(True, description="always true: the old reply no longer fits")
    methods: list[str] = Field(
        default_factory=lambda: list(EVOLUTION_METHODS),
        description=f"evolution methods, from {list(EVOLUTION_METHODS)}",
    )


class _LlmOperator(Operator[Any]):
    family = Family.LLM

    def __init__(self, params: Any, context: OperatorContext) -> None:
        super().__init__(params, context)
        if context.llm is None:
            raise FailedPreconditionError(
                f"operator {self.name} needs an LLM endpoint: set FOUNDRY_LLM_BASE_URL",
                reason="LLM_NOT_CONFIGURED",
            )
        self.client: ChatClient = context.llm

    @classmethod
    def available(cls, context: OperatorContext) -> bool:
        return context.llm is not None

    def _ask(
        self, prompts: Sequence[str], rng: np.random.Generator, max_tokens: int | None = None
    ) -> list[str]:
        seeds = rng.integers(0, 2**31 - 1, size=len(prompts)).tolist()
        options = [
            ChatOptions(self.params.temperature, max_tokens or self.params.max_tokens, seed) for seed in seeds
        ]
        conversations = [
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}] for p in prompts
        ]
        replies = [clean_reply(r) for r in self.client.complete_many(conversations, options)]
        self.report.count("requests", len(prompts))
        return replies


class Paraphrase(_LlmOperator):
    name = "paraphrase"
    description = "Paraphrase the text through the configured OpenAI-compatible chat endpoint (label kept)."
    tasks = TEXT
    params_type: ClassVar[type[Params]] = LlmParams

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        replies = self._ask([PARAPHRASE.format(text=e.text or "") for e in batch], rng)
        return [_text_or_same(e, r, self) for e, r in zip(batch, replies, strict=True)]


class BackTranslation(_LlmOperator):
    name = "back_translation"
    description = "Translate the text into a pivot language and back through the chat endpoint (label kept)."
    tasks = TEXT
    params_type: ClassVar[type[Params]] = BackTranslationParams

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        pivot = self.params.pivot_language
        there = self._ask([TRANSLATE.format(language=pivot, text=e.text or "") for e in batch], rng)
        back = self._ask([TRANSLATE.format(language="English", text=t) if t else "" for t in there], rng)
        return [_text_or_same(e, r if t else "", self) for e, t, r in zip(batch, there, back, strict=True)]


def _text_or_same(example: Example, reply: str, op: Operator[Any]) -> Example:
    if not reply or reply == example.text:
        op.report.count("empty_or_same_reply")
        return example
    return replace(example, text=reply)


def instruction_index(messages: Sequence[ChatMessage]) -> int:
    """The index of the user message the last assistant reply answers (the last user message
    when there is no reply); -1 when there is none."""
    last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=len(messages))
    return max((i for i, m in enumerate(messages[:last_assistant]) if m.role == "user"), default=-1)


class _ChatOperator(_LlmOperator):
    tasks = CHAT

    def _prompt(self, instruction: str, rng: np.random.Generator) -> tuple[str, str]:
        raise NotImplementedError

    def transform(self, batch: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        slots = [instruction_index(e.messages or []) for e in batch]
        todo = [i for i, slot in enumerate(slots) if slot >= 0]
        prompts_methods = [self._prompt((batch[i].messages or [])[slots[i]].content, rng) for i in todo]
        rewritten = self._ask([p for p, _ in prompts_methods], rng)
        out = list(batch)
        regenerate: list[tuple[int, list[ChatMessage]]] = []
        for i, new, (_, method) in zip(todo, rewritten, prompts_methods, strict=True):
            messages = batch[i].messages or []
            if not new or new == messages[slots[i]].content:
                self.report.count("empty_or_same_reply")
                continue
            head = [*messages[: slots[i]], ChatMessage("user", new)]
            meta = {**batch[i].meta, "augment.method": method} if method else batch[i].meta
            if self.params.regenerate_response:
                regenerate.append((i, head))
                out[i] = replace(batch[i], messages=head, meta=meta)
            else:
                out[i] = replace(batch[i], messages=[*head, *messages[slots[i] + 1 :]], meta=meta)
        if regenerate:
            replies = self.client.complete_many(
                [[{"role": m.role, "content": m.content} for m in head] for _, head in regenerate],
                [
                    ChatOptions(self.params.temperature, self.params.response_max_tokens, int(seed))
                    for seed in rng.integers(0, 2**31 - 1, size=len(regenerate))
                ],
            )
            self.report.count("responses_regenerated", len(regenerate))
            for (i, head), reply in zip(regenerate, replies, strict=True):
                out[i] = replace(out[i], messages=[*head, ChatMessage("assistant", reply.strip())])
        return out


class InstructionParaphrase(_ChatOperator):
    name = "instruction_paraphrase"
    description = "Reword the user's instruction (same request) through the chat endpoint; optionally regenerate the reply."
    params_type: ClassVar[type[Params]] = ChatParams

    def _prompt(self, instruction: str, rng: np.random.Generator) -> tuple[str, str]:
        return INSTRUCTION_PARAPHRASE.format(text=instruction), ""


class InstructionEvolution(_ChatOperator):
    name = "instruction_evolution"
    description = "Evol-Instruct: a harder, more specific variant of the user's instruction, and a new reply, through the chat endpoint."
    params_type: ClassVar[type[Params]] = EvolutionParams

    def __init__(self, params: EvolutionParams, context: OperatorContext) -> None:
        unknown = [m for m in params.methods if m not in EVOLUTION_METHODS]
        if unknown or not params.methods:
            raise InvalidArgumentError(
                f"unknown evolution method(s) {unknown}; choose from {list(EVOLUTION_METHODS)}",
                violations=[FieldViolation("params.methods", f"unknown: {unknown}")],
            )
        super().__init__(params, context)

    def _prompt(self, instruction: str, rng: np.random.Generator) -> tuple[str, str]:
        methods = self.params.methods
        method = methods[int(rng.integers(len(methods)))]
        return EVOLVE.format(method=EVOLUTION_METHODS[method], text=instruction), method


LLM_OPERATORS: tuple[type[Operator[Any]], ...] = (
    Paraphrase,
    BackTranslation,
    InstructionParaphrase,
    InstructionEvolution,
)
