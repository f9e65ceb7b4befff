"""Text normalization (step "normalize"): NFKC, control characters, whitespace, width, script, case.

Per `NormalizationOptions`, in this order: control characters removed (C0/C1 controls that are
not whitespace, and the invisible U+00AD, U+200B, U+2060, U+FEFF), Unicode NFKC, full-width to
half-width (U+FF01..U+FF5E and the ideographic space U+3000; NFKC already does this, so it only
matters with NFKC off), traditional to simplified Chinese (OpenCC "t2s"), lowercase, and
whitespace collapsed (runs become one space, the ends are stripped).

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

import re
import unicodedata
from collections.abc import Callable
from dataclasses import replace

from foundry.domain.steps import Step
from foundry.domain.tags import TagError, parse_tag, repair_iob2, spans_from_tags
from foundry.ingestion.options import NormalizationOptions
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import ChatMessage, Example, Task

#: controls that are not whitespace, and invisible format characters
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b\u2060\ufeff]+")
#: ASCII characters that make a text need work: controls, whitespace other than " ", capitals
_ASCII_CONTROL = "\x00-\x08\x0e-\x1b\x7f"
_ASCII_ODD_SPACE = "\t\n\r\x0b\x0c\x1c-\x1f"
_ASCII_ODD_CHAT_SPACE = "\t\r\x0b\x0c\x1c-\x1f"
_CHAT_INNER = re.compile(r"(?<=\S)(?:[^\S\n]{2,}|[^\S\n ])(?=\S)")
_CHAT_TRAILING = re.compile(r"[^\S\n]+(?=\n)")
_FULLWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


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
        self._options = options
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
        options = self._options
        if options.strip_control_chars:
            text = _CONTROL.sub("", text)
        if options.unicode_nfkc:
            text = unicodedata.normalize("NFKC", text)
        elif options.fullwidth_to_halfwidth and not text.isascii():
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
        text = _CHAT_TRAILING.sub("", _CHAT_INNER.sub(" ", text))
        return text.strip()


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
        joined = example.text if example.text is not None else " ".join(tokens)
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
            return replace(example, tokens=new_tokens, text=" ".join(new_tokens))
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
