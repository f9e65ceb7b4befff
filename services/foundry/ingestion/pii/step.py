"""`PiiStep` ("pii"): detect personal data in each row and replace it with placeholders.

What is scanned depends on the row's payload: the tokens of a token-classification row (tags
kept aligned, text and spans recomputed, see `tokens.py`), else each message's content of a
chat row, else the text of a classification row. Labels, ids and meta are not scanned.

A row with no hit leaves the step as the same object; a chat row keeps the message objects that
had no hit. Each hit is counted in the report under "pii.<type>" ("pii.email",
"pii.payment_card", ...; `counts_by_type()` gives them alone), tag repairs under
"pii_tags_repaired", rewritten rows as modified. A token row's text, where it has one, becomes
the rewritten tokens joined by spaces. The step never logs or reports a detected value, nor
the secret.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from foundry.domain.steps import Step
from foundry.domain.tags import spans_from_tags
from foundry.domain.textjoin import join_tokens
from foundry.ingestion.options import PiiMode, PiiOptions, PiiType
from foundry.ingestion.pii.detector import PiiDetector, PiiHit
from foundry.ingestion.pii.placeholders import DEFAULT_DIGEST_HEX_CHARS, Placeholders, replace_hits
from foundry.ingestion.pii.tokens import rewrite_tokens
from foundry.runtime.examples import ChatMessage, Example

#: report counter of IOB2 repairs made after a hit collapsed several tokens
TAGS_REPAIRED_COUNTER = "pii_tags_repaired"


def counter_name(kind: PiiType) -> str:
    """The report counter of a type: "pii.email", "pii.national_id", ..."""
    return f"pii.{kind.value}"


class PiiStep(Step):
    """Masks or pseudonymizes the PII that `options` select.

    `secret` keys the pseudonyms (required when `options.mode` is PSEUDONYMIZE; the server's,
    never the request's); `default_region` is the region of phone numbers written without a
    country code. A step with `options.enabled` false passes every row through untouched.
    """

    name = "pii"

    def __init__(
        self,
        options: PiiOptions,
        *,
        secret: bytes | str | None = None,
        default_region: str = "US",
        digest_hex_chars: int = DEFAULT_DIGEST_HEX_CHARS,
    ) -> None:
        super().__init__()
        self.options = options
        self.detector = PiiDetector(options.types, default_region=default_region)
        mode = options.mode if options.enabled else PiiMode.MASK  # a disabled step needs no secret
        self.placeholders = Placeholders(mode, secret, digest_hex_chars=digest_hex_chars)
        self._counters = {kind: counter_name(kind) for kind in PiiType}

    def apply(self, example: Example) -> Example | None:
        if not self.options.enabled:
            return example
        if example.tokens is not None:
            return self._tokens(example, example.tokens)
        if example.messages is not None:
            return self._messages(example, example.messages)
        if example.text is not None:
            hits = self.detector.find(example.text)
            if not hits:
                return example
            self._count(hits)
            return dataclasses.replace(example, text=replace_hits(example.text, hits, self.placeholders))
        return example

    def counts_by_type(self) -> dict[str, int]:
        """The hits counted so far per type ("email" → 12), without the other counters."""
        counters = self.report.counters
        return {kind.value: counters[name] for kind, name in self._counters.items() if counters[name]}

    def _count(self, hits: Sequence[PiiHit]) -> None:
        counters = self.report.counters
        for hit in hits:
            counters[self._counters[hit.kind]] += 1

    def _tokens(self, example: Example, tokens: list[str]) -> Example:
        hits = self.detector.find(" ".join(tokens))
        if not hits:
            return example
        self._count(hits)
        rewrite = rewrite_tokens(tokens, example.tags, hits, self.placeholders)
        if rewrite.repaired_tags:
            self.report.counters[TAGS_REPAIRED_COUNTER] += rewrite.repaired_tags
        if rewrite.tags is not None:
            text, spans = spans_from_tags(rewrite.tokens, rewrite.tags)
            new_spans = None if example.spans is None else spans
        else:  # unlabeled tokens: no spans to recompute
            text, new_spans = join_tokens(rewrite.tokens), example.spans
        return dataclasses.replace(
            example,
            tokens=rewrite.tokens,
            tags=rewrite.tags,
            text=None if example.text is None else text,
            spans=new_spans,
        )

    def _messages(self, example: Example, messages: list[ChatMessage]) -> Example:
        rewritten: list[ChatMessage] | None = None
        for index, message in enumerate(messages):
            hits = self.detector.find(message.content)
            if not hits:
                continue
            self._count(hits)
            if rewritten is None:
                rewritten = list(messages)
            content = replace_hits(message.content, hits, self.placeholders)
            rewritten[index] = ChatMessage(message.role, content)
        return example if rewritten is None else dataclasses.replace(example, messages=rewritten)
