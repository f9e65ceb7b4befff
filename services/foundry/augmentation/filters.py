"""Acceptance filters for new examples: tag validity, exact and near duplicates (reusing the
ingestion de-duplication's content keys and MinHash LSH), and the quality of generated chat
responses. Each returns a rejection reason or "" (kept)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from foundry.augmentation.operators.llm import instruction_index
from foundry.augmentation.recipe import ResponseQualityFilter
from foundry.domain.dedup import NearDuplicateIndex, content_digest, content_key
from foundry.domain.tags import is_valid_iob2
from foundry.runtime.examples import Example

INVALID_TAGS = "invalid_tags"
EXACT_DUPLICATE = "exact_duplicate"
NEAR_DUPLICATE = "near_duplicate"
UNCHANGED = "unchanged"
INCONSISTENT = "inconsistent"
SHINGLE_SIZE = 5
NUM_PERMUTATIONS = 128
#: a regenerated reply shorter than this share of the original reply, or longer than its inverse
MIN_LENGTH_RATIO = 0.1
_REFUSAL = re.compile(
    r"^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i apologi[sz]e|as an ai( language model)?|"
    r"i can(no|')t (help|assist|provide|comply|do that)|i cannot (help|assist|provide|comply)|"
    r"i'?m (not able|unable) to|i am (not able|unable) to|i won'?t be able to)",
    re.IGNORECASE,
)


def tag_problem(example: Example) -> str:
    """INVALID_TAGS when a token-classification example's tokens and tags do not fit IOB2."""
    if example.tags is None:
        return ""
    tokens = example.tokens or []
    if (
        len(tokens) != len(example.tags)
        or not tokens
        or any(not t or t.strip() != t or " " in t for t in tokens)
        or not is_valid_iob2(example.tags)
    ):
        return INVALID_TAGS
    return ""


class ExactDuplicates:
    """Content digests of every existing example and of every new one accepted so far."""

    def __init__(self, existing: Sequence[Example]) -> None:
        self.seen = {content_digest(content_key(e)) for e in existing}

    def check_and_add(self, example: Example) -> str:
        digest = content_digest(content_key(example))
        if digest in self.seen:
            return EXACT_DUPLICATE
        self.seen.add(digest)
        return ""


def near_duplicates(existing: Sequence[Example], new: Sequence[Example], threshold: float) -> np.ndarray:
    """A mask over `new`: True where the example's Jaccard similarity (character 5-shingles,
    verified) with an existing example or an earlier kept new one reaches `threshold`."""
    dropped = np.zeros(len(new), dtype=bool)
    if not new:
        return dropped
    index = NearDuplicateIndex(shingle_size=SHINGLE_SIZE, num_perm=NUM_PERMUTATIONS, threshold=threshold)
    try:
        index.add([content_key(e) for e in existing])
        index.add([content_key(e) for e in new])
        pairs = index.pairs()
    finally:
        index.close()
    base = len(existing)
    order = np.lexsort((pairs.left, pairs.right))
    for left, right in zip(pairs.left[order].tolist(), pairs.right[order].tolist(), strict=True):
        if right >= base and not dropped[right - base] and (left < base or not dropped[left - base]):
            dropped[right - base] = True
    return dropped


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def response_problem(example: Example, parent: Example, options: ResponseQualityFilter) -> str:
    """Why a chat example's (last) assistant reply is unacceptable, or "" (see the proto)."""
    messages = example.messages or []
    replies = [m.content for m in messages if m.role == "assistant"]
    if not replies:
        return ""
    reply = replies[-1].strip()
    slot = instruction_index(messages)
    instruction = messages[slot].content if slot >= 0 else ""
    if not reply:
        return "empty_response"
    if options.min_response_chars and len(reply) < options.min_response_chars:
        return "response_too_short"
    if options.max_response_chars and len(reply) > options.max_response_chars:
        return "response_too_long"
    if options.drop_refusals and _REFUSAL.match(reply):
        return "refusal"
    if instruction and (
        _normal(reply) == _normal(instruction) or _normal(reply).startswith(_normal(instruction))
    ):
        return "echo"
    lines = [line.strip() for line in reply.splitlines() if line.strip()]
    if options.max_repeated_line_ratio is not None and len(lines) > 1:
        repeated = 1.0 - len(set(lines)) / len(lines)
        if repeated > options.max_repeated_line_ratio:
            return "repeated_lines"
    parent_replies = [m.content for m in parent.messages or [] if m.role == "assistant"]
    if parent_replies and parent_replies[-1].strip():
        ratio = len(reply) / len(parent_replies[-1].strip())
        if ratio < MIN_LENGTH_RATIO or ratio > 1 / MIN_LENGTH_RATIO:
            return "length_ratio"
    return ""
