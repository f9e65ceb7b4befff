"""A chat model's tokenizer side: the tokenizer, its chat template, its end-of-sequence ids.

Read from a Hugging Face folder: `tokenizer.json` (run with the `tokenizers` library),
`tokenizer_config.json` (special tokens; `chat_template`, or `chat_template.jinja` beside it as
transformers 5 writes it), `generation_config.json` (`eos_token_id`, one or a list) and
`config.json` (the context length). The template is rendered server-side exactly as training
rendered it (`foundry.domain.chattemplates`, plain Jinja, no torch), with the generation
prompt; its text is tokenized without adding special tokens (the template writes them). A raw
prompt is tokenized as a Hugging Face tokenizer would (`add_special_tokens=True`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from foundry.domain.chattemplates import ChatTemplate
from foundry.runtime.errors import FailedPreconditionError, FieldViolation, InvalidArgumentError
from foundry.runtime.examples import ChatMessage

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"
GENERATION_CONFIG_FILE = "generation_config.json"
CONFIG_FILE = "config.json"
_SPECIAL = ("bos_token", "eos_token", "pad_token", "unk_token")
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length")


@dataclass(frozen=True)
class ChatTokenizer:
    """Prompt → token ids (chat template applied), and the ids that end generation."""

    tokenizer: Tokenizer
    template: ChatTemplate | None
    eos_ids: frozenset[int]
    #: longest sequence (prompt + generated) the model takes; None when the config does not say
    context_length: int | None

    @classmethod
    def from_folder(cls, folder: str | Path) -> ChatTokenizer:
        root = Path(folder)
        tokenizer = Tokenizer.from_file(str(root / TOKENIZER_FILE))
        config = _json(root / TOKENIZER_CONFIG_FILE)
        special = {key: text for key in _SPECIAL if (text := _token_text(config.get(key)))}
        source = config.get("chat_template")
        if isinstance(source, list):  # several named templates: the default one
            source = next((t.get("template") for t in source if t.get("name") == "default"), None)
        if not source and (root / CHAT_TEMPLATE_FILE).is_file():
            source = (root / CHAT_TEMPLATE_FILE).read_text("utf-8")
        template = ChatTemplate(source=source, origin="tokenizer", special_tokens=special) if source else None
        eos: set[int] = set()
        wanted = _json(root / GENERATION_CONFIG_FILE).get("eos_token_id")
        eos.update(wanted if isinstance(wanted, list) else [wanted] if isinstance(wanted, int) else [])
        if "eos_token" in special and (eos_id := tokenizer.token_to_id(special["eos_token"])) is not None:
            eos.add(eos_id)
        model_config = _json(root / CONFIG_FILE)
        context = next(
            (int(model_config[k]) for k in _CONTEXT_KEYS if isinstance(model_config.get(k), int)), None
        )
        return cls(tokenizer, template, frozenset(eos), context)

    def encode_messages(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The conversation with the chat template and the assistant's generation prompt."""
        if self.template is None:
            raise FailedPreconditionError(
                "this model has no chat template; send a raw prompt instead of messages",
                reason="NO_CHAT_TEMPLATE",
                violations=[FieldViolation("messages", "the model has no chat template")],
            )
        text = self.template.prompt(messages)
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def encode_prompt(self, prompt: str) -> list[int]:
        """A raw prompt, as is."""
        ids = list(self.tokenizer.encode(prompt, add_special_tokens=True).ids)
        if not ids:
            raise InvalidArgumentError(
                "the prompt has no tokens", violations=[FieldViolation("prompt", "encodes to no tokens")]
            )
        return ids


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = json.loads(path.read_text("utf-8"))
    return value if isinstance(value, dict) else {}


def _token_text(value: Any) -> str:
    """A special token as tokenizer_config.json writes it: a string, or {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


__all__ = ["ChatTokenizer"]
