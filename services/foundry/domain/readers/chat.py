"""Chat records to `ChatMessage` lists: OpenAI `messages`, ShareGPT `conversations`, Alpaca.

- OpenAI: `[{"role": ..., "content": ...}]`; content is a string or a list of parts of which
  the text parts are joined with newlines (other parts are unsupported).
- ShareGPT: `[{"from": ..., "value": ...}]`, with human → user, gpt → assistant, system →
  system (and the usual variants, see `SHAREGPT_ROLES`).
- Alpaca: `{"instruction", "input", "output"}` → a user message (the instruction, then a blank
  line and the input when the input is not empty) and an assistant message (the output).

Each item of a message list may take either list shape; roles are lower-cased and kept as they
are otherwise (validation checks them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from foundry.domain.readers.base import RowError
from foundry.runtime.examples import ChatMessage

SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bard": "assistant",
    "bing": "assistant",
    "model": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
}


def messages_from_list(value: Any, field: str) -> list[ChatMessage]:
    """Messages from an OpenAI or ShareGPT message list (or its JSON string, from CSV)."""
    if isinstance(value, str):
        value = _json_list(value, field)
    if not isinstance(value, list):
        raise RowError("wrong_type", f"{field} must be a list of messages, not {type(value).__name__}", field)
    messages: list[ChatMessage] = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise RowError("wrong_type", f"{where} must be an object", where)
        if "role" in item or "content" in item:
            role, content = _role(item.get("role"), where), _content(item.get("content"), where)
        elif "from" in item or "value" in item:
            speaker = item.get("from")
            if not isinstance(speaker, str) or speaker.strip().lower() not in SHAREGPT_ROLES:
                raise RowError("unknown_role", f"{where}.from: unknown speaker {speaker!r}", f"{where}.from")
            role, content = SHAREGPT_ROLES[speaker.strip().lower()], _content(item.get("value"), where)
        else:
            raise RowError("missing_field", f"{where} has neither role/content nor from/value", where)
        messages.append(ChatMessage(role, content))
    return messages


def messages_from_alpaca(record: Mapping[str, Any]) -> list[ChatMessage]:
    """A user and an assistant message from an Alpaca record (instruction, input, output)."""
    instruction = _text_field(record, "instruction", required=True)
    extra = _text_field(record, "input", required=False)
    output = _text_field(record, "output", required=True)
    prompt = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [ChatMessage("user", prompt), ChatMessage("assistant", output)]


def _text_field(record: Mapping[str, Any], key: str, *, required: bool) -> str:
    value = record.get(key)
    if value is None:
        if required:
            raise RowError("missing_field", f"missing {key!r}", key)
        return ""
    if not isinstance(value, str):
        raise RowError("wrong_type", f"{key} must be a string, not {type(value).__name__}", key)
    return value


def _role(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RowError("missing_field", f"{where}.role is missing or not a string", f"{where}.role")
    return value.strip().lower()


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if (
                not isinstance(part, Mapping)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise RowError(
                    "unsupported_content", f"{where}.content has a non-text part", f"{where}.content"
                )
            texts.append(part["text"])
        return "\n".join(texts)
    if value is None:
        raise RowError("unsupported_content", f"{where} has no text content", f"{where}.content")
    raise RowError(
        "wrong_type", f"{where}.content must be a string, not {type(value).__name__}", f"{where}.content"
    )


def _json_list(value: str, field: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as error:
        raise RowError("wrong_type", f"{field} is not a JSON list: {error}", field) from None
