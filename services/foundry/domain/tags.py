"""Token tags, the one implementation every service uses: scheme conversion to IOB2, repair,
validity, tag sets, mentions and segments, and spans ⇄ tags.

Foundry stores IOB2 only: "O", "B-TYPE" (first token of an entity), "I-TYPE" (a following
token of the same entity). On input it also accepts

- IOB1: "I-X" starts an entity unless it follows an X token; "B-X" only separates two adjacent
  X entities. Converting it to IOB2 rewrites every entity-starting "I-X" to "B-X";
- BIOES / BILOU / BMES: "S-X"/"U-X" (a single-token entity) become "B-X", "E-X"/"L-X" (the last
  token) and "M-X" (a middle token, as Chinese corpora such as ResumeNER and MSRA write it)
  become "I-X".

An invalid IOB2 sequence (an "I-X" after "O", at the start, or after another type) is repaired
the same way IOB1 is converted: the "I-X" becomes "B-X". Conversions and repairs are counted
apart. Entity types may contain "-" ("I-creative-work" is type "creative-work").

Mentions are read leniently (an "I-X" that does not continue an X mention starts one), as
seqeval's lenient mode reads them. Spans are char offsets `[start, end)` into a text: by default
the text that the tokens make (`foundry.domain.textjoin`: single spaces, none around CJK
characters; Python `str` indices); `spans_at`
and `tags_at` take any token offsets (a labeling item's own text). Tags are parsed through a
small cache, since a dataset has few distinct tags and these functions run on every NER row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from foundry.domain.formats import TagScheme
from foundry.domain.textjoin import join_tokens, join_with_offsets
from foundry.runtime.examples import Span

OUTSIDE = "O"
#: (start, end, type): tokens[start:end]; type "" for a run of O tokens
Segment = tuple[int, int, str]
#: the prefixes accepted on input; IOB2 uses B, I and O only
_PREFIXES = frozenset("BIOESLUM")
_BIOES_ONLY = frozenset("ESLUM")
#: the prefixes that end an entity
_CLOSING = frozenset("ESLU")
_TO_IOB2_PREFIX = {"B": "B", "I": "I", "S": "B", "U": "B", "E": "I", "L": "I", "M": "I"}
_TOKEN = re.compile(r"\S+")
_MAX_CACHED_TAGS = 4096
#: tag → (prefix, type); "O" → ("O", "")
_PARSED: dict[str, tuple[str, str]] = {"O": ("O", "")}


class TagError(ValueError):
    """A malformed tag, an invalid tag sequence, or spans that do not fit the text's tokens.

    `reason` is stable and machine-readable ("invalid_tag", "invalid_tag_sequence",
    "span_out_of_range", "span_misaligned", "overlapping_spans"); `field` is "tags" or "spans";
    `index` is the offending tag's or span's position.
    """

    def __init__(self, reason: str, message: str, *, index: int = -1, field: str = "tags") -> None:
        super().__init__(message)
        self.reason = reason
        self.index = index
        self.field = field


@dataclass(frozen=True, slots=True)
class TagConversion:
    """IOB2 tags and how many tags the scheme conversion and the repair rewrote."""

    tags: list[str]
    converted: int = 0
    repaired: int = 0


def parse_tag(tag: str, index: int = -1) -> tuple[str, str]:
    """The (prefix, type) of a tag: ("O", "") or e.g. ("B", "person"); raises `TagError`."""
    parsed = _PARSED.get(tag)
    if parsed is not None:
        return parsed
    prefix, dash, type_ = tag.partition("-")
    if (
        len(prefix) != 1
        or prefix not in _PREFIXES
        or prefix == "O"
        or not dash
        or not type_
        or any(c.isspace() for c in type_)
    ):
        raise TagError(
            "invalid_tag", f"malformed tag {tag!r} (expected O, B-X, I-X, M-X, E-X or S-X)", index=index
        )
    parsed = (prefix, type_)
    if len(_PARSED) < _MAX_CACHED_TAGS:
        _PARSED[tag] = parsed
    return parsed


def entity_type(tag: str) -> str:
    """The entity type of a tag ("" for "O"); raises `TagError` for a malformed tag."""
    return parse_tag(tag)[1]


def _parse(tags: Sequence[str], tag: str) -> tuple[str, str]:
    """`parse_tag` for a tag of `tags` that is not cached yet (the index found only on error)."""
    try:
        return parse_tag(tag)
    except TagError as error:
        raise TagError(error.reason, str(error), index=list(tags).index(tag)) from None


def _scan(tags: Sequence[str]) -> tuple[bool, bool]:
    """(whether any BIOES-only prefix occurs, whether the tags are valid IOB2 as they stand)."""
    if tags.count("O") == len(tags):
        return False, True
    bioes = False
    valid = True
    previous = ""  # type of the previous tag, "" after O
    parsed = _PARSED
    for tag in tags:
        if tag == "O":
            previous = ""
            continue
        prefix, type_ = parsed.get(tag) or _parse(tags, tag)
        if prefix == "I":
            if type_ != previous:
                valid = False
        elif prefix != "B":
            bioes = True
            valid = False
        previous = type_
    return bioes, valid


def is_valid_iob2(tags: Sequence[str]) -> bool:
    """Whether `tags` are well-formed IOB2 with no "I-X" that does not follow an X tag."""
    try:
        bioes, valid = _scan(tags)
    except TagError:
        return False
    return valid and not bioes


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """IOB2 tags with every entity-starting "I-X" made "B-X", and how many were rewritten.

    Also converts IOB1 to IOB2 (the same rule). Expects B/I/O prefixes only.
    """
    out = list(tags)
    rewritten = 0
    previous = ""
    parsed = _PARSED
    for index, tag in enumerate(out):
        prefix, type_ = parsed.get(tag) or parse_tag(tag, index)
        if prefix == "I" and type_ != previous:
            out[index] = "B-" + type_
            rewritten += 1
        previous = type_
    return out, rewritten


def bioes_to_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """BIOES/BILOU/BMES tags with their prefixes mapped to IOB2 (S,U→B; E,L,M→I), and how many changed.

    A tag that would continue an entity already closed by "E-X"/"S-X" (an "M-X" after "E-X", as
    some corpora have it) starts a new one ("B-X"): two annotated entities are never merged. The
    result may still be invalid IOB2 (an "E-X" after "O"): repair it with `repair_iob2`.
    """
    out = list(tags)
    changed = 0
    parsed = _PARSED
    closed = ""  # the type of an entity just closed by E/S/L/U, else ""
    for index, tag in enumerate(out):
        prefix, type_ = parsed.get(tag) or parse_tag(tag, index)
        mapped = _TO_IOB2_PREFIX.get(prefix, prefix)
        if mapped == "I" and closed == type_:
            mapped = "B"
        if mapped != prefix:
            out[index] = mapped + "-" + type_
            changed += 1
        closed = type_ if prefix in _CLOSING else ""
    return out, changed


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """BIOES tags for valid IOB2 `tags` (for exports and round-trip checks)."""
    out = list(tags)
    last = len(out) - 1
    parsed = _PARSED
    for index, tag in enumerate(out):
        prefix, type_ = parsed.get(tag) or parse_tag(tag, index)
        if prefix == "O":
            continue
        continues = index < last and out[index + 1] == "I-" + type_
        if prefix == "B":
            out[index] = ("B-" if continues else "S-") + type_
        else:
            out[index] = ("I-" if continues else "E-") + type_
    return out


def to_iob2(
    tags: Sequence[str], scheme: TagScheme = TagScheme.UNSPECIFIED, *, repair: bool = True
) -> TagConversion:
    """`tags` in `scheme` as valid IOB2, counting conversions and repairs.

    UNSPECIFIED detects the scheme per sequence: BIOES if any E/S/L/U/M prefix occurs, else IOB2
    (an IOB1 sequence then shows up as IOB2 needing repairs). Already valid IOB2 comes back as
    the same list object, uncopied. Raises `TagError`: "invalid_tag" for a malformed tag, and
    "invalid_tag_sequence" for an invalid IOB2 sequence when `repair` is False.
    """
    bioes, valid = _scan(tags)
    if valid:
        return TagConversion(tags if isinstance(tags, list) else list(tags))
    if scheme is TagScheme.BIOES or (bioes and scheme is TagScheme.UNSPECIFIED):
        mapped, converted = bioes_to_iob2(tags)
        if is_valid_iob2(mapped):
            return TagConversion(mapped, converted=converted)
        if not repair:
            raise _sequence_error(mapped)
        repaired_tags, repaired = repair_iob2(mapped)
        return TagConversion(repaired_tags, converted=converted, repaired=repaired)
    if bioes:
        bad = next(i for i, tag in enumerate(tags) if tag[0] in _BIOES_ONLY)
        raise TagError("invalid_tag", f"tag {tags[bad]!r} is not {scheme.name}", index=bad)
    if scheme is TagScheme.IOB1:
        converted_tags, converted = repair_iob2(tags)
        return TagConversion(converted_tags, converted=converted)
    if not repair:
        raise _sequence_error(tags)
    repaired_tags, repaired = repair_iob2(tags)
    return TagConversion(repaired_tags, repaired=repaired)


def _sequence_error(tags: Sequence[str]) -> TagError:
    previous = ""
    for index, tag in enumerate(tags):
        prefix, type_ = parse_tag(tag, index)
        if prefix == "I" and type_ != previous:
            after = f"after {tags[index - 1]!r}" if index else "at the start"
            return TagError("invalid_tag_sequence", f"{tag!r} {after} (IOB2 needs B- first)", index=index)
        previous = type_
    return TagError("invalid_tag_sequence", "invalid IOB2 sequence")


def tag_set(entity_types: Iterable[str]) -> list[str]:
    """The IOB2 tags of a schema: "O", then "B-X" and "I-X" of each entity type, in order."""
    return [OUTSIDE] + [f"{prefix}-{type_}" for type_ in entity_types for prefix in ("B", "I")]


def label_entity_type(label: str) -> str:
    """The entity type that a label-set entry names: a tag's type ("B-PER", "S-PER" → "PER"), else
    the entry itself ("PER")."""
    if len(label) > 2 and label[1] == "-" and label[0] in "BIESLU":
        return label[2:]
    return label


def entity_types(tags: Sequence[str]) -> list[str]:
    """The type of each entity that valid IOB2 `tags` denote, in order."""
    return [tag[2:] for tag in tags if tag.startswith("B-")]


def mention_tags(type_: str, length: int) -> list[str]:
    """The IOB2 tags of one mention of `type_` over `length` (at least one) tokens."""
    return [f"B-{type_}"] + [f"I-{type_}"] * (length - 1)


def segments(tags: Sequence[str]) -> list[Segment]:
    """The mentions and the runs of O tokens between them, in order, covering every token.

    Lenient: an "I-X" that does not continue an X mention starts one. Raises `TagError` for a
    malformed tag.
    """
    out: list[Segment] = []
    parsed = _PARSED
    start = 0
    current = ""
    for index, tag in enumerate(tags):
        prefix, type_ = parsed.get(tag) or parse_tag(tag, index)
        if prefix == "B" or type_ != current:
            if index > start:
                out.append((start, index, current))
            start, current = index, type_
    if len(tags) > start:
        out.append((start, len(tags), current))
    return out


def mentions(tags: Sequence[str]) -> list[Segment]:
    """The (start, end, type) of each mention that `tags` denote (`segments` without the O runs)."""
    if tags.count(OUTSIDE) == len(tags):
        return []
    return [segment for segment in segments(tags) if segment[2]]


def spans_at(offsets: Sequence[tuple[int, int]], tags: Sequence[str]) -> list[Span]:
    """The spans that `tags` denote, from each token's char offsets `[start, end)` in its text."""
    return [Span(offsets[start][0], offsets[end - 1][1], type_) for start, end, type_ in mentions(tags)]


def spans_from_tags(tokens: Sequence[str], tags: Sequence[str]) -> tuple[str, list[Span]]:
    """The text (`foundry.domain.textjoin.join_tokens`) and the spans that IOB2 `tags` denote.

    Lenient: an "I-X" that does not continue an X entity starts a new one.
    """
    if tags.count(OUTSIDE) == len(tags):
        return join_tokens(tokens), []
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    text, offsets = join_with_offsets(tokens)
    return text, spans_at(offsets, tags)


def tags_from_spans(text: str, spans: Sequence[Span]) -> tuple[list[str], list[str]]:
    """Whitespace tokens of `text` and their IOB2 tags for `spans` (char offsets into `text`).

    Raises `TagError` as `tags_at` does.
    """
    tokens: list[str] = []
    offsets: list[tuple[int, int]] = []
    for match in _TOKEN.finditer(text):
        tokens.append(match.group())
        offsets.append(match.span())
    return tokens, tags_at(offsets, text, spans)


def tags_at(offsets: Sequence[tuple[int, int]], text: str, spans: Sequence[Span]) -> list[str]:
    """IOB2 tags, one per token of `offsets` (char `[start, end)` in `text`), for char `spans`.

    Spans are checked in order of their offsets. Raises `TagError` (field "spans", `index` the
    span's position in `spans`): "span_out_of_range" outside the text or empty,
    "span_misaligned" when a span does not start and end on token boundaries,
    "overlapping_spans" when two spans share a token, "invalid_tag" for an empty label.
    """
    starts = {start: index for index, (start, _) in enumerate(offsets)}
    ends = {end: index for index, (_, end) in enumerate(offsets)}
    tags = [OUTSIDE] * len(offsets)
    taken = -1
    for index, span in sorted(enumerate(spans), key=lambda item: (item[1].start, item[1].end)):
        if not 0 <= span.start < span.end <= len(text):
            raise TagError(
                "span_out_of_range",
                f"span [{span.start}, {span.end}) is empty or outside the text (length {len(text)})",
                index=index,
                field="spans",
            )
        if not span.label or span.label.isspace() or any(c.isspace() for c in span.label):
            raise TagError(
                "invalid_tag", f"span label {span.label!r} is empty or has spaces", index=index, field="spans"
            )
        first, last = starts.get(span.start), ends.get(span.end)
        if first is None or last is None or last < first:
            raise TagError(
                "span_misaligned",
                f"span [{span.start}, {span.end}) {text[span.start : span.end]!r} does not fall on token boundaries",
                index=index,
                field="spans",
            )
        if first <= taken:
            raise TagError(
                "overlapping_spans",
                f"span [{span.start}, {span.end}) overlaps another",
                index=index,
                field="spans",
            )
        tags[first : last + 1] = mention_tags(span.label, last - first + 1)
        taken = last
    return tags
