"""Streaming text out of token ids: incremental detokenization and stop sequences.

`IncrementalDetokenizer` emits only complete UTF-8 text: a byte-level token that ends inside a
multi-byte character decodes to U+FFFD, so its text is held until a later token completes it
(the prefix/read offset scheme of text-generation-inference). Decoding starts from a few of the
prompt's last tokens, so tokenizers that drop a leading space when a sequence starts (SentencePiece)
still give the right first piece.

`StopMatcher` holds back any tail of the text that could still grow into a stop sequence, so
a stop string that straddles several tokens is never streamed in part; when one matches, the text
before it is released and the rest is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

#: prompt tokens decoding starts from
PROMPT_CONTEXT_TOKENS = 5
REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Token ids in, valid text deltas out."""

    def __init__(self, tokenizer: Tokenizer, prompt_ids: Sequence[int] = ()) -> None:
        self.tokenizer = tokenizer
        self.ids = list(prompt_ids[-PROMPT_CONTEXT_TOKENS:])
        self.prefix_offset = 0
        self.read_offset = len(self.ids)

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def push(self, token: int) -> str:
        """The text that `token` completes ("" while a character is incomplete)."""
        self.ids.append(token)
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        text = self._decode(self.ids[self.prefix_offset :])
        if len(text) > len(prefix) and not text.endswith(REPLACEMENT):
            self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)
            return text[len(prefix) :]
        return ""

    def flush(self) -> str:
        """Whatever is still held (an incomplete character comes out as U+FFFD)."""
        prefix = self._decode(self.ids[self.prefix_offset : self.read_offset])
        text = self._decode(self.ids[self.prefix_offset :])
        self.prefix_offset = self.read_offset = len(self.ids)
        return text[len(prefix) :] if len(text) > len(prefix) else ""


class StopMatcher:
    """Text in, text that cannot be part of a stop sequence out."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [stop for stop in stops if stop]
        self.held = ""

    def push(self, text: str) -> tuple[str, str | None]:
        """(text safe to stream, the stop sequence that matched or None)."""
        buffer = self.held + text
        matches = [(index, stop) for stop in self.stops if (index := buffer.find(stop)) >= 0]
        if matches:
            index, stop = min(matches, key=lambda m: (m[0], -len(m[1])))
            self.held = ""
            return buffer[:index], stop
        keep = max((_overlap(buffer, stop) for stop in self.stops), default=0)
        self.held = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep], None

    def flush(self) -> str:
        """The held text (generation ended without a match)."""
        held, self.held = self.held, ""
        return held


def _overlap(text: str, stop: str) -> int:
    """Length of the longest end of `text` that is a proper start of `stop`."""
    for size in range(min(len(stop) - 1, len(text)), 0, -1):
        if text.endswith(stop[:size]):
            return size
    return 0


__all__ = ["IncrementalDetokenizer", "StopMatcher"]
