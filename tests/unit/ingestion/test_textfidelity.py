"""Text fidelity: tokens joined without spaces around CJK characters (exact span offsets), the
default normalization keeping CJK punctuation and symbols, NFKC on request, and the offset map
from normalized text back to the original (`foundry.domain.textjoin`, `foundry.domain.textnorm`)."""

from __future__ import annotations

import io

import pytest

from foundry.domain.formats import SourceSpec
from foundry.domain.readers import open_reader
from foundry.domain.tags import spans_from_tags
from foundry.domain.textjoin import join_tokens, join_with_offsets, joined_offsets
from foundry.domain.textnorm import NormalizationOptions, TextNormalizer, normalize_mapped, original_span
from foundry.ingestion.normalize import NormalizeStep
from foundry.runtime.examples import Example, Span, Task

COMMA = "\uff0c"  # the full-width comma


def fullwidth(text: str) -> str:
    """`text` (printable ASCII) in full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


# --- joining ----------------------------------------------------------------------------------------


def test_english_tokens_are_joined_by_single_spaces_as_before() -> None:
    tokens = ["EU", "rejects", "German", "call", "."]
    assert join_tokens(tokens) == "EU rejects German call ."
    assert joined_offsets(tokens) == [(0, 2), (3, 10), (11, 17), (18, 22), (23, 24)]
    assert join_tokens(["café", "au", "lait"]) == "café au lait"  # non-ASCII Latin: spaces kept
    assert join_tokens(["서울", "에서"]) == "서울 에서"  # Hangul is written with spaces


def test_character_level_chinese_is_joined_without_spaces_with_exact_offsets() -> None:
    tokens = ["我", "在", "北", "京", "工", "作", COMMA, "2", "0", "0", "8", "年", "。"]
    tags = ["O", "O", "B-LOC", "I-LOC", "O", "O", "O", "B-DATE", "I-DATE", "I-DATE", "I-DATE", "I-DATE", "O"]
    text, spans = spans_from_tags(tokens, tags)
    assert text == f"我在北京工作{COMMA}2008年。"
    assert spans == [Span(2, 4, "LOC"), Span(7, 12, "DATE")]
    assert [text[s.start : s.end] for s in spans] == ["北京", "2008年"]


def test_mixed_scripts_get_a_space_only_between_non_cjk_tokens() -> None:
    tokens = ["我", "爱", "New", "York", COMMA, "also", "東京", "と", "大阪", "!"]
    text, offsets = join_with_offsets(tokens)
    assert text == f"我爱New York{COMMA}also東京と大阪!"
    assert [text[a:b] for a, b in offsets] == tokens
    tags = ["O", "O", "B-LOC", "I-LOC", "O", "O", "B-LOC", "O", "B-LOC", "O"]
    _, spans = spans_from_tags(tokens, tags)
    assert [text[s.start : s.end] for s in spans] == ["New York", "東京", "大阪"]
    assert join_tokens([fullwidth("abc"), fullwidth("def")]) == fullwidth("abc") + " " + fullwidth(
        "def"
    )  # full-width letters are not CJK


def test_conll_reader_joins_a_character_level_chinese_corpus_without_spaces() -> None:
    data = "中 B-ORG\n国 I-ORG\n银 I-ORG\n行 I-ORG\n在 O\n上 B-LOC\n海 I-LOC\n。 O\n\nEU B-ORG\nrejects O\n\n"
    rows = list(
        open_reader(io.BytesIO(data.encode()), SourceSpec(file_name="msra.conll"), Task.TOKEN_CLASSIFICATION)
    )
    assert [r.text for r in rows] == ["中国银行在上海。", "EU rejects"]
    chinese = rows[0]
    assert chinese.spans == [Span(0, 4, "ORG"), Span(5, 7, "LOC")]
    assert chinese.text is not None and chinese.text[5:7] == "上海"
    assert rows[1].spans == [Span(0, 2, "ORG")]


def test_normalizing_character_tokens_keeps_the_text_joined_and_spans_right() -> None:
    tokens = ["上", "海", "\u200b", "很", "热"]
    text, spans = spans_from_tags(tokens, ["B-LOC", "I-LOC", "O", "O", "O"])
    step = NormalizeStep(NormalizationOptions(), Task.TOKEN_CLASSIFICATION)
    (out,) = step.run(
        [Example(id="z", tokens=tokens, tags=["B-LOC", "I-LOC", "O", "O", "O"], text=text, spans=spans)]
    )
    assert (out.text, out.spans) == ("上海很热", [Span(0, 2, "LOC")])


# --- normalization ----------------------------------------------------------------------------------


def test_the_default_keeps_cjk_punctuation_and_symbols_and_nfkc_is_an_option() -> None:
    raw = f"温度２５℃{COMMA}很热"
    assert NormalizationOptions().unicode_form == "NFC"
    assert TextNormalizer(NormalizationOptions())(raw) == raw
    assert TextNormalizer(NormalizationOptions(unicode_nfkc=True))(raw) == "温度25°C,很热"
    options = NormalizationOptions(unicode_nfkc=True, lowercase=True)
    assert NormalizationOptions.from_dict(options.to_dict()) == options


@pytest.mark.parametrize(
    "options",
    [
        NormalizationOptions(),
        NormalizationOptions(unicode_nfkc=True),
        NormalizationOptions(unicode_nfkc=True, lowercase=True),
        NormalizationOptions(fullwidth_to_halfwidth=True, collapse_whitespace=False),
    ],
)
@pytest.mark.parametrize(
    "raw",
    [
        "plain ascii",
        f"  {fullwidth('25')}℃  {fullwidth('alice')}\u200b lives\tin {fullwidth('paris')}{COMMA}ok ",
        "ﬁne cafe\u0301 İstanbul",
        "\u1100\u1161\u11a8 한국",  # conjoining jamo that NFC/NFKC compose
        "",
    ],
)
def test_normalize_mapped_gives_the_normalized_text_and_spans_into_the_original(
    options: NormalizationOptions, raw: str
) -> None:
    normalizer = TextNormalizer(options)
    text, mapping = normalize_mapped(normalizer, raw)
    assert text == normalizer(raw)
    assert len(mapping) == len(text)
    for start, end in mapping:
        assert 0 <= start < end <= len(raw)
    assert [a for a, _ in mapping] == sorted(a for a, _ in mapping)


def test_a_word_of_the_normalized_text_maps_back_to_its_raw_characters() -> None:
    raw = f"{fullwidth('25')}℃  {fullwidth('alice')} lives in {fullwidth('paris')}{COMMA}ok"
    text, mapping = normalize_mapped(TextNormalizer(NormalizationOptions(unicode_nfkc=True)), raw)
    assert text == "25°C alice lives in paris,ok"
    for word in ("25°C", "alice", "paris", "ok"):
        start = text.index(word)
        a, b = original_span(mapping, start, start + len(word))
        assert TextNormalizer(NormalizationOptions(unicode_nfkc=True))(raw[a:b]) == word
    a, b = original_span(mapping, text.index("alice"), text.index("alice") + 5)
    assert raw[a:b] == fullwidth("alice")
