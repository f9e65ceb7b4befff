"""Records (JSON objects, CSV rows, Parquet rows) to `Example`s through a `FieldMapping`.

The task decides which payload is built:

- text classification: `text` and `label` (a string or an integer; empty means unlabeled);
- multi-label: `text` and `labels` (a list, or a string split by `labels_separator`, or a JSON
  list in a string);
- token classification: `tokens` and `tags` (converted to IOB2 and repaired as the source spec
  and validation options say), with `text` and `spans` derived; or, without tokens, `text` and
  `spans` (`[[start, end, label]]` or `[{"start", "end", "label"}]`), from which whitespace tokens
  and IOB2 tags are made (text then becomes the tokens joined by `foundry.domain.textjoin`, spans follow);
  a text without spans gives unlabeled tokens;
- chat: `messages` (OpenAI or ShareGPT shape), or an Alpaca record.

Missing keys take the format's defaults ("text", "label", ...). Dotted keys ("meta.lang") reach
into nested objects (a key that contains the dot itself is tried first). Lists inside CSV cells
are JSON ("[...]"); token and tag cells may also be whitespace-separated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from foundry.domain.formats import Format
from foundry.domain.readers.base import IdAssigner, ReadContext, RowError, parse_split
from foundry.domain.readers.chat import messages_from_alpaca, messages_from_list
from foundry.domain.steps import StepReport
from foundry.domain.tags import TagError, spans_from_tags, tags_from_spans, to_iob2
from foundry.domain.textjoin import join_tokens
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span, Task
from foundry.runtime.hashing import canonical_json

_MISSING: Any = object()

Payload = dict[str, Any]


class FieldKey:
    """A source field name, plain or dotted, looked up in a record."""

    __slots__ = ("name", "parts")

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts = tuple(name.split(".")) if "." in name else ()

    def get(self, record: Mapping[str, Any]) -> Any:
        """The field's value, or `_MISSING`."""
        value = record.get(self.name, _MISSING)
        if value is _MISSING and self.parts:
            value = record
            for part in self.parts:
                if not isinstance(value, Mapping) or part not in value:
                    return _MISSING
                value = value[part]
        return value

    @property
    def top(self) -> str:
        """The top-level column this field lives in (for column pruning)."""
        return self.parts[0] if self.parts else self.name


def _present(value: Any) -> bool:
    return value is not _MISSING and value is not None


class RecordMapper:
    """Builds the `Example` of one record, or raises `RowError`."""

    def __init__(self, context: ReadContext, ids: IdAssigner, report: StepReport, fmt: Format) -> None:
        mapping = context.mapping
        self._context = context
        self._ids = ids
        self._report = report
        self._format = fmt
        self._id = FieldKey(mapping.id_field) if mapping.id_field else None
        self._split = FieldKey(mapping.split_field) if mapping.split_field else None
        self._group = FieldKey(mapping.group_field) if mapping.group_field else None
        self._meta = [FieldKey(name) for name in mapping.meta_fields]
        self._text = FieldKey(mapping.text_field or "text")
        self._label = FieldKey(mapping.label_field or "label")
        self._labels = FieldKey(mapping.labels_field or "labels")
        self._separator = mapping.labels_separator
        self._tokens = FieldKey(mapping.tokens_field or "tokens")
        self._tags = FieldKey(mapping.tags_field or "tags")
        self._spans = FieldKey(mapping.spans_field or "spans")
        default_messages = "conversations" if fmt is Format.CHAT_SHAREGPT else "messages"
        self._messages = FieldKey(mapping.messages_field or default_messages)
        self._auto_chat = fmt not in (Format.CHAT_OPENAI, Format.CHAT_SHAREGPT, Format.CHAT_ALPACA) and (
            not mapping.messages_field
        )
        builders: dict[Task, Callable[[Mapping[str, Any]], Payload]] = {
            Task.TEXT_CLASSIFICATION: self._text_classification,
            Task.MULTILABEL_CLASSIFICATION: self._multilabel,
            Task.TOKEN_CLASSIFICATION: self._token_classification,
            Task.CHAT: self._chat,
        }
        self._build = builders[context.task]

    def columns(self) -> set[str]:
        """The top-level columns this mapping may read."""
        keys = [self._text, self._label, self._labels, self._tokens, self._tags, self._spans, self._messages]
        keys += [key for key in (self._id, self._split, self._group) if key is not None]
        keys += self._meta
        names = {key.top for key in keys}
        if self._context.task is Task.CHAT:
            names |= {"messages", "conversations", "instruction", "input", "output"}
        return names

    def example(self, record: Mapping[str, Any], line: int) -> Example:
        """The example of `record`, found at 1-based `line` of the source."""
        payload = self._build(record)
        context = self._context
        if self._id is not None:
            value = self._id.get(record)
            if not _present(value):
                raise RowError("missing_field", f"missing id field {self._id.name!r}", self._id.name)
            id_ = self._ids.given(value)
        else:
            id_ = self._ids.derive(self._identity(payload))
        split = context.default_split
        if self._split is not None:
            value = self._split.get(record)
            split = parse_split(None if value is _MISSING else value, split)
        meta: dict[str, str] = {}
        for key in self._meta:
            value = key.get(record)
            if _present(value):
                meta[key.name] = value if isinstance(value, str) else canonical_json(value).decode()
        if self._group is not None:
            value = self._group.get(record)
            if _present(value) and value != "":
                meta["group"] = value if isinstance(value, str) else canonical_json(value).decode()
        return Example(id=id_, split=split, meta=meta, provenance=Provenance(context.source, line), **payload)

    @staticmethod
    def _identity(payload: Payload) -> Any:
        """What a derived id hashes: the payload without the fields derived from it."""
        if "tokens" in payload:
            return {"tokens": payload["tokens"], "tags": payload["tags"]}
        if "messages" in payload:
            return {"messages": [[m.role, m.content] for m in payload["messages"]]}
        return payload

    # --- payloads per task ----------------------------------------------------------------------

    def _required_text(self, record: Mapping[str, Any]) -> str:
        value = self._text.get(record)
        if not _present(value):
            raise RowError("missing_field", f"missing text field {self._text.name!r}", self._text.name)
        if not isinstance(value, str):
            raise RowError(
                "wrong_type", f"{self._text.name} must be a string, not {type(value).__name__}", "text"
            )
        return value

    def _text_classification(self, record: Mapping[str, Any]) -> Payload:
        return {
            "text": self._required_text(record),
            "label": _label(self._label.get(record), self._label.name),
        }

    def _multilabel(self, record: Mapping[str, Any]) -> Payload:
        text = self._required_text(record)
        value = self._labels.get(record)
        labels = _label_list(value, self._separator, self._labels.name) if _present(value) else None
        return {"text": text, "labels": labels}

    def _token_classification(self, record: Mapping[str, Any]) -> Payload:
        tokens_value = self._tokens.get(record)
        tags: list[str] | None
        try:
            if _present(tokens_value):
                tokens = _string_list(tokens_value, self._tokens.name)
                tags_value = self._tags.get(record)
                tags = _string_list(tags_value, self._tags.name) if _present(tags_value) else None
                if tags is not None:
                    tags = self._iob2(tokens, tags)
            else:
                source_text = self._required_text(record)
                spans_value = self._spans.get(record)
                if _present(spans_value):
                    tokens, tags = tags_from_spans(source_text, _spans(spans_value, self._spans.name))
                else:
                    tokens, tags = source_text.split(), None
        except TagError as error:
            raise RowError(error.reason, str(error), error.field) from None
        if tags is None:
            return {"tokens": tokens, "tags": None, "text": join_tokens(tokens), "spans": None}
        text, spans = spans_from_tags(tokens, tags)
        return {"tokens": tokens, "tags": tags, "text": text, "spans": spans}

    def _iob2(self, tokens: list[str], tags: list[str]) -> list[str]:
        if len(tokens) != len(tags):
            raise RowError("length_mismatch", f"{len(tokens)} tokens but {len(tags)} tags", "tags")
        conversion = to_iob2(tags, self._context.scheme, repair=self._context.repair_tags)
        if conversion.converted or conversion.repaired:
            report = self._report
            report.counters["tags_converted"] += conversion.converted
            report.counters["tags_repaired"] += conversion.repaired
            report.rows_modified += 1
        return conversion.tags

    def _chat(self, record: Mapping[str, Any]) -> Payload:
        return {"messages": self._chat_messages(record)}

    def _chat_messages(self, record: Mapping[str, Any]) -> list[ChatMessage]:
        if self._format is Format.CHAT_ALPACA:
            return messages_from_alpaca(record)
        key = self._messages
        if self._auto_chat and key.get(record) is _MISSING:
            if "conversations" in record:
                return messages_from_list(record["conversations"], "conversations")
            if "instruction" in record:
                return messages_from_alpaca(record)
        value = key.get(record)
        if not _present(value):
            raise RowError("missing_field", f"missing messages field {key.name!r}", key.name)
        return messages_from_list(value, key.name)


# --- value conversion ------------------------------------------------------------------------------


def _label(value: Any, field: str) -> str | None:
    if value is _MISSING or value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise RowError(
        "wrong_type", f"{field} must be a string or an integer, not {type(value).__name__}", "label"
    )


def _label_list(value: Any, separator: str, field: str) -> list[str]:
    if isinstance(value, str):
        if value.lstrip().startswith("["):
            value = _json(value, field)
        else:
            return [part.strip() for part in value.split(separator) if part.strip()]
    if not isinstance(value, list):
        raise RowError("wrong_type", f"{field} must be a list, not {type(value).__name__}", "labels")
    labels = []
    for item in value:
        label = _label(item, field)
        if label is not None:
            labels.append(label)
    return labels


def _string_list(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        if not value.lstrip().startswith("["):
            return value.split()
        value = _json(value, field)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RowError("wrong_type", f"{field} must be a list of strings", field)
    return value


def _spans(value: Any, field: str) -> list[Span]:
    if isinstance(value, str):
        value = _json(value, field)
    if not isinstance(value, list):
        raise RowError("wrong_type", f"{field} must be a list of spans", "spans")
    spans = []
    for item in value:
        if isinstance(item, Mapping):
            start, end, label = item.get("start"), item.get("end"), item.get("label")
        elif isinstance(item, list | tuple) and len(item) == 3:
            start, end, label = item
        else:
            raise RowError("wrong_type", f"{field}: a span is [start, end, label] or an object", "spans")
        if not (_is_int(start) and _is_int(end) and isinstance(label, str)):
            raise RowError(
                "wrong_type", f"{field}: span start/end must be integers and label a string", "spans"
            )
        spans.append(Span(start, end, label))
    return spans


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _json(value: str, field: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as error:
        raise RowError("wrong_type", f"{field} is not valid JSON: {error}", field) from None
