"""Tag schemes, repair, validity, and spans ⇄ tags (foundry.domain.tags)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from foundry.domain.formats import TagScheme
from foundry.domain.tags import (
    TagError,
    bioes_to_iob2,
    entity_type,
    entity_types,
    iob2_to_bioes,
    is_valid_iob2,
    label_entity_type,
    mention_tags,
    mentions,
    parse_tag,
    repair_iob2,
    segments,
    spans_at,
    spans_from_tags,
    tag_set,
    tags_at,
    tags_from_spans,
    to_iob2,
)
from foundry.runtime.examples import Span

WNUT_TRAIN = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17" / "wnut17train.conll"


def wnut_sentences() -> list[tuple[list[str], list[str]]]:
    """Every sentence of the WNUT-17 train file as (tokens, tags)."""
    sentences: list[tuple[list[str], list[str]]] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in WNUT_TRAIN.read_text(encoding="utf-8").split("\n"):
        columns = line.split()
        if columns:
            tokens.append(columns[0])
            tags.append(columns[-1])
        elif tokens:
            sentences.append((tokens, tags))
            tokens, tags = [], []
    if tokens:
        sentences.append((tokens, tags))
    return sentences


@pytest.fixture(scope="module")
def wnut() -> list[tuple[list[str], list[str]]]:
    return wnut_sentences()


# --- parsing and validity --------------------------------------------------------------------------


def test_parse_tag_splits_prefix_and_type_at_the_first_dash() -> None:
    assert parse_tag("O") == ("O", "")
    assert parse_tag("B-person") == ("B", "person")
    assert parse_tag("I-creative-work") == ("I", "creative-work")
    assert entity_type("S-LOC") == "LOC"


@pytest.mark.parametrize("tag", ["", "B", "B-", "X-PER", "O-PER", "-PER", "BI-PER", "B-P ER", "b-per"])
def test_malformed_tags_raise(tag: str) -> None:
    with pytest.raises(TagError) as caught:
        parse_tag(tag)
    assert caught.value.reason == "invalid_tag"


@pytest.mark.parametrize(
    ("tags", "valid"),
    [
        ([], True),
        (["O", "O"], True),
        (["B-X", "I-X", "O", "B-Y"], True),
        (["B-X", "B-X", "I-X"], True),
        (["I-X"], False),
        (["O", "I-X"], False),
        (["B-X", "I-Y"], False),
        (["S-X"], False),
        (["B-X", "E-X"], False),
        (["B-X", "bogus"], False),
    ],
)
def test_is_valid_iob2(tags: list[str], valid: bool) -> None:
    assert is_valid_iob2(tags) is valid


# --- repair and conversion ---------------------------------------------------------------------------


def test_repair_turns_entity_starting_i_tags_into_b_tags() -> None:
    assert repair_iob2(["I-X", "I-X", "O", "I-Y", "B-Y", "I-X"]) == (
        ["B-X", "I-X", "O", "B-Y", "B-Y", "B-X"],
        3,
    )
    assert repair_iob2(["B-X", "I-X"]) == (["B-X", "I-X"], 0)


def test_iob1_converts_like_repair_but_counts_as_conversion() -> None:
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]
    result = to_iob2(iob1, TagScheme.IOB1)
    assert result.tags == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert (result.converted, result.repaired) == (2, 0)


def test_bioes_and_bilou_convert_to_iob2() -> None:
    assert bioes_to_iob2(["S-X", "B-Y", "I-Y", "E-Y", "U-Z", "B-W", "L-W", "O"]) == (
        ["B-X", "B-Y", "I-Y", "I-Y", "B-Z", "B-W", "I-W", "O"],
        4,
    )
    result = to_iob2(["B-Y", "E-Y", "S-X"])  # detected as BIOES
    assert (result.tags, result.converted, result.repaired) == (["B-Y", "I-Y", "B-X"], 2, 0)


def test_bmes_middle_tokens_convert_to_inside() -> None:
    """BMES (Chinese corpora: ResumeNER, MSRA): M-X is a middle token of an X entity."""
    result = to_iob2(["B-ORG", "M-ORG", "M-ORG", "E-ORG", "O", "S-LOC"])  # detected
    assert result.tags == ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "B-LOC"]
    assert (result.converted, result.repaired) == (4, 0)
    assert to_iob2(["B-X", "M-X", "E-X"], TagScheme.BIOES).tags == ["B-X", "I-X", "I-X"]
    with pytest.raises(TagError):
        to_iob2(["B-X", "M-X"], TagScheme.IOB2)  # not IOB2 as declared


def test_a_tag_after_a_closed_entity_starts_a_new_one() -> None:
    """ "E-X M-X E-X" is two X entities (the first closed by E), never one merged mention."""
    assert bioes_to_iob2(["B-X", "E-X", "M-X", "E-X"]) == (["B-X", "I-X", "B-X", "I-X"], 3)
    assert to_iob2(["S-X", "E-X", "O"]).tags == ["B-X", "B-X", "O"]
    assert to_iob2(["S-X", "E-Y"]).tags == ["B-X", "B-Y"]  # another type: repaired as before


def test_invalid_bioes_is_converted_then_repaired() -> None:
    result = to_iob2(["O", "E-X"], TagScheme.BIOES)
    assert (result.tags, result.converted, result.repaired) == (["O", "B-X"], 1, 1)


def test_invalid_iob2_is_repaired_or_rejected() -> None:
    result = to_iob2(["O", "I-X", "I-X"])
    assert (result.tags, result.converted, result.repaired) == (["O", "B-X", "I-X"], 0, 1)
    with pytest.raises(TagError) as caught:
        to_iob2(["O", "I-X", "I-X"], TagScheme.IOB2, repair=False)
    assert (caught.value.reason, caught.value.index) == ("invalid_tag_sequence", 1)


def test_valid_iob2_comes_back_uncopied() -> None:
    tags = ["B-X", "I-X", "O"]
    result = to_iob2(tags, TagScheme.IOB2)
    assert result.tags is tags
    assert (result.converted, result.repaired) == (0, 0)


def test_bioes_prefix_in_declared_iob2_data_is_an_invalid_tag() -> None:
    with pytest.raises(TagError) as caught:
        to_iob2(["O", "S-X"], TagScheme.IOB2)
    assert (caught.value.reason, caught.value.index) == ("invalid_tag", 1)


def test_malformed_tag_reports_its_index() -> None:
    with pytest.raises(TagError) as caught:
        to_iob2(["O", "O", "Z-X"])
    assert caught.value.index == 2


# --- properties on real data ----------------------------------------------------------------------------


def test_wnut_train_is_valid_iob2(wnut: list[tuple[list[str], list[str]]]) -> None:
    assert len(wnut) == 3394
    assert all(is_valid_iob2(tags) for _, tags in wnut)


def test_iob2_bioes_iob2_round_trip_on_every_wnut_sentence(wnut: list[tuple[list[str], list[str]]]) -> None:
    converted = 0
    for _, tags in wnut:
        bioes = iob2_to_bioes(tags)
        assert len(bioes) == len(tags)
        assert not any(tag.startswith("I-") and i + 1 == len(bioes) for i, tag in enumerate(bioes))
        result = to_iob2(bioes, TagScheme.BIOES)
        assert result.tags == tags
        assert result.repaired == 0
        converted += result.converted
    assert converted > 1000  # every entity has an S- or an E-: WNUT has 1975 entities


def test_spans_tags_round_trip_on_every_wnut_sentence(wnut: list[tuple[list[str], list[str]]]) -> None:
    entities = 0
    for tokens, tags in wnut:
        text, spans = spans_from_tags(tokens, tags)
        assert text == " ".join(tokens)
        entities += len(spans)
        for span in spans:
            assert text[span.start : span.end].strip() == text[span.start : span.end]
        assert tags_from_spans(text, spans) == (tokens, tags)
    assert entities == 1975


def test_iob1_view_of_wnut_converts_back(wnut: list[tuple[list[str], list[str]]]) -> None:
    """IOB2 → IOB1 (B- only between adjacent entities of one type) → IOB2 is the identity."""
    for _, tags in wnut:
        iob1 = []
        previous = "O"
        for tag in tags:
            if tag.startswith("B-") and previous[2:] != tag[2:]:
                iob1.append("I-" + tag[2:])
            else:
                iob1.append(tag)
            previous = tag
        assert to_iob2(iob1, TagScheme.IOB1).tags == tags


def test_repair_always_yields_valid_iob2_on_random_sequences() -> None:
    rng = random.Random(7)
    alphabet = ["O", "B-X", "I-X", "B-Y", "I-Y"]
    for _ in range(2000):
        tags = [rng.choice(alphabet) for _ in range(rng.randint(0, 12))]
        repaired, count = repair_iob2(tags)
        assert is_valid_iob2(repaired)
        assert count == sum(a != b for a, b in zip(tags, repaired, strict=True))
        if is_valid_iob2(tags):
            assert count == 0
        bioes_tags = iob2_to_bioes(repaired)
        assert to_iob2(bioes_tags, TagScheme.BIOES).tags == repaired


# --- spans ------------------------------------------------------------------------------------------------


def test_spans_from_tags_uses_char_offsets_of_the_space_joined_text() -> None:
    text, spans = spans_from_tags(
        ["Ünï", "lives", "in", "New", "York"], ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    )
    assert text == "Ünï lives in New York"
    assert spans == [Span(0, 3, "PER"), Span(13, 21, "LOC")]
    assert spans_from_tags([], []) == ("", [])


def test_spans_from_tags_is_lenient_with_invalid_sequences() -> None:
    _, spans = spans_from_tags(["a", "b", "c"], ["I-X", "I-Y", "I-Y"])
    assert spans == [Span(0, 1, "X"), Span(2, 5, "Y")]


def test_tags_from_spans_tokenizes_on_whitespace() -> None:
    tokens, tags = tags_from_spans(" Ann\tlives  in New York ", [Span(1, 4, "PER"), Span(15, 23, "LOC")])
    assert tokens == ["Ann", "lives", "in", "New", "York"]
    assert tags == ["B-PER", "O", "O", "B-LOC", "I-LOC"]


@pytest.mark.parametrize(
    ("spans", "reason", "index"),
    [
        ([Span(0, 2, "PER")], "span_misaligned", 0),
        ([Span(0, 3, "PER"), Span(4, 10, "X")], "span_misaligned", 1),
        ([Span(0, 3, "PER"), Span(0, 9, "X")], "overlapping_spans", 1),
        ([Span(3, 3, "PER")], "span_out_of_range", 0),
        ([Span(-1, 3, "PER")], "span_out_of_range", 0),
        ([Span(0, 99, "PER")], "span_out_of_range", 0),
        ([Span(0, 3, "")], "invalid_tag", 0),
        ([Span(0, 3, "P R")], "invalid_tag", 0),
    ],
)
def test_bad_spans_raise(spans: list[Span], reason: str, index: int) -> None:
    with pytest.raises(TagError) as caught:
        tags_from_spans("Ann lives here", spans)
    assert (caught.value.reason, caught.value.index, caught.value.field) == (reason, index, "spans")


# --- the shared helpers (labeling, training, inference and augmentation read tags through them) -------


def test_segments_cover_every_token_and_mentions_are_the_typed_ones() -> None:
    tags = ["O", "O", "B-PER", "I-PER", "I-LOC", "O", "B-X", "B-X"]
    assert segments(tags) == [(0, 2, ""), (2, 4, "PER"), (4, 5, "LOC"), (5, 6, ""), (6, 7, "X"), (7, 8, "X")]
    assert mentions(tags) == [(2, 4, "PER"), (4, 5, "LOC"), (6, 7, "X"), (7, 8, "X")]
    assert segments([]) == [] and mentions(["O", "O"]) == []
    with pytest.raises(TagError):
        segments(["O", "PER"])


def test_spans_and_tags_at_any_token_offsets() -> None:
    text = "Ann  lives in New York"
    offsets = [(0, 3), (5, 10), (11, 13), (14, 17), (18, 22)]
    tags = ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    spans = spans_at(offsets, tags)
    assert spans == [Span(0, 3, "PER"), Span(14, 22, "LOC")]
    assert tags_at(offsets, text, spans) == tags
    with pytest.raises(TagError) as caught:
        tags_at(offsets, text, [Span(14, 22, "LOC"), Span(0, 4, "PER")])
    assert (caught.value.reason, caught.value.index) == ("span_misaligned", 1)


def test_tag_sets_and_label_entity_types() -> None:
    assert tag_set(["PER", "LOC"]) == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    assert [label_entity_type(x) for x in ("B-PER", "I-PER", "S-PER", "PER", "B-", "creative-work")] == [
        "PER",
        "PER",
        "PER",
        "PER",
        "B-",
        "creative-work",
    ]
    assert entity_types(["B-PER", "I-PER", "O", "B-LOC"]) == ["PER", "LOC"]
    assert mention_tags("LOC", 3) == ["B-LOC", "I-LOC", "I-LOC"]
