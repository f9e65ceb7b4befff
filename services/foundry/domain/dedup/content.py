"""What de-duplication compares: an example's content key, label signature and content digest.

The content key is the text that duplicates share, per task family, with white space collapsed
(runs of white space become one space, the ends are stripped; case and everything else as the
normalization step left them):

- classification: the text;
- token classification: the tokens joined by single spaces (as the spans' text is);
- chat: "role: content" per message, one per line. `ChatDedupScope.CONVERSATION` takes every
  message; `ChatDedupScope.PROMPT` the messages before the last assistant message (all of them
  when there is none).

The label signature is what two duplicates must agree on, or they conflict: the label; the
sorted distinct labels of a multi-label row; the tag sequence of a token row; for chat with the
PROMPT scope, the response (the last assistant message and any after it). An empty signature
means "unlabeled", which conflicts with nothing. With the CONVERSATION scope the whole
conversation is the content, so chat rows have no signature.

The digest is 16 bytes of BLAKE2b over the key's UTF-8.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum

from foundry.runtime.examples import ChatMessage, Example


class ChatDedupScope(StrEnum):
    """What chat de-duplication compares (the zero value means CONVERSATION)."""

    CONVERSATION = "conversation"
    PROMPT = "prompt"


DIGEST_BYTES = 16
_ASSISTANT = "assistant"


def collapse_whitespace(text: str) -> str:
    """`text` with every run of white space made one space and its ends stripped."""
    return " ".join(text.split())


def _last_assistant(messages: Sequence[ChatMessage]) -> int:
    """The index of the last assistant message, or -1."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == _ASSISTANT:
            return index
    return -1


def _render(messages: Sequence[ChatMessage]) -> str:
    return "\n".join(f"{m.role}: {collapse_whitespace(m.content)}" for m in messages)


def content_key(example: Example, chat_scope: ChatDedupScope = ChatDedupScope.CONVERSATION) -> str:
    """The normalized text that duplicates of `example` share (see the module docstring)."""
    if example.messages is not None:
        messages = example.messages
        if chat_scope is ChatDedupScope.PROMPT:
            last = _last_assistant(messages)
            messages = messages[:last] if last >= 0 else messages
        return _render(messages)
    if example.tokens is not None:
        return collapse_whitespace(" ".join(example.tokens))
    return collapse_whitespace(example.text or "")


def label_signature(example: Example, chat_scope: ChatDedupScope = ChatDedupScope.CONVERSATION) -> str:
    """What duplicates of `example` must agree on; "" for an unlabeled row."""
    if example.messages is not None:
        if chat_scope is not ChatDedupScope.PROMPT:
            return ""
        last = _last_assistant(example.messages)
        return _render(example.messages[last:]) if last >= 0 else ""
    if example.tags is not None:
        return " ".join(example.tags)
    if example.labels is not None:
        return "|".join(sorted(set(example.labels)))
    return example.label or ""


def content_digest(key: str) -> bytes:
    """The 16-byte BLAKE2b digest of a content key."""
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=DIGEST_BYTES).digest()
