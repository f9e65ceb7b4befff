"""Quality filters: each threshold at and past its bound, drop reasons, counts and source lines,
the text of each payload, and language identification (a stub, and py3langid offline)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from foundry.ingestion.langid import LanguageGuess, Py3LangidIdentifier
from foundry.ingestion.options import QualityFilters
from foundry.ingestion.quality import (
    QualityStep,
    non_printable_ratio,
    repeated_char_ratio,
    repeated_line_ratio,
    row_text,
)
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Provenance


def row(text: str | None, line: int = 1) -> Example:
    return Example(id=f"r{line}", text=text, provenance=Provenance("data.jsonl", line))


def kept(filters: QualityFilters, *texts: str) -> tuple[list[str | None], QualityStep]:
    step = QualityStep(filters)
    out = list(step.run(row(text, line) for line, text in enumerate(texts, start=1)))
    return [example.text for example in out], step


# --- measures ---------------------------------------------------------------------------------------


def test_measures() -> None:
    assert repeated_char_ratio("aaab") == 0.75
    assert repeated_char_ratio("a a a b") == 0.75  # spaces do not count
    assert repeated_char_ratio("   ") == 0.0
    assert repeated_line_ratio("x\ny\nx\nx") == 0.5
    assert repeated_line_ratio("x\n\n  x  \n") == 0.5  # blank lines skipped, lines stripped
    assert repeated_line_ratio("one line") == 0.0
    assert non_printable_ratio("ab\x00\x01") == 0.5
    assert non_printable_ratio("tab\tand\nnewline\r") == 0.0
    assert non_printable_ratio("") == 0.0


def test_row_text_per_payload() -> None:
    assert row_text(Example(id="t", text="hello")) == ("hello", "text")
    assert row_text(Example(id="n", tokens=["a", "b"], tags=["O", "O"], text="ignored")) == ("a b", "tokens")
    chat = Example(id="c", messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "yo")])
    assert row_text(chat) == ("hi\nyo", "messages")
    assert row_text(Example(id="e")) == ("", "text")


# --- each filter ------------------------------------------------------------------------------------


def test_defaults_drop_only_empty_text() -> None:
    texts, step = kept(QualityFilters(), "fine", "", "   \n", "!!!!!!!!", "\x00\x00")
    assert texts == ["fine", "!!!!!!!!", "\x00\x00"]
    assert step.report.drop_reasons == {"empty_text": 2}
    assert [(v.reason, v.line, v.field, v.example_id) for v in step.report.violations] == [
        ("empty_text", 2, "text", "r2"),
        ("empty_text", 3, "text", "r3"),
    ]
    assert (step.report.rows_in, step.report.rows_out) == (5, 3)


def test_empty_kept_when_drop_empty_is_off() -> None:
    texts, step = kept(QualityFilters(drop_empty=False), "", "x")
    assert texts == ["", "x"] and not step.report.drop_reasons


def test_row_without_payload_counts_as_empty() -> None:
    step = QualityStep(QualityFilters())
    assert step.apply(Example(id="none")) is None
    assert step.report.drop_reasons == {"empty_text": 1}


def test_char_bounds() -> None:
    texts, step = kept(QualityFilters(min_chars=3, max_chars=5), "ab", "abc", "abcde", "abcdef")
    assert texts == ["abc", "abcde"]
    assert step.report.drop_reasons == {"too_short_chars": 1, "too_long_chars": 1}
    assert step.report.violations[0].description == "2 characters, fewer than min_chars=3"


def test_word_bounds() -> None:
    texts, step = kept(QualityFilters(min_words=2, max_words=3), "one", "one two", "a b  c", "a b c d")
    assert texts == ["one two", "a b  c"]
    assert step.report.drop_reasons == {"too_few_words": 1, "too_many_words": 1}


def test_repeated_char_ratio_bound() -> None:
    filters = QualityFilters(max_repeated_char_ratio=0.5)
    texts, step = kept(filters, "aabb", "aaab", "hello world", "!!!!!!!!!!!! ok", "zzzzzzzzzz")
    assert texts == ["aabb", "hello world"]  # 0.5 is allowed; 0.75, 0.86 and 1.0 are not
    assert step.report.drop_reasons == {"repeated_char_ratio": 3}
    assert "0.750 above max_repeated_char_ratio=0.5" in step.report.violations[0].description


def test_repeated_line_ratio_bound() -> None:
    filters = QualityFilters(max_repeated_line_ratio=0.3)
    spam = "buy now\nbuy now\nbuy now\nreal line"
    some = "a\nb\nc\na"  # 0.25
    texts, step = kept(filters, spam, some, "single line")
    assert texts == [some, "single line"]
    assert step.report.drop_reasons == {"repeated_line_ratio": 1}


def test_non_printable_ratio_bound() -> None:
    filters = QualityFilters(max_non_printable_ratio=0.1)
    texts, step = kept(filters, "clean\ttext\n", "ab\x00" + "c" * 7, "a\x00\x01\x02")
    assert texts == ["clean\ttext\n", "ab\x00" + "c" * 7]  # exactly 0.1 passes
    assert step.report.drop_reasons == {"non_printable_ratio": 1}


def test_first_failing_check_names_the_reason() -> None:
    filters = QualityFilters(min_chars=10, max_repeated_char_ratio=0.2)
    _, step = kept(filters, "aaaa")  # fails both: length comes first
    assert step.report.drop_reasons == {"too_short_chars": 1}


def test_tokens_and_chat_are_judged_by_their_text() -> None:
    step = QualityStep(QualityFilters(min_words=3))
    ner_short = Example(id="n1", tokens=["Hi", "Bob"], tags=["O", "B-person"], provenance=Provenance("f", 10))
    ner_ok = Example(id="n2", tokens=["Hi", "there", "Bob"], tags=["O", "O", "B-person"])
    chat_ok = Example(id="c1", messages=[ChatMessage("user", "hello"), ChatMessage("assistant", "hi there")])
    chat_short = Example(id="c2", messages=[ChatMessage("user", "hi")], provenance=Provenance("f", 12))
    out = list(step.run([ner_short, ner_ok, chat_ok, chat_short]))
    assert out == [ner_ok, chat_ok] and out[0] is ner_ok
    assert [(v.field, v.line) for v in step.report.violations] == [("tokens", 10), ("messages", 12)]


def test_kept_rows_are_the_same_objects() -> None:
    rows = [row("some text", 1), row("more text", 2)]
    step = QualityStep(QualityFilters(min_chars=1, max_repeated_char_ratio=0.9))
    out = list(step.run(rows))
    assert all(a is b for a, b in zip(out, rows, strict=True))
    assert step.report.rows_modified == 0


def test_violations_capped_counts_complete() -> None:
    step = QualityStep(QualityFilters())
    list(step.run(row("", line) for line in range(1, 51)))
    assert step.report.drop_reasons == {"empty_text": 50}
    assert len(step.report.violations) == step.report.max_violations


# --- language ---------------------------------------------------------------------------------------


class StubIdentifier:
    """Answers from a table: text → (language, confidence)."""

    def __init__(self, answers: dict[str, tuple[str, float]]) -> None:
        self.answers = answers
        self.calls = 0

    @property
    def languages(self) -> frozenset[str]:
        return frozenset({"en", "fr", "de"})

    def identify(self, text: str) -> LanguageGuess:
        self.calls += 1
        return LanguageGuess(*self.answers[text])


def test_language_filter_is_off_by_default() -> None:
    step = QualityStep(QualityFilters())
    assert step.identifier is None


def test_language_filter_with_stub() -> None:
    stub = StubIdentifier(
        {"en text": ("en", 0.9), "fr text": ("fr", 0.95), "unsure": ("en", 0.4), "edge": ("en", 0.5)}
    )
    step = QualityStep(
        QualityFilters(allowed_languages=("en",), min_language_confidence=0.5), identifier=stub
    )
    out = list(step.run([row("en text", 1), row("fr text", 2), row("unsure", 3), row("edge", 4), row("", 5)]))
    assert [r.text for r in out] == ["en text", "edge"]
    assert step.report.drop_reasons == {
        "language_not_allowed": 1,
        "language_low_confidence": 1,
        "empty_text": 1,
    }
    assert step.report.counters == {"language.en": 3, "language.fr": 1}
    assert stub.calls == 4  # the empty row never reaches the identifier


def test_unknown_language_code_rejected() -> None:
    with pytest.raises(InvalidArgumentError) as error:
        QualityStep(QualityFilters(allowed_languages=("english",)), identifier=StubIdentifier({}))
    assert error.value.violations[0].field == "recipe.quality.allowed_languages"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: object, **kwargs: object) -> socket.socket:
        raise AssertionError("language identification tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


@pytest.mark.usefixtures("no_network")
def test_py3langid_offline() -> None:
    identifier = Py3LangidIdentifier()
    assert {"en", "fr", "de", "es", "zh"} <= identifier.languages
    assert identifier.identify("The weather is lovely today and we are going for a walk.").language == "en"
    assert (
        identifier.identify("Le temps est magnifique aujourd'hui et nous allons nous promener.").language
        == "fr"
    )
    assert identifier.identify("Das Wetter ist heute herrlich und wir gehen spazieren.").language == "de"
    assert identifier.identify("") == LanguageGuess("und", 0.0)
    step = QualityStep(QualityFilters(allowed_languages=("en",), min_language_confidence=0.5))
    out = list(
        step.run(
            [
                row("The weather is lovely today and we are going for a walk.", 1),
                row("Le temps est magnifique aujourd'hui et nous allons nous promener.", 2),
            ]
        )
    )
    assert [r.provenance.line for r in out] == [1]
    assert step.report.drop_reasons == {"language_not_allowed": 1}
