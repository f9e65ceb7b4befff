"""PII in token-classification rows: rewrite the tokens so that the tags stay aligned.

Detection runs on the text the tokens make joined by single spaces (the text NER spans are
offsets into, `foundry.domain.tags`), so a hit may cover part of one token or several.
Each hit is mapped to the tokens it touches, and:

- a hit inside one token rewrites that token's substring (`mail:a@b.io` → `mail:<EMAIL>`),
  the token keeps its tag;
- a hit over several tokens (`555 123 4567` as three tokens) collapses them into one token: the
  first token's text before the hit, the placeholder, the last token's text after it. The new
  token takes the tag of the first covered token: a `B-X` stays `B-X`, an `I-X` stays `I-X`
  (the entity it continues goes on), an `O` stays `O` (an entity that began inside the hit is
  swallowed by it). Hits whose token ranges share a token collapse together.
- tokens after a hit keep their tags. The one way this breaks IOB2 is an `I-X` that followed
  covered tokens and now follows a token of another tag (the hit began on `O` and ran into an
  entity): `repair_iob2` makes it `B-X`, and the repairs are counted.

The row's text becomes the rewritten tokens joined by spaces, and its spans are recomputed from
the new tokens and tags. Tokens, tags (and their count) are unchanged where no hit falls.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from foundry.domain.tags import repair_iob2
from foundry.ingestion.pii.detector import PiiHit
from foundry.ingestion.pii.placeholders import Placeholders, replace_hits


@dataclass(frozen=True, slots=True)
class TokenRewrite:
    """Rewritten tokens and their tags (None when the row has none), and the tag repairs made."""

    tokens: list[str]
    tags: list[str] | None
    repaired_tags: int = 0


def token_starts(tokens: Sequence[str]) -> list[int]:
    """The offset of each token in the tokens joined by single spaces."""
    starts: list[int] = []
    position = 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    return starts


def _covered(starts: list[int], tokens: Sequence[str], hit: PiiHit) -> tuple[int, int]:
    """The first and last token that `hit` touches (hits never start or end on a space)."""
    first = bisect_right(starts, hit.start) - 1
    if hit.start >= starts[first] + len(tokens[first]):  # began on the space after `first`
        first += 1
    last = bisect_right(starts, hit.end - 1) - 1
    return first, max(first, last)


def rewrite_tokens(
    tokens: Sequence[str],
    tags: Sequence[str] | None,
    hits: Sequence[PiiHit],
    placeholders: Placeholders,
) -> TokenRewrite:
    """`tokens` and `tags` with `hits` (offsets into " ".join(tokens), sorted, non-overlapping)
    replaced by their placeholders, per the rules in this module's docstring."""
    starts = token_starts(tokens)
    groups: list[tuple[int, int, list[PiiHit]]] = []  # (first token, last token, hits)
    for hit in hits:
        first, last = _covered(starts, tokens, hit)
        if groups and first <= groups[-1][1]:
            previous_first, previous_last, group_hits = groups[-1]
            group_hits.append(hit)
            groups[-1] = (previous_first, max(previous_last, last), group_hits)
        else:
            groups.append((first, last, [hit]))

    new_tokens: list[str] = []
    new_tags: list[str] | None = None if tags is None else []
    collapsed = False
    position = 0
    for first, last, group_hits in groups:
        new_tokens.extend(tokens[position:first])
        offset = starts[first]
        source = " ".join(tokens[first : last + 1])
        new_tokens.append(replace_hits(source, group_hits, placeholders, offset))
        if tags is not None and new_tags is not None:
            new_tags.extend(tags[position:first])
            new_tags.append(tags[first])
        collapsed = collapsed or last > first
        position = last + 1
    new_tokens.extend(tokens[position:])
    if tags is None or new_tags is None:
        return TokenRewrite(new_tokens, None)
    new_tags.extend(tags[position:])
    if not collapsed:
        return TokenRewrite(new_tokens, new_tags)
    repaired, count = repair_iob2(new_tags)
    return TokenRewrite(new_tokens, repaired, count)
