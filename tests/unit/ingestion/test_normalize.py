"""Normalization (foundry.ingestion.normalize): text rules, token alignment, chat, counts."""

from __future__ import annotations

import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from foundry.domain.formats import SourceSpec
from foundry.domain.readers import open_reader
from foundry.domain.tags import is_valid_iob2, spans_from_tags
from foundry.domain.textjoin import join_tokens
from foundry.domain.textnorm import NormalizationOptions, TextNormalizer
from foundry.ingestion.normalize import NormalizeStep
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span, Task


def fullwidth(text: str) -> str:
    """`text` with its printable ASCII in full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


#: the compatibility normalization (not the default): folds full-width forms, ligatures, the full-width comma U+FF0C
NFKC = NormalizationOptions(unicode_nfkc=True)
WNUT_TRAIN = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17" / "wnut17train.conll"


def ner(tokens: list[str], tags: list[str] | None) -> Example:
    if tags is None:
        return Example(id="n", tokens=tokens, text=join_tokens(tokens), provenance=Provenance("f", 1))
    text, spans = spans_from_tags(tokens, tags)
    return Example(id="n", tokens=tokens, tags=tags, text=text, spans=spans, provenance=Provenance("f", 1))


def normalize_one(
    example: Example, options: NormalizationOptions | None = None
) -> tuple[Example, NormalizeStep]:
    step = NormalizeStep(options or NormalizationOptions(), Task.TOKEN_CLASSIFICATION)
    out = list(step.run([example]))
    assert len(out) == 1
    return out[0], step


# --- text rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a\u00a0b  c\t\nd ", "a b c d"),
        ("x\u200by\x01z\u00ad\x7f", "xyz"),  # controls and invisible characters
        ("\ufeffBOM", "BOM"),
        ("   ", ""),
        ("already clean", "already clean"),
        ("温度２５℃\uff0c很热。", "温度２５℃\uff0c很热。"),  # CJK punctuation, symbols and full width kept
        ("ﬁne cafe\u0301", "ﬁne café"),  # NFC: composed, the ligature kept
        ("你好\uff0c\u3000世界", "你好\uff0c 世界"),  # the ideographic space is whitespace
    ],
)
def test_default_rules(raw: str, clean: str) -> None:
    assert TextNormalizer(NormalizationOptions())(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (fullwidth("Hello,\u3000world!123"), "Hello, world!123"),  # full width and the ideographic space
        ("ﬁne café", "fine café"),  # NFKC ligature; composed é kept
        ("ｶﾀｶﾅ", "カタカナ"),  # half-width katakana become full width (NFKC)
        ("温度25℃\uff0c很热", "温度25°C,很热"),
    ],
)
def test_nfkc_rules(raw: str, clean: str) -> None:
    assert TextNormalizer(NFKC)(raw) == clean


def test_fullwidth_without_nfkc_and_each_rule_can_be_turned_off() -> None:
    only_width = NormalizationOptions(unicode_nfkc=False, fullwidth_to_halfwidth=True)
    assert TextNormalizer(only_width)(fullwidth("Hi\u3000ﬁ")) == "Hi ﬁ"
    off = NormalizationOptions(
        unicode_nfkc=False, collapse_whitespace=False, strip_control_chars=False, fullwidth_to_halfwidth=False
    )
    assert TextNormalizer(off)(fullwidth(" Hi\x01  x ")) == fullwidth(" Hi\x01  x ")


def test_lowercase() -> None:
    assert TextNormalizer(NormalizationOptions(lowercase=True))("New YORK Ä") == "new york ä"


def test_traditional_to_simplified_chinese() -> None:
    pytest.importorskip("opencc")
    normalize = TextNormalizer(NormalizationOptions(traditional_to_simplified=True))
    assert normalize("漢字簡體轉換\uff0c開放中文") == "汉字简体转换\uff0c开放中文"
    assert normalize("plain ascii") == "plain ascii"


def test_missing_opencc_is_a_failed_precondition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opencc", None)
    with pytest.raises(FailedPreconditionError):
        TextNormalizer(NormalizationOptions(traditional_to_simplified=True))


def test_chat_keeps_newlines_and_indentation() -> None:
    normalize = TextNormalizer(NormalizationOptions(), keep_newlines=True)
    raw = "Hello   world \r\n\r\n  def f():\n\t  return  1  \n\n"
    assert normalize(raw) == "Hello world\n\n  def f():\n\t  return 1"
    assert normalize("clean\nlines") == "clean\nlines"


def test_is_clean_fast_path() -> None:
    normalize = TextNormalizer(NormalizationOptions())
    assert normalize.is_clean("plain ascii text.")
    for dirty in ("two  spaces", " lead", "trail ", "tab\there", "ctrl\x01", "caf\u00e9"):
        assert not normalize.is_clean(dirty)
    assert not TextNormalizer(NormalizationOptions(lowercase=True)).is_clean("Capital")


# --- rows ------------------------------------------------------------------------------------------------


def test_clean_rows_come_back_as_they_are() -> None:
    example = ner(["New", "York"], ["B-LOC", "I-LOC"])
    out, step = normalize_one(example)
    assert out is example
    assert step.report.rows_modified == 0


def test_token_that_becomes_empty_is_removed_and_tags_repaired() -> None:
    example = ner(["\u200b", "York", "is", "\x01", "big"], ["B-LOC", "I-LOC", "O", "O", "O"])
    out, step = normalize_one(example)
    assert out.tokens == ["York", "is", "big"]
    assert out.tags == ["B-LOC", "O", "O"]
    assert out.text == "York is big"
    assert out.spans == [Span(0, 4, "LOC")]
    counters = step.report.counters
    assert (counters["tokens_removed"], counters["tags_repaired"], step.report.rows_modified) == (2, 1, 1)


def test_token_with_inner_space_is_split_and_tagged_inside() -> None:
    example = ner(["In", "New\u00a0York", "City", "today\u3000now"], ["O", "B-LOC", "I-LOC", "O"])
    out, step = normalize_one(example)
    assert out.tokens == ["In", "New", "York", "City", "today", "now"]
    assert out.tags == ["O", "B-LOC", "I-LOC", "I-LOC", "O", "O"]
    assert out.spans == [Span(3, 16, "LOC")]
    assert step.report.counters["tokens_split"] == 2


def test_unlabeled_tokens_are_normalized_without_tags() -> None:
    out, _ = normalize_one(ner([fullwidth("Hi"), "\u200b", "there"], None), NFKC)
    assert (out.tokens, out.tags, out.text, out.spans) == (["Hi", "there"], None, "Hi there", None)


def test_rows_with_broken_tags_pass_through_for_validation() -> None:
    mismatched = Example(id="m", tokens=[fullwidth("Hi"), "x"], tags=["O"], text=fullwidth("Hi") + " x")
    malformed = Example(id="b", tokens=[fullwidth("Hi"), "x"], tags=["O", "Q-X"], text=fullwidth("Hi") + " x")
    for example in (mismatched, malformed):
        out, _ = normalize_one(example)
        assert out is example


def test_text_and_chat_rows() -> None:
    step = NormalizeStep(NFKC, Task.CHAT)
    chat = Example(
        id="c",
        messages=[ChatMessage("user", fullwidth("Hi  there\nfriend ")), ChatMessage("assistant", "ok")],
    )
    text = Example(id="t", text=fullwidth("  Text\u3000row "), label="x")
    clean = Example(id="k", messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "ok")])
    out = list(step.run([chat, text, clean]))
    assert out[0].messages == [ChatMessage("user", "Hi there\nfriend"), ChatMessage("assistant", "ok")]
    assert out[1].text == "Text row" and out[1].label == "x"
    assert out[2] is clean
    assert (step.report.rows_in, step.report.rows_out, step.report.rows_modified) == (3, 3, 2)


# --- the whole WNUT-17 train file ----------------------------------------------------------------------------


def _noisy(example: Example, rng: random.Random) -> Example:
    """The example with tokens made full width, split by odd spaces, or emptied, at random."""
    assert example.tokens is not None and example.tags is not None
    tokens = []
    for token in example.tokens:
        roll = rng.random()
        if roll < 0.05:
            token = "\u200b"  # becomes empty: removed
        elif roll < 0.10:
            token = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in token)
        elif roll < 0.13 and len(token) > 1:
            token = token[:1] + "\u3000" + token[1:]  # becomes two tokens
        tokens.append(token)
    return Example(
        id=example.id, tokens=tokens, tags=example.tags, text=" ".join(tokens), spans=example.spans
    )


@pytest.mark.parametrize("lowercase", [False, True])
def test_wnut_train_stays_aligned_and_valid(lowercase: bool) -> None:
    with WNUT_TRAIN.open("rb") as handle:
        examples = list(
            open_reader(handle, SourceSpec(file_name="wnut17train.conll"), Task.TOKEN_CLASSIFICATION)
        )
    rng = random.Random(17)
    noisy = [_noisy(e, rng) for e in examples]
    step = NormalizeStep(replace(NFKC, lowercase=lowercase), Task.TOKEN_CLASSIFICATION)
    out = list(step.run(noisy))
    assert len(out) == 3394
    for before, after in zip(examples, out, strict=True):
        assert after.tokens is not None and after.tags is not None
        assert len(after.tokens) == len(after.tags)
        assert all(token and " " not in token for token in after.tokens)
        assert is_valid_iob2(after.tags)
        assert (after.text, after.spans) == spans_from_tags(after.tokens, after.tags)
        assert {s.label for s in after.spans or []} <= {s.label for s in before.spans or []}
    counters = step.report.counters
    assert counters["tokens_removed"] > 2000 and counters["tokens_split"] > 1000
    assert counters["tags_repaired"] > 0
    assert step.report.rows_modified > 2000
