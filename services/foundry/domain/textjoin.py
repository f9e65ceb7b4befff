"""Tokens → the text they stand for, and each token's char offsets in it: the one rule every
service uses to make `Example.text` (and the spans into it) from `Example.tokens`.

Tokens are joined by single spaces, except where no space belongs:

- next to a CJK character (Han ideographs, kana, Bopomofo, CJK symbols and punctuation such as
  "。" and the full-width comma U+FF0C, other full-width punctuation):
  "我 爱 北京 New York" → "我爱北京New York";
- anywhere in a character-level CJK sentence (every token one character, at least one of them
  CJK), where digits and Latin letters are single tokens too: "2 0 0 8 年" → "2008年".

Between two tokens of other scripts (Latin, Cyrillic, Hangul, ...) there is one space, so
English CoNLL text is exactly the tokens joined by single spaces; all-ASCII tokens take that
path at the cost of one `str.isascii`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: CJK radicals, symbols and punctuation, kana, Bopomofo, CJK strokes, enclosed and compatibility
#: forms, ideographs (BMP and the supplementary planes), CJK compatibility forms, full-width
#: punctuation and symbols and half-width katakana (not full-width letters and digits)
_CJK = re.compile(
    "[\u2e80-\u2fdf\u2ff0-\u303f\u3040-\u312f\u3190-\u31ff\u3200-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff9f\uffe0-\uffee"
    "\U00020000-\U0003ffff]"
)


def is_cjk(char: str) -> bool:
    """Whether `char` (one character) is written without spaces around it (see the module doc)."""
    return _CJK.match(char) is not None


def join_tokens(tokens: Sequence[str]) -> str:
    """The text that `tokens` make (see the module doc)."""
    text = " ".join(tokens)
    if text.isascii():
        return text
    return join_with_offsets(tokens)[0]


def joined_offsets(tokens: Sequence[str]) -> list[tuple[int, int]]:
    """Char offsets `[start, end)` of each token in `join_tokens(tokens)`."""
    return join_with_offsets(tokens)[1]


def join_with_offsets(tokens: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """`join_tokens(tokens)` and each token's char offsets `[start, end)` in it."""
    text = " ".join(tokens)
    if text.isascii():
        out: list[tuple[int, int]] = []
        position = 0
        for token in tokens:
            out.append((position, position + len(token)))
            position += len(token) + 1
        return text, out
    char_level = all(len(token) == 1 for token in tokens) and any(is_cjk(token) for token in tokens)
    pieces: list[str] = []
    offsets: list[tuple[int, int]] = []
    position = 0
    previous = ""
    for token in tokens:
        if pieces and not (char_level or _glued(previous, token)):
            pieces.append(" ")
            position += 1
        pieces.append(token)
        offsets.append((position, position + len(token)))
        position += len(token)
        previous = token
    return "".join(pieces), offsets


def _glued(left: str, right: str) -> bool:
    """Whether no space goes between tokens `left` and `right` (a CJK character at the seam)."""
    return bool(left) and bool(right) and (is_cjk(left[-1]) or is_cjk(right[0]))


__all__ = ["is_cjk", "join_tokens", "join_with_offsets", "joined_offsets"]
