"""Text → model rows with the `tokenizers` library, offsets kept, long inputs read in windows.

Normalization. A model whose training data recorded a text normalization (`NormalizationOptions`,
from its model version) gets its input normalized the same way first (`foundry.domain.textnorm`):
raw text as a whole, pre-tokenized input word by word. Offsets still index the caller's
original text: each normalized character knows the span of the input it came from
(`normalize_mapped`), so a word's span is mapped back even where normalization changed lengths.

Words. Pre-tokenized input is encoded exactly as training encoded it (`is_pretokenized`): the
words joined by single spaces form the text that entity offsets index into. Raw text is encoded
as is; its words are the tokenizer's own pre-tokenization (BERT: split at whitespace and
punctuation, one word per CJK character), each with its character span in the caller's
ORIGINAL text: the tokenizer reports offsets in code points of the input string, through its
normalizer (lowercasing, accent stripping), so nothing is re-derived from normalized text.

Windows. An input whose tokens do not fit the model's sequence length (special tokens included)
is read in overlapping windows, never cut: token classification cuts at word boundaries, each
window sharing about `stride_tokens` tokens with the next, and each word is decided by the
window in which it has the most context on both sides (`Encoded.owner`); classification slides
token windows with the same overlap and averages their probabilities. Only a single word longer
than a whole window loses sub-tokens after its first `budget` (its label comes from its first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Encoding, Tokenizer

from foundry.domain.textnorm import NormalizationOptions, TextNormalizer, normalize_mapped, original_span

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Window:
    """One model row: token ids with special tokens, and each token's word (-1: special)."""

    ids: IntArray
    word_ids: IntArray
    first_word: int
    end_word: int


@dataclass(frozen=True, slots=True)
class Encoded:
    """An input as the model reads it."""

    text: str
    #: per word: (start, end) code-point offsets into `text` (token classification)
    word_spans: list[tuple[int, int]]
    windows: list[Window]
    #: per word: the window whose prediction decides it (-1: the word has no token)
    owner: IntArray


class Encoder:
    """Encodes inputs for one model; thread-safe (the tokenizer is used read-only)."""

    def __init__(
        self,
        tokenizer_path: Path,
        max_seq_length: int,
        stride_tokens: int,
        normalization: NormalizationOptions | None = None,
    ) -> None:
        self.normalizer = None if normalization is None else TextNormalizer(normalization)
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        probe = tokenizer.encode("a")
        body = [i for i, special in enumerate(probe.special_tokens_mask) if not special]
        self.prefix = list(probe.ids[: body[0]]) if body else []
        self.suffix = list(probe.ids[body[-1] + 1 :]) if body else list(probe.ids)
        self.max_seq_length = max_seq_length
        self.budget = max_seq_length - len(self.prefix) - len(self.suffix)
        if self.budget < 1:
            raise ValueError(f"sequence length {max_seq_length} leaves no room for tokens")
        self.stride = min(stride_tokens, self.budget // 2)
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    # --- token classification -----------------------------------------------------------------

    def words(self, words: Sequence[str]) -> Encoded:
        """Pre-tokenized words (each normalized for the model); offsets index `" ".join(words)`."""
        spans, start = [], 0
        for word in words:
            spans.append((start, start + len(word)))
            start += len(word) + 1
        normalize = self.normalizer
        model_words = list(words) if normalize is None else [normalize(word) for word in words]
        encoding = self.tokenizer.encode(model_words, is_pretokenized=True, add_special_tokens=False)
        word_ids = np.array([-1 if w is None else w for w in encoding.word_ids], np.int64)
        return self._word_windows(" ".join(words), spans, np.array(encoding.ids, np.int64), word_ids)

    def text(self, text: str) -> Encoded:
        """Raw text; words are the tokenizer's pre-tokenization (of the normalized text), spans
        index `text` itself."""
        if self.normalizer is None:
            encoding = self.tokenizer.encode(text, add_special_tokens=False)
            spans, word_ids = _raw_words(encoding)
        else:
            normalized, mapping = normalize_mapped(self.normalizer, text)
            encoding = self.tokenizer.encode(normalized, add_special_tokens=False)
            spans, word_ids = _raw_words(encoding)
            spans = [original_span(mapping, start, end) for start, end in spans]
        return self._word_windows(text, spans, np.array(encoding.ids, np.int64), word_ids)

    def _word_windows(
        self, text: str, spans: list[tuple[int, int]], ids: IntArray, word_ids: IntArray
    ) -> Encoded:
        n = len(spans)
        counts = np.bincount(word_ids[word_ids >= 0], minlength=n)[:n]
        end_tok = np.cumsum(counts)
        first_tok = end_tok - counts
        bounds = [(0, n)] if len(ids) <= self.budget else self._word_bounds(first_tok, end_tok)
        windows = []
        for first, end in bounds:
            lo = int(first_tok[first]) if n else 0
            hi = min(int(end_tok[end - 1]) if end > first else lo, lo + self.budget)
            windows.append(self._window(ids[lo:hi], word_ids[lo:hi], first, end))
        owner = np.full(n, -1, np.int64)
        best = np.full(n, -1, np.int64)
        for index, (first, end) in enumerate(bounds):
            for word in range(first, end):
                context = min(word - first, end - 1 - word)
                if counts[word] and context > best[word]:
                    best[word], owner[word] = context, index
        return Encoded(text, spans, windows, owner)

    def _word_bounds(self, first_tok: IntArray, end_tok: IntArray) -> list[tuple[int, int]]:
        n, bounds, start = len(first_tok), [], 0
        while True:
            end = start
            while end < n and end_tok[end] - first_tok[start] <= self.budget:
                end += 1
            end = max(end, start + 1)
            bounds.append((start, end))
            if end >= n:
                return bounds
            following = end
            while following - 1 > start and end_tok[end - 1] - first_tok[following - 1] <= self.stride:
                following -= 1
            start = following

    # --- classification ------------------------------------------------------------------------

    def sequence(self, text: str) -> Encoded:
        """A whole text for classification (normalized): one window, or overlapping token windows."""
        model_text = text if self.normalizer is None else self.normalizer(text)
        ids = np.array(self.tokenizer.encode(model_text, add_special_tokens=False).ids, np.int64)
        step = self.budget - self.stride
        starts = range(0, max(len(ids) - self.stride, 1), step) if len(ids) > self.budget else [0]
        windows = []
        for lo in starts:
            body = ids[lo : lo + self.budget]
            windows.append(self._window(body, np.full(len(body), -1, np.int64), 0, 0))
        return Encoded(text, [], windows, np.zeros(0, np.int64))

    def _window(self, ids: IntArray, word_ids: IntArray, first: int, end: int) -> Window:
        pre, post = np.array(self.prefix, np.int64), np.array(self.suffix, np.int64)
        return Window(
            ids=np.concatenate([pre, ids, post]),
            word_ids=np.concatenate([np.full(len(pre), -1), word_ids, np.full(len(post), -1)]).astype(
                np.int64
            ),
            first_word=first,
            end_word=end,
        )


def _raw_words(encoding: Encoding) -> tuple[list[tuple[int, int]], IntArray]:
    """Dense word ids in token order and each word's span (tokens without a word stand alone)."""
    spans: list[tuple[int, int]] = []
    dense = np.empty(len(encoding.ids), np.int64)
    previous: int | None = None
    for i, (word, (start, end)) in enumerate(zip(encoding.word_ids, encoding.offsets, strict=True)):
        if word is None or word != previous or not spans:
            spans.append((start, end))
        else:
            spans[-1] = (min(spans[-1][0], start), max(spans[-1][1], end))
        previous = word
        dense[i] = len(spans) - 1
    return spans, dense


__all__ = ["Encoded", "Encoder", "Window"]
