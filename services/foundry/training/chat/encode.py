"""Encode chat examples for causal-LM training: render, tokenize, mask everything but the assistant.

Each conversation is rendered with the job's chat template (`templates.ChatTemplate.render`),
tokenized whole without adding special tokens (the template writes them), and becomes one row of
an `EncodedSplit` of task CHAT:

- `input_ids`: the conversation's tokens;
- `labels` (flat, aligned with `input_ids`, NOT shifted): the token's own id where the token
  starts inside an assistant span, `IGNORE_INDEX` (-100) everywhere else: system, user and tool
  turns, the role headers the template writes, the whitespace between turns. The first token of
  a row is always ignored (nothing predicts it). The collator shifts labels by one for the loss;
- `truncated`: tokens cut from conversations longer than `max_length` (they keep their first
  `max_length` tokens).

`ChatEncoder` is the `data.cache.SplitEncoder` for chat: its `fingerprint` (the template's sha256)
enters the tokenization-cache key, so a change of template encodes again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from foundry.domain.chattemplates import ChatTemplate
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Example, Task
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import IGNORE_INDEX
from foundry.training.data.tokenizer import TokenizerInfo

#: example ids named in an error message
_ERROR_EXAMPLES = 5


def assistant_labels(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> np.ndarray:
    """Labels of one tokenized conversation: the id where a token starts inside an assistant span."""
    starts = np.fromiter((start for start, _ in offsets), np.int64, len(offsets))
    inside = np.zeros(len(offsets), bool)
    for begin, end in spans:
        inside |= (starts >= begin) & (starts < end)
    labels = np.where(inside, np.asarray(ids, np.int64), IGNORE_INDEX).astype(np.int32)
    if labels.size:
        labels[0] = IGNORE_INDEX
    return labels


@dataclass(frozen=True)
class ChatEncoder:
    """Encodes chat examples with a template and a tokenizer (a `data.cache.SplitEncoder`)."""

    template: ChatTemplate
    tokenizer: TokenizerInfo

    @property
    def fingerprint(self) -> dict[str, Any]:
        return {"chat_template_sha256": self.template.sha256}

    def encode(self, examples: Sequence[Example], max_length: int) -> EncodedSplit:
        without = [e.id for e in examples if not e.messages]
        if without:
            raise FailedPreconditionError(
                f"{len(without)} examples have no messages (e.g. {', '.join(without[:_ERROR_EXAMPLES])})",
                reason="EXAMPLES_DO_NOT_MATCH_TASK",
            )
        rendered = [self.template.render(e.messages or ()) for e in examples]
        no_turn = [e.id for e, r in zip(examples, rendered, strict=True) if not r.assistant_spans]
        if no_turn:
            raise FailedPreconditionError(
                f"{len(no_turn)} conversations have no assistant turn to train on "
                f"(e.g. {', '.join(no_turn[:_ERROR_EXAMPLES])})",
                reason="NO_ASSISTANT_TURN",
            )
        encodings = self.tokenizer.backend.encode_batch([r.text for r in rendered], add_special_tokens=False)
        ids: list[list[int]] = []
        labels: list[np.ndarray] = []
        truncated = np.zeros(len(examples), np.int32)
        for i, (encoding, render) in enumerate(zip(encodings, rendered, strict=True)):
            row = assistant_labels(encoding.ids, encoding.offsets, render.assistant_spans)
            truncated[i] = max(0, len(encoding.ids) - max_length)
            ids.append(encoding.ids[:max_length])
            labels.append(row[:max_length])
        offsets = np.zeros(len(ids) + 1, np.int64)
        np.cumsum([len(row) for row in ids], out=offsets[1:])
        return EncodedSplit(
            task=Task.CHAT,
            max_length=max_length,
            input_ids=np.fromiter(chain.from_iterable(ids), np.int32, int(offsets[-1])),
            offsets=offsets,
            labels=np.concatenate(labels) if labels else np.empty(0, np.int32),
            word_ids=np.empty(0, np.int32),
            row_example=np.arange(len(examples), dtype=np.int32),
            example_ids=tuple(e.id for e in examples),
            word_labels=np.empty(0, np.int32),
            word_offsets=np.zeros(1, np.int64),
            truncated=truncated,
        )


__all__ = ["ChatEncoder", "assistant_labels"]
