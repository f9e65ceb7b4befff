"""Text normalization, the one implementation ingestion and inference share: options, the
string → string normalizer, and the same with each output character's span in the input.

Per `NormalizationOptions`, in this order: control characters removed (C0/C1 controls that are
not whitespace, and the invisible U+00AD, U+200B, U+2060, U+FEFF), Unicode normalization (NFC by
default, which only composes canonically equivalent sequences and keeps CJK punctuation and
symbols such as the full-width comma U+FF0C and "℃"; NFKC when `unicode_nfkc`, which folds
compatibility forms: U+FF0C → ",", "℃" → "°C", full-width letters → ASCII), full-width to half-width (U+FF01..U+FF5E
and the ideographic space U+3000; NFKC already does this, so it only matters with NFKC off),
traditional to simplified Chinese (OpenCC "t2s"), lowercase, and whitespace collapsed (runs
become one space, the ends are stripped; `keep_newlines` keeps newlines and line indentation,
for chat content).

A dataset version records the options its text was normalized with (`to_dict`); a model
version carries them from its training data, and the inference service normalizes raw input
with them (`normalize_mapped`) so that training and serving see the same text while offsets
still point into the caller's original text.

Rows that are already clean are returned as they are, found with `str.isascii` and one
precompiled regex, so clean ASCII data costs one check per row.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from foundry.runtime.errors import FailedPreconditionError

#: controls that are not whitespace, and invisible format characters
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff]+")
#: ASCII characters that make a text need work: controls, whitespace other than " ", capitals
_ASCII_CONTROL = "\x00-\x08\x0e-\x1b\x7f"
_ASCII_ODD_SPACE = "\t\n\r\x0b\x0c\x1c-\x1f"
_ASCII_ODD_CHAT_SPACE = "\t\r\x0b\x0c\x1c-\x1f"
_CHAT_INNER = re.compile(r"(?<=\S)(?:[^\S\n]{2,}|[^\S\n ])(?=\S)")
_CHAT_TRAILING = re.compile(r"[^\S\n]+(?=\n)")
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_CHUNKS = re.compile(r"\s+|\S+")
#: one input character's span `[start, end)` in the original text, per output character
OffsetMap = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class NormalizationOptions:
    """Text normalization; tokens and tags stay aligned. The defaults keep CJK punctuation."""

    unicode_nfkc: bool = False
    collapse_whitespace: bool = True
    strip_control_chars: bool = True
    fullwidth_to_halfwidth: bool = False
    traditional_to_simplified: bool = False
    lowercase: bool = False

    def to_dict(self) -> dict[str, bool]:
        """The options as JSON (what a dataset or model version records)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormalizationOptions:
        """The options a `to_dict` recorded (unknown keys ignored, missing ones default)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: bool(v) for k, v in data.items() if k in names})

    @property
    def unicode_form(self) -> Literal["NFC", "NFKC"]:
        """The Unicode normalization form applied: "NFKC" or "NFC"."""
        return "NFKC" if self.unicode_nfkc else "NFC"


def _opencc_t2s() -> Callable[[str], str]:
    try:
        import opencc
    except ImportError:
        raise FailedPreconditionError(
            "traditional_to_simplified needs the opencc package, which this server lacks",
            reason="OPENCC_MISSING",
        ) from None
    converter = opencc.OpenCC("t2s")
    convert: Callable[[str], str] = converter.convert
    return convert


class TextNormalizer:
    """A string → its normalized form, per `options`; `keep_newlines` for chat content."""

    def __init__(self, options: NormalizationOptions, *, keep_newlines: bool = False) -> None:
        self.options = options
        self._keep_newlines = keep_newlines
        odd = ""
        if options.strip_control_chars:
            odd += _ASCII_CONTROL
        if options.collapse_whitespace:
            odd += _ASCII_ODD_CHAT_SPACE if keep_newlines else _ASCII_ODD_SPACE
        if options.lowercase:
            odd += "A-Z"
        self._odd_char = re.compile(f"[{odd}]") if odd else None
        self._collapse = options.collapse_whitespace
        self._t2s = _opencc_t2s() if options.traditional_to_simplified else None

    def is_clean(self, text: str) -> bool:
        """Whether `text` is ASCII that normalization leaves as it is (a fast, partial test).

        One `isascii`, one search for a character class, and substring tests: no alternation
        regex, which would try each branch at every position.
        """
        if not text.isascii() or (self._odd_char is not None and self._odd_char.search(text)):
            return False
        if self._collapse and text:
            if "  " in text or text[0] == " " or text[-1] == " ":
                return False
            if self._keep_newlines and (" \n" in text or text[0] == "\n" or text[-1] == "\n"):
                return False
        return True

    def __call__(self, text: str) -> str:
        if self.is_clean(text):
            return text
        options = self.options
        if options.strip_control_chars:
            text = _CONTROL.sub("", text)
        text = unicodedata.normalize(options.unicode_form, text)
        if options.fullwidth_to_halfwidth and not options.unicode_nfkc and not text.isascii():
            text = text.translate(_FULLWIDTH)
        if self._t2s is not None and not text.isascii():
            text = self._t2s(text)
        if options.lowercase:
            text = text.lower()
        if options.collapse_whitespace:
            text = self._collapse_lines(text) if self._keep_newlines else " ".join(text.split())
        return text

    @staticmethod
    def _collapse_lines(text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = _CHAT_INNER.sub(" ", text)
        text = _CHAT_TRAILING.sub("", text)
        return text.strip()


def normalize_mapped(normalizer: TextNormalizer, text: str) -> tuple[str, OffsetMap]:
    """`normalizer(text)` (no `keep_newlines`) and, per character of it, the span `[start, end)`
    of `text` it came from, so that offsets into the normalized text map back to `text`.

    The text is normalized piece by piece (a character with the combining marks that follow it;
    else whitespace-separated chunks; else the whole text) at the finest cut whose pieces,
    normalized apart, give the same string as the whole; whitespace is collapsed last, each
    kept space standing for its whole run.
    """
    if normalizer.is_clean(text):
        return text, [(i, i + 1) for i in range(len(text))]
    expected = normalizer(text)
    piecewise = TextNormalizer(replace(normalizer.options, collapse_whitespace=False))
    whole = piecewise(text)
    chars: list[str] = []
    spans: OffsetMap = []
    for cuts in (_clusters(text), [m.span() for m in _CHUNKS.finditer(text)], [(0, len(text))]):
        pieces = [(piecewise(text[start:end]), start, end) for start, end in cuts]
        if "".join(piece for piece, _, _ in pieces) == whole:
            chars = [c for piece, _, _ in pieces for c in piece]
            spans = [(start, end) for piece, start, end in pieces for _ in piece]
            break
    if normalizer.options.collapse_whitespace:
        chars, spans = _collapse_mapped(chars, spans)
    if "".join(chars) != expected:  # not expected; keep the text right, offsets coarse
        return expected, [(0, len(text))] * len(expected)
    return expected, spans


def original_span(mapping: OffsetMap, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that the normalized span `[start, end)` came from."""
    if not mapping:
        return 0, 0
    if end <= start:
        position = mapping[min(start, len(mapping) - 1)][0]
        return position, position
    return mapping[start][0], mapping[end - 1][1]


def _clusters(text: str) -> list[tuple[int, int]]:
    """Each character with the combining marks (and Hangul medial/final jamo) that follow it."""
    cuts: list[tuple[int, int]] = []
    start = 0
    for index in range(1, len(text)):
        char = text[index]
        if unicodedata.combining(char) or "\u1160" <= char <= "\u11ff":
            continue
        cuts.append((start, index))
        start = index
    if text:
        cuts.append((start, len(text)))
    return cuts


def _collapse_mapped(chars: list[str], spans: OffsetMap) -> tuple[list[str], OffsetMap]:
    """`" ".join(text.split())` on mapped characters: a kept space spans its whole run."""
    out: list[str] = []
    out_spans: OffsetMap = []
    run: tuple[int, int] | None = None
    for char, span in zip(chars, spans, strict=True):
        if char.isspace():
            run = span if run is None else (run[0], span[1])
            continue
        if run is not None and out:
            out.append(" ")
            out_spans.append(run)
        run = None
        out.append(char)
        out_spans.append(span)
    return out, out_spans


__all__ = ["NormalizationOptions", "TextNormalizer", "normalize_mapped", "original_span"]
