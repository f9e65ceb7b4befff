"""A labeling project and the validation of annotations against its schema and items."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from foundry.domain.tags import TagError, repair_iob2, spans_at, tag_set, tags_at
from foundry.domain.textjoin import join_tokens, joined_offsets
from foundry.labeling.annotations import Annotation, Source, is_model, is_rule
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Span, Split, Task
from foundry.runtime.manifest import VersionRef, utc_now_iso

ANNOTATOR_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")


@dataclass(frozen=True)
class Project:
    project_id: str
    name: str
    dataset: VersionRef
    task: Task
    labels: tuple[str, ...]
    annotators: tuple[str, ...]
    overlap: int = 1
    splits: tuple[Split, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)
    guidelines: str = ""
    created_at: str = field(default_factory=utc_now_iso)

    @property
    def is_token_task(self) -> bool:
        return self.task is Task.TOKEN_CLASSIFICATION

    def tag_set(self) -> list[str]:
        """The IOB2 tags of the schema: "O", then B- and I- of each entity type."""
        return tag_set(self.labels)

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["task"] = self.task.value
        raw["splits"] = [s.value for s in self.splits]
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Project:
        return cls(
            project_id=raw["project_id"],
            name=raw["name"],
            dataset=VersionRef(raw["dataset"]["name"], raw["dataset"]["version_id"]),
            task=Task(raw["task"]),
            labels=tuple(raw["labels"]),
            annotators=tuple(raw["annotators"]),
            overlap=int(raw["overlap"]),
            splits=tuple(Split(s) for s in raw["splits"]),
            descriptions=dict(raw["descriptions"]),
            guidelines=raw["guidelines"],
            created_at=raw["created_at"],
        )


def check_annotator_name(name: str, field_name: str) -> None:
    if not ANNOTATOR_PATTERN.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid annotator name {name!r}",
            reason="INVALID_ANNOTATOR",
            violations=[FieldViolation(field_name, f"{name!r} must match {ANNOTATOR_PATTERN.pattern}")],
        )


def check_known_annotator(project: Project, annotator: str, source: Source, field_name: str) -> None:
    """Humans must be the project's; "model:*" and "rule:*" names need their source; imported
    work may use any valid name."""
    check_annotator_name(annotator, field_name)
    known = (
        annotator in project.annotators
        or (source is Source.MODEL and is_model(annotator))
        or (source is Source.RULE and is_rule(annotator))
        or source is Source.IMPORT
    )
    if not known:
        raise InvalidArgumentError(
            f"unknown annotator {annotator!r} in project {project.name!r}",
            reason="UNKNOWN_ANNOTATOR",
            violations=[FieldViolation(field_name, f"{annotator!r} is not an annotator of the project")],
        )


def item_text(example: Example) -> str:
    """The text spans point into: the example's text, or the text its tokens make
    (`foundry.domain.textjoin`) when it has none (token-only records, as CoNLL gives them)."""
    return example.text or join_tokens(example.tokens or [])


def token_offsets(example: Example) -> list[tuple[int, int]]:
    """Char offsets `[start, end)` of each token in the item's text (`item_text`)."""
    text, tokens = item_text(example), example.tokens or []
    out: list[tuple[int, int]] = []
    position = 0
    for token in tokens:
        start = text.find(token, position)
        if start < 0:  # text not made of the tokens: fall back to the joined tokens' offsets
            return joined_offsets(tokens)
        out.append((start, start + len(token)))
        position = start + len(token)
    return out


def item_spans(example: Example, tags: Sequence[str]) -> list[Span]:
    """The spans IOB2 `tags` denote over the item's text (an I- that continues nothing starts one)."""
    return spans_at(token_offsets(example), tags)


#: `TagError` reasons of `tags_at` → the reasons labeling reports
_SPAN_REASONS = {
    "span_out_of_range": "SPAN_OUT_OF_RANGE",
    "span_misaligned": "SPAN_MISALIGNED",
    "overlapping_spans": "OVERLAPPING_SPANS",
    "invalid_tag": "INVALID_SPAN_LABEL",
}


def item_tags(example: Example, spans: Sequence[Span], field_name: str) -> list[str]:
    """IOB2 tags for char spans over the item's text; each span must start and end on token
    boundaries (`InvalidArgumentError` naming `<field_name>.spans[i]` otherwise)."""
    text = item_text(example)
    try:
        return tags_at(token_offsets(example), text, spans)
    except TagError as error:
        span = spans[error.index]
        where = f"{field_name}.spans[{error.index}]"
        reason = _SPAN_REASONS.get(error.reason, "INVALID_SPAN")
        if error.reason == "span_out_of_range":
            message = f"span [{span.start}, {span.end}) is outside the text of item {example.id!r} (length {len(text)})"
            problem = f"[{span.start}, {span.end}) outside [0, {len(text)})"
        elif error.reason == "overlapping_spans":
            message, problem = f"spans of item {example.id!r} overlap", "overlaps another span"
        elif error.reason == "span_misaligned":
            message = (
                f"span [{span.start}, {span.end}) of item {example.id!r} does not fall on token boundaries"
            )
            problem = "does not start and end on token boundaries"
        else:
            message, problem = f"{error} (item {example.id!r})", str(error)
        raise InvalidArgumentError(
            message, reason=reason, violations=[FieldViolation(where, problem)]
        ) from None


def _bad_label(label: str, where: str, project: Project) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"label {label!r} is not in the schema of project {project.name!r}",
        reason="LABEL_NOT_IN_SCHEMA",
        violations=[FieldViolation(where, f"{label!r} is not one of {list(project.labels)}")],
    )


def validate_annotation(project: Project, example: Example, annotation: Annotation, where: str) -> Annotation:
    """The annotation checked against the schema and the item, its payload completed (tags and
    spans both, for token classification); `InvalidArgumentError` naming the field otherwise."""
    if annotation.revision < 1:
        raise InvalidArgumentError(
            "revisions start at 1",
            reason="INVALID_REVISION",
            violations=[FieldViolation(f"{where}.revision", f"{annotation.revision} < 1")],
        )
    if annotation.skipped:
        return replace(annotation, label="", labels=(), tags=(), spans=())
    labels = set(project.labels)
    if project.task is Task.TEXT_CLASSIFICATION:
        if annotation.label not in labels:
            raise _bad_label(annotation.label, f"{where}.label", project)
        return annotation
    if project.task is Task.MULTILABEL_CLASSIFICATION:
        for i, label in enumerate(annotation.labels):
            if label not in labels:
                raise _bad_label(label, f"{where}.labels[{i}]", project)
        return replace(annotation, labels=tuple(sorted(set(annotation.labels))))
    for i, span in enumerate(annotation.spans):
        if span.label not in labels:
            raise _bad_label(span.label, f"{where}.spans[{i}].label", project)
    if annotation.tags:
        n_tokens = len(example.tokens or [])
        if len(annotation.tags) != n_tokens:
            raise InvalidArgumentError(
                f"item {example.id!r} has {n_tokens} tokens, the annotation {len(annotation.tags)} tags",
                reason="TAG_COUNT_MISMATCH",
                violations=[
                    FieldViolation(f"{where}.tags", f"{len(annotation.tags)} tags for {n_tokens} tokens")
                ],
            )
        tag_set = set(project.tag_set())
        for i, tag in enumerate(annotation.tags):
            if tag not in tag_set:
                raise _bad_label(tag, f"{where}.tags[{i}]", project)
        tags, _ = repair_iob2(annotation.tags)
        return replace(annotation, tags=tuple(tags), spans=tuple(item_spans(example, tags)))
    tags = item_tags(example, annotation.spans, where)
    return replace(annotation, tags=tuple(tags), spans=tuple(item_spans(example, tags)))
