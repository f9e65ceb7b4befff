"""`QualityStep` ("quality"): drop rows whose text is empty, too short or long, or junk.

The text a row is judged by is its payload as a reader sees it: the text of a classification
row, the tokens joined by single spaces for token classification, the message contents joined
by newlines for chat. The checks run in this order and the first that fails drops the row, as
a `RowViolation` with its reason, the row's source line and id:

| reason | drops a row when (bounds of 0, ratios of None, are off) |
| --- | --- |
| empty_text | `drop_empty` and the text is empty or white space only |
| too_short_chars / too_long_chars | characters < `min_chars` / > `max_chars` |
| too_few_words / too_many_words | white-space separated words < `min_words` / > `max_words` |
| repeated_char_ratio | the most frequent non-space character's share of non-space characters > `max_repeated_char_ratio` |
| repeated_line_ratio | the share of non-blank lines that repeat an earlier line (stripped) > `max_repeated_line_ratio` |
| non_printable_ratio | the share of characters that are not printable (tab, newline and carriage return aside) > `max_non_printable_ratio` |
| language_low_confidence | a language filter is set and the identifier's confidence < `min_language_confidence` |
| language_not_allowed | a language filter is set and the identified language is not in `allowed_languages` |

Words are white-space separated, so a CJK sentence without spaces counts as one word. The
language filter is off unless `allowed_languages` is set; it costs about 0.1 ms a row and is
unreliable on short informal texts (see `langid.py`). Identified languages are counted under
"language.<code>" in the report's counters.
"""

from __future__ import annotations

from collections import Counter

from foundry.domain.steps import RowViolation, Step
from foundry.domain.textjoin import join_tokens
from foundry.ingestion.langid import LanguageIdentifier, Py3LangidIdentifier
from foundry.ingestion.options import QualityFilters
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example

_ALLOWED_CONTROLS = frozenset("\t\n\r")


def row_text(example: Example) -> tuple[str, str]:
    """The text a row is judged by, and the field it comes from."""
    if example.tokens is not None:
        return join_tokens(example.tokens), "tokens"
    if example.messages is not None:
        return "\n".join(message.content for message in example.messages), "messages"
    return example.text or "", "text"


def repeated_char_ratio(text: str) -> float:
    """The most frequent non-space character's share of the non-space characters (0 if none)."""
    visible = "".join(text.split())
    return max(Counter(visible).values()) / len(visible) if visible else 0.0


def repeated_line_ratio(text: str) -> float:
    """The share of non-blank lines (stripped) that repeat an earlier line (0 for one line)."""
    lines = [stripped for line in text.splitlines() if (stripped := line.strip())]
    if len(lines) < 2:
        return 0.0
    return (len(lines) - len(set(lines))) / len(lines)


def non_printable_ratio(text: str) -> float:
    """The share of characters that are not printable, tab, newline and carriage return aside."""
    if not text or text.isprintable():
        return 0.0
    bad = sum(1 for char in text if not char.isprintable() and char not in _ALLOWED_CONTROLS)
    return bad / len(text)


class QualityStep(Step):
    """Drops rows that fail `filters` (see the module docstring for the checks and reasons).

    `identifier` is the language identifier of the language filter; the default, created only
    when `filters.allowed_languages` is set, is py3langid's bundled model. Raises
    `InvalidArgumentError` for a language code the identifier does not know.
    """

    name = "quality"

    def __init__(self, filters: QualityFilters, *, identifier: LanguageIdentifier | None = None) -> None:
        super().__init__()
        self.filters = filters
        self.allowed_languages = frozenset(filters.allowed_languages)
        self.identifier: LanguageIdentifier | None = None
        if self.allowed_languages:
            self.identifier = identifier if identifier is not None else Py3LangidIdentifier()
            unknown = sorted(self.allowed_languages - self.identifier.languages)
            if unknown:
                raise InvalidArgumentError(
                    f"unknown language codes {unknown}",
                    reason="INVALID_OPTIONS",
                    violations=[
                        FieldViolation(
                            "recipe.quality.allowed_languages",
                            f"unknown codes {unknown}: use ISO 639-1 codes such as 'en'",
                        )
                    ],
                )

    def apply(self, example: Example) -> Example | None:
        text, field = row_text(example)
        failure = self._check(text)
        if failure is None:
            return example
        reason, description = failure
        self.report.drop(
            RowViolation(
                reason, description, line=example.provenance.line, field=field, example_id=example.id
            )
        )
        return None

    def _check(self, text: str) -> tuple[str, str] | None:
        """The (reason, description) of the first check `text` fails, or None."""
        f = self.filters
        if f.drop_empty and (not text or text.isspace()):
            return "empty_text", "the text is empty"
        chars = len(text)
        if f.min_chars and chars < f.min_chars:
            return "too_short_chars", f"{chars} characters, fewer than min_chars={f.min_chars}"
        if f.max_chars and chars > f.max_chars:
            return "too_long_chars", f"{chars} characters, more than max_chars={f.max_chars}"
        if f.min_words or f.max_words:
            words = len(text.split())
            if f.min_words and words < f.min_words:
                return "too_few_words", f"{words} words, fewer than min_words={f.min_words}"
            if f.max_words and words > f.max_words:
                return "too_many_words", f"{words} words, more than max_words={f.max_words}"
        ratios = (
            ("repeated_char_ratio", f.max_repeated_char_ratio, repeated_char_ratio),
            ("repeated_line_ratio", f.max_repeated_line_ratio, repeated_line_ratio),
            ("non_printable_ratio", f.max_non_printable_ratio, non_printable_ratio),
        )
        for reason, bound, measure in ratios:
            if bound is not None:
                ratio = measure(text)
                if ratio > bound:
                    return reason, f"{reason.replace('_', ' ')} {ratio:.3f} above max_{reason}={bound:g}"
        if self.identifier is not None:
            return self._check_language(text)
        return None

    def _check_language(self, text: str) -> tuple[str, str] | None:
        assert self.identifier is not None
        guess = self.identifier.identify(text)
        self.report.counters[f"language.{guess.language}"] += 1
        minimum = self.filters.min_language_confidence
        if guess.confidence < minimum:
            return (
                "language_low_confidence",
                f"language {guess.language!r} at confidence {guess.confidence:.2f}, "
                f"below min_language_confidence={minimum:g}",
            )
        if guess.language not in self.allowed_languages:
            return "language_not_allowed", f"language {guess.language!r} is not in allowed_languages"
        return None
