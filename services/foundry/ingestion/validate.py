"""Validation per task (step "validate"): required fields, labels, tags, spans and size limits.

- every task: a non-empty id;
- text classification: a non-empty text of at most `max_text_chars`, a label (unless
  `allow_unlabeled`) from the label set;
- multi-label: the same with `labels` (an empty list is a labeled row with no label);
- token classification: non-empty tokens, none empty, as many tags as tokens (unless unlabeled
  rows are allowed and there are no tags), valid IOB2 (invalid sequences are repaired and
  counted when `repair_tag_sequences`, else rejected), entity types from the label set, spans
  inside the text, the text (tokens joined by spaces) within `max_text_chars`;
- chat: messages with a known role (system, user, assistant, tool) and non-empty content, at
  least one assistant message (unless unlabeled rows are allowed), the conversation within
  `max_text_chars`.

The label set is `options.label_set` (for token classification its entries may be entity types
or tags: "B-PER" counts as "PER"); when empty it is learned from the data and no row is rejected
for its labels. `labels_seen` counts labels (entities for token classification) either way.
Invalid rows are dropped with a `RowViolation` (reason, field, source line, example id); the
REJECT_FILE policy is the pipeline's to enforce from this step's report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from foundry.domain.formats import TagScheme, ValidationOptions
from foundry.domain.steps import RowViolation, Step
from foundry.domain.tags import (
    TagError,
    is_valid_iob2,
    label_entity_type,
    parse_tag,
    spans_from_tags,
    to_iob2,
)
from foundry.runtime.examples import Example, Task

CHAT_ROLES = frozenset({"system", "user", "assistant", "tool"})


class _Invalid(Exception):
    def __init__(self, reason: str, description: str, field: str) -> None:
        super().__init__(description)
        self.reason, self.description, self.field = reason, description, field


class ValidateStep(Step):
    """Drops rows that do not hold a valid payload for `task` under `options`."""

    name = "validate"

    def __init__(self, task: Task, options: ValidationOptions) -> None:
        super().__init__()
        self.task = task
        self.options = options
        self.report.max_violations = options.max_violations_reported
        labels = options.label_set
        if task is Task.TOKEN_CLASSIFICATION:
            labels = tuple(label_entity_type(label) for label in labels if label != "O")
        self.allowed: frozenset[str] = frozenset(labels)
        #: labels (class labels, or entities by type) of the rows that passed
        self.labels_seen: Counter[str] = Counter()
        self._check = {
            Task.TEXT_CLASSIFICATION: self._text_classification,
            Task.MULTILABEL_CLASSIFICATION: self._multilabel,
            Task.TOKEN_CLASSIFICATION: self._token_classification,
            Task.CHAT: self._chat,
        }[task]

    @property
    def label_set(self) -> list[str]:
        """The given label set, or the one learned from the rows so far, sorted."""
        return sorted(self.allowed or self.labels_seen)

    def apply(self, example: Example) -> Example | None:
        try:
            if not example.id:
                raise _Invalid("missing_field", "the example has no id", "id")
            return self._check(example)
        except _Invalid as invalid:
            self.report.drop(
                RowViolation(
                    invalid.reason, invalid.description, example.provenance.line, invalid.field, example.id
                )
            )
            return None

    # --- per task -----------------------------------------------------------------------------

    def _text(self, text: str | None) -> None:
        if text is None:
            raise _Invalid("missing_field", "the row has no text", "text")
        if not text or text.isspace():
            raise _Invalid("empty_field", "the text is empty", "text")
        if len(text) > self.options.max_text_chars:
            raise _Invalid(
                "text_too_long",
                f"text has {len(text)} characters, over {self.options.max_text_chars}",
                "text",
            )

    def _label(self, label: str, field: str) -> None:
        if not label or label.isspace():
            raise _Invalid("empty_field", "a label is empty", field)
        if self.allowed and label not in self.allowed:
            raise _Invalid("unknown_label", f"label {label!r} is not in the label set", field)

    def _unlabeled(self, field: str) -> None:
        if not self.options.allow_unlabeled:
            raise _Invalid("unlabeled", "the row has no label (allow_unlabeled is off)", field)

    def _text_classification(self, example: Example) -> Example:
        self._text(example.text)
        if example.label is None:
            self._unlabeled("label")
        else:
            self._label(example.label, "label")
            self.labels_seen[example.label] += 1
        return example

    def _multilabel(self, example: Example) -> Example:
        self._text(example.text)
        if example.labels is None:
            self._unlabeled("labels")
            return example
        for index, label in enumerate(example.labels):
            self._label(label, f"labels[{index}]")
        self.labels_seen.update(example.labels)
        return example

    def _token_classification(self, example: Example) -> Example:
        tokens, tags = example.tokens, example.tags
        if tokens is None:
            raise _Invalid("missing_field", "the row has no tokens", "tokens")
        if not tokens:
            raise _Invalid("empty_field", "the row has no tokens", "tokens")
        if "" in tokens:
            raise _Invalid(
                "empty_field", f"token {tokens.index('') + 1} is empty", f"tokens[{tokens.index('')}]"
            )
        chars = len(example.text) if example.text is not None else sum(map(len, tokens)) + len(tokens) - 1
        if chars > self.options.max_text_chars:
            raise _Invalid(
                "text_too_long", f"text has {chars} characters, over {self.options.max_text_chars}", "text"
            )
        if tags is None:
            self._unlabeled("tags")
            return example
        if len(tags) != len(tokens):
            raise _Invalid("length_mismatch", f"{len(tokens)} tokens but {len(tags)} tags", "tags")
        example = self._valid_tags(example, tags)
        assert example.tags is not None
        self._entity_types(example.tags)
        self._spans(example)
        return example

    def _valid_tags(self, example: Example, tags: list[str]) -> Example:
        """`example` with valid IOB2 tags: as it is, repaired (and counted), or rejected."""
        if is_valid_iob2(tags):
            return example
        try:
            conversion = to_iob2(tags, TagScheme.IOB2, repair=self.options.repair_tag_sequences)
        except TagError as error:
            field = f"tags[{error.index}]" if error.index >= 0 else "tags"
            raise _Invalid(error.reason, str(error), field) from None
        self.report.counters["tags_repaired"] += conversion.repaired
        assert example.tokens is not None
        text, spans = spans_from_tags(example.tokens, conversion.tags)
        return replace(example, tags=conversion.tags, text=text, spans=spans)

    def _entity_types(self, tags: list[str]) -> None:
        if tags.count("O") == len(tags):
            return
        seen = self.labels_seen
        allowed = self.allowed
        for tag in set(tags):
            if tag == "O":
                continue
            prefix, type_ = parse_tag(tag)
            if allowed and type_ not in allowed:
                raise _Invalid("unknown_label", f"entity type {type_!r} is not in the label set", "tags")
            if prefix == "B":
                seen[type_] += tags.count(tag)

    def _spans(self, example: Example) -> None:
        if not example.spans:
            return
        length = len(example.text) if example.text is not None else -1
        for index, span in enumerate(example.spans):
            if not 0 <= span.start < span.end <= length:
                raise _Invalid(
                    "span_out_of_range",
                    f"span [{span.start}, {span.end}) is empty or outside the text (length {max(length, 0)})",
                    f"spans[{index}]",
                )
            if self.allowed and span.label not in self.allowed:
                raise _Invalid(
                    "unknown_label", f"span label {span.label!r} is not in the label set", f"spans[{index}]"
                )

    def _chat(self, example: Example) -> Example:
        messages = example.messages
        if messages is None:
            raise _Invalid("missing_field", "the row has no messages", "messages")
        if not messages:
            raise _Invalid("empty_field", "the conversation has no messages", "messages")
        chars = 0
        answered = False
        for index, message in enumerate(messages):
            if message.role not in CHAT_ROLES:
                raise _Invalid("unknown_role", f"unknown role {message.role!r}", f"messages[{index}].role")
            if not message.content or message.content.isspace():
                raise _Invalid("empty_field", f"message {index + 1} is empty", f"messages[{index}].content")
            chars += len(message.content)
            answered = answered or message.role == "assistant"
        if chars > self.options.max_text_chars:
            raise _Invalid(
                "text_too_long",
                f"conversation has {chars} characters, over {self.options.max_text_chars}",
                "messages",
            )
        if not answered and not self.options.allow_unlabeled:
            raise _Invalid("unlabeled", "the conversation has no assistant message", "messages")
        return example
