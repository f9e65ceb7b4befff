"""IOB2 tag sequences as segments: entity mentions and the runs of `O` tokens between them."""

from __future__ import annotations

from collections.abc import Sequence

#: (start, end, type): tokens[start:end]; type "" for a run of O tokens
Segment = tuple[int, int, str]


def segments(tags: Sequence[str]) -> list[Segment]:
    """The mentions and O runs of valid IOB2 `tags`, in order, covering every token."""
    out: list[Segment] = []
    start = 0
    current = ""
    for i, tag in enumerate(tags):
        if tag == "O":
            if current or i == 0:
                if i > start:
                    out.append((start, i, current))
                start, current = i, ""
        elif tag[0] == "B" or tag[2:] != current:
            if i > start:
                out.append((start, i, current))
            start, current = i, tag[2:]
    if len(tags) > start:
        out.append((start, len(tags), current))
    return out


def mention_tags(type_: str, length: int) -> list[str]:
    """The IOB2 tags of one mention of `type_` over `length` tokens."""
    return [f"B-{type_}"] + [f"I-{type_}"] * (length - 1)
