"""Chat templates: which one a job uses, and rendering a conversation with its assistant spans.

A chat template is a Jinja string, rendered the way transformers' `apply_chat_template` renders
it (a sandboxed environment with `trim_blocks` and `lstrip_blocks`, `raise_exception`,
`tojson` and the tokenizer's special tokens as variables). `resolve_template` picks it:

1. `causal_lm.chat_template` (a Jinja string given in the spec), else
2. `causal_lm.chat_template_name` (one of `NAMED_TEMPLATES`: chatml, llama-3, zephyr), else
3. the tokenizer's own (`tokenizer_config.json` `chat_template`), else
4. FAILED_PRECONDITION naming `causal_lm.chat_template_name`.

`ChatTemplate.render(messages)` returns the conversation's text and the character span of each
assistant turn (its content and end-of-turn marker, not the header that introduces it, nor the
whitespace after it). The spans come from rendering prefixes: the turn starts where the
rendering of the messages before it *with the generation prompt* ends, and ends where the
rendering up to and including it ends. This needs a template whose renderings of longer
conversations extend those of shorter ones, which every common template satisfies; one that does
not is refused with an error rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.examples import ChatMessage

ASSISTANT = "assistant"
SYSTEM = "system"

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim"
    " + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
ZEPHYR = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


@dataclass(frozen=True, slots=True)
class NamedTemplate:
    """A well-known template: its Jinja source, the special tokens it writes, its end-of-turn token
    (None: the tokenizer's eos token)."""

    source: str
    markers: tuple[str, ...]
    end_of_turn: str | None


NAMED_TEMPLATES: Mapping[str, NamedTemplate] = {
    "chatml": NamedTemplate(CHATML, ("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
    "llama-3": NamedTemplate(
        LLAMA3, ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), "<|eot_id|>"
    ),
    "zephyr": NamedTemplate(ZEPHYR, (), None),
}


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)


def compile_template(source: str) -> jinja2.Template:
    """`source` compiled as transformers compiles chat templates; `InvalidArgumentError` if it is
    not valid Jinja."""
    environment = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    try:
        return environment.from_string(source)
    except jinja2.exceptions.TemplateError as exc:
        raise InvalidArgumentError(
            f"the chat template is not valid Jinja: {exc}",
            reason="INVALID_CHAT_TEMPLATE",
            violations=[FieldViolation("causal_lm.chat_template", str(exc))],
        ) from exc


@dataclass(frozen=True)
class Rendered:
    """A rendered conversation and the `[start, end)` character spans of its trained assistant turns."""

    text: str
    assistant_spans: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ChatTemplate:
    """A resolved chat template with the variables it is rendered with."""

    source: str
    #: where it came from: "spec", "named:<name>" or "tokenizer"
    origin: str
    #: template variables: bos_token, eos_token, pad_token, unk_token
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    #: the token that ends an assistant turn (generation stops there)
    end_of_turn: str = ""
    default_system_prompt: str = ""
    #: train on the last assistant turn only (earlier ones are context)
    last_turn_only: bool = False

    @cached_property
    def compiled(self) -> jinja2.Template:
        return compile_template(self.source)

    @property
    def sha256(self) -> str:
        """Identifies everything that changes the encoding (for the tokenization cache)."""
        fields = {
            "source": self.source,
            "special_tokens": dict(sorted(self.special_tokens.items())),
            "default_system_prompt": self.default_system_prompt,
            "last_turn_only": self.last_turn_only,
        }
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()

    def _render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool) -> str:
        try:
            return self.compiled.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                **self.special_tokens,
            )
        except jinja2.exceptions.TemplateError as exc:
            raise FailedPreconditionError(
                f"the chat template ({self.origin}) cannot render this conversation: {exc}",
                reason="CHAT_TEMPLATE_FAILED",
            ) from exc

    def conversation(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The messages as rendered: the default system prompt first when there is none."""
        if self.default_system_prompt and (not messages or messages[0].role != SYSTEM):
            return [ChatMessage(SYSTEM, self.default_system_prompt), *messages]
        return list(messages)

    def render(self, messages: Sequence[ChatMessage]) -> Rendered:
        """The text of the conversation and the spans of its trained assistant turns."""
        conversation = self.conversation(messages)
        text = self._render(conversation, add_generation_prompt=False)
        turns = [i for i, m in enumerate(conversation) if m.role == ASSISTANT]
        if self.last_turn_only:
            turns = turns[-1:]
        spans = []
        for index in turns:
            prompt = self._render(conversation[:index], add_generation_prompt=True)
            upto = self._render(conversation[: index + 1], add_generation_prompt=False)
            if not upto.startswith(prompt) or not text.startswith(upto):
                raise FailedPreconditionError(
                    f"the chat template ({self.origin}) does not render conversations prefix by prefix, "
                    "so the assistant turns cannot be located; choose causal_lm.chat_template_name",
                    reason="CHAT_TEMPLATE_NOT_INCREMENTAL",
                )
            end = len(upto.rstrip())
            if end > len(prompt):
                spans.append((len(prompt), end))
        return Rendered(text, tuple(spans))

    def prompt(self, messages: Sequence[ChatMessage]) -> str:
        """The text a model continues to answer `messages` (the generation prompt appended)."""
        return self._render(self.conversation(messages), add_generation_prompt=True)


def resolve_template(
    tokenizer: Any,
    *,
    template: str = "",
    name: str = "",
    default_system_prompt: str = "",
    last_turn_only: bool = False,
) -> ChatTemplate:
    """The template a job uses (see the module docstring for the order), with `tokenizer`'s special
    tokens (a transformers fast tokenizer)."""
    special = {
        key: str(value)
        for key in ("bos_token", "eos_token", "pad_token", "unk_token")
        if isinstance(value := getattr(tokenizer, key, None), str)
    }
    eos = special.get("eos_token", "")
    if template.strip():
        source, origin, end = template, "spec", eos
    elif name:
        named = NAMED_TEMPLATES.get(name)
        if named is None:
            raise InvalidArgumentError(
                f"unknown chat template {name!r}",
                reason="UNKNOWN_CHAT_TEMPLATE",
                violations=[
                    FieldViolation("causal_lm.chat_template_name", f"use one of {', '.join(NAMED_TEMPLATES)}")
                ],
            )
        vocab = tokenizer.get_vocab()
        missing = [token for token in named.markers if token not in vocab]
        if missing or (named.end_of_turn is None and not eos):
            lacking = ", ".join(missing) or "an eos token"
            raise FailedPreconditionError(
                f"the base model's tokenizer lacks {lacking}, which the {name} template needs",
                reason="CHAT_TEMPLATE_TOKENS_MISSING",
                violations=[FieldViolation("causal_lm.chat_template_name", f"the tokenizer lacks {lacking}")],
            )
        source, origin, end = named.source, f"named:{name}", named.end_of_turn or eos
    else:
        own = getattr(tokenizer, "chat_template", None)
        if isinstance(own, dict):  # several named templates: the default one
            own = own.get("default")
        if not isinstance(own, str) or not own.strip():
            raise FailedPreconditionError(
                "the base model's tokenizer has no chat template; name one",
                reason="CHAT_TEMPLATE_REQUIRED",
                violations=[
                    FieldViolation(
                        "causal_lm.chat_template_name", f"required: one of {', '.join(NAMED_TEMPLATES)}"
                    )
                ],
            )
        source, origin, end = own, "tokenizer", eos
    resolved = ChatTemplate(
        source=source,
        origin=origin,
        special_tokens=special,
        end_of_turn=end,
        default_system_prompt=default_system_prompt,
        last_turn_only=last_turn_only,
    )
    _ = resolved.compiled  # invalid Jinja fails here, before any data is read
    return resolved


__all__ = [
    "NAMED_TEMPLATES",
    "ChatTemplate",
    "NamedTemplate",
    "Rendered",
    "compile_template",
    "resolve_template",
]
