"""Text normalization step ("normalize"): `foundry.domain.textnorm` applied to every row.

The string normalization itself (NFC or NFKC, control characters, whitespace, width, script,
case) lives in `foundry.domain.textnorm`, which the inference service applies to raw input too.

- Text classification: the text.
- Token classification: each token. A token that becomes empty is removed with its tag; a token
  that comes to hold spaces is split in several, the later pieces tagged I-X after a B-X/I-X;
  the tags are then repaired to stay valid IOB2 (a removed B-X before an I-X makes it B-X), and
  text and spans are recomputed. Counters: tokens_removed, tokens_split, tags_repaired.
- Chat: each message's content, keeping its newlines ("\\r\\n" becomes "\\n") and its line
  indentation (code), collapsing other whitespace runs within lines and trailing whitespace.

Rows that are already clean are returned as they are, found with `str.isascii` and one
precompiled regex, so clean ASCII data costs one check per row.
"""

from __future__ import annotations

from dataclasses import replace

from foundry.domain.steps import Step
from foundry.domain.tags import TagError, parse_tag, repair_iob2, spans_from_tags
from foundry.domain.textjoin import join_tokens
from foundry.domain.textnorm import NormalizationOptions, TextNormalizer
from foundry.runtime.examples import ChatMessage, Example, Task


class NormalizeStep(Step):
    """Normalizes every row's text (tokens, message contents) per `NormalizationOptions`."""

    name = "normalize"

    def __init__(self, options: NormalizationOptions, task: Task) -> None:
        super().__init__()
        self.options = options
        self.task = task
        self._text = TextNormalizer(options)
        self._chat = TextNormalizer(options, keep_newlines=True)
        self._split_tokens = options.collapse_whitespace

    def apply(self, example: Example) -> Example | None:
        if example.tokens is not None:
            return self._tokens(example)
        if example.messages is not None:
            return self._messages(example)
        if example.text is not None:
            text = self._text(example.text)
            if text != example.text:
                return replace(example, text=text)
        return example

    def _messages(self, example: Example) -> Example:
        assert example.messages is not None
        normalize = self._chat
        contents = [normalize(m.content) for m in example.messages]
        if all(
            new is m.content or new == m.content for new, m in zip(contents, example.messages, strict=True)
        ):
            return example
        messages = [ChatMessage(m.role, c) for m, c in zip(example.messages, contents, strict=True)]
        return replace(example, messages=messages)

    def _tokens(self, example: Example) -> Example:
        tokens, tags = example.tokens, example.tags
        assert tokens is not None
        normalize = self._text
        joined = example.text if example.text is not None else join_tokens(tokens)
        if normalize.is_clean(joined) and "" not in tokens:
            return example
        if tags is not None and len(tags) != len(tokens):
            return example  # validation drops it
        try:
            return self._rewrite_tokens(example, tokens, tags)
        except TagError:
            return example  # a malformed tag: validation drops it

    def _rewrite_tokens(self, example: Example, tokens: list[str], tags: list[str] | None) -> Example:
        normalize = self._text
        new_tokens: list[str] = []
        new_tags: list[str] | None = None if tags is None else []
        removed = split = 0
        for index, token in enumerate(tokens):
            new = normalize(token)
            if not new:
                removed += 1
                continue
            if self._split_tokens and " " in new:
                pieces = new.split(" ")
                split += len(pieces) - 1
                new_tokens.extend(pieces)
                if new_tags is not None and tags is not None:
                    new_tags.extend(_piece_tags(tags[index], len(pieces)))
                continue
            new_tokens.append(new)
            if new_tags is not None and tags is not None:
                new_tags.append(tags[index])
        if new_tokens == tokens:
            return example
        counters = self.report.counters
        counters["tokens_removed"] += removed
        counters["tokens_split"] += split
        if new_tags is None:
            return replace(example, tokens=new_tokens, text=join_tokens(new_tokens))
        if removed:
            new_tags, repaired = repair_iob2(new_tags)
            counters["tags_repaired"] += repaired
        text, spans = spans_from_tags(new_tokens, new_tags)
        return replace(example, tokens=new_tokens, tags=new_tags, text=text, spans=spans)


def _piece_tags(tag: str, pieces: int) -> list[str]:
    """The tags of a token split in `pieces`: the tag, then I-X (or O) for the rest."""
    prefix, type_ = parse_tag(tag)
    rest = "O" if prefix == "O" else "I-" + type_
    return [tag] + [rest] * (pieces - 1)
