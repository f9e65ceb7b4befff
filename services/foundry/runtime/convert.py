"""pb ⇄ domain for the messages every service shares: Example, DatasetVersion, enums, and the
mechanical mapping of option messages onto the frozen dataclasses that mirror them.

Servicers call these; domain code never sees a protobuf message.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from foundry.api.common.v1 import dataset_pb2, example_pb2, listing_pb2, refs_pb2, task_pb2
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span, Split, Task
from foundry.runtime.listing import CorruptEntry
from foundry.runtime.manifest import DatasetManifest, VersionRef

E = TypeVar("E", bound=StrEnum)
D = TypeVar("D")

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _prefix(enum_descriptor: Any) -> str:
    return _CAMEL.sub("_", enum_descriptor.name).upper() + "_"


def enum_from_pb(enum_type: type[E], descriptor: Any, number: int, default: E | None = None) -> E:
    """The StrEnum member for a proto enum number: `SPLIT_TRAIN` → `Split.TRAIN`.

    The zero value (`*_UNSPECIFIED`) gives `default`; an unknown value is INVALID_ARGUMENT.
    """
    if number == 0 and default is not None:
        return default
    value = descriptor.values_by_number.get(number)
    short = value.name.removeprefix(_prefix(descriptor)) if value else ""
    if short in enum_type.__members__:
        return enum_type[short]
    raise InvalidArgumentError(
        f"{descriptor.name} value {value.name if value else number} is not accepted here",
        reason="INVALID_ENUM_VALUE",
        violations=[FieldViolation(descriptor.name, f"unsupported value {value.name if value else number}")],
    )


def enum_to_pb(member: StrEnum, descriptor: Any) -> Any:
    """The proto enum number of a StrEnum member: `Split.TRAIN` → SPLIT_TRAIN."""
    return descriptor.values_by_name[_prefix(descriptor) + member.name].number


def task_from_pb(number: int, field: str = "task") -> Task:
    if number == 0:
        raise InvalidArgumentError(
            "the task must be set", reason="TASK_REQUIRED", violations=[FieldViolation(field, "required")]
        )
    return enum_from_pb(Task, task_pb2.Task.DESCRIPTOR, number)


def task_to_pb(task: Task) -> Any:
    return enum_to_pb(task, task_pb2.Task.DESCRIPTOR)


def split_from_pb(number: int) -> Split:
    return enum_from_pb(Split, example_pb2.Split.DESCRIPTOR, number, default=Split.UNASSIGNED)


def split_to_pb(split: Split) -> Any:
    return enum_to_pb(split, example_pb2.Split.DESCRIPTOR)


# --- option messages onto dataclasses -----------------------------------------------------------------


def _unwrap_optional(hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None))
    return hint


def message_to_dataclass(message: Message, cls: type[D]) -> D:
    """Fill the frozen dataclass `cls` from the proto message with the same field names.

    Unset `optional` fields and zero-valued plain fields take the dataclass default; repeated
    fields become tuples; enums map by value name; nested messages recurse.
    """
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    fields_by_name = message.DESCRIPTOR.fields_by_name
    for field in dataclasses.fields(cast(Any, cls)):
        descriptor = fields_by_name.get(field.name)
        if descriptor is None:
            continue
        hint = _unwrap_optional(hints[field.name])
        value = getattr(message, field.name)
        if descriptor.is_repeated:
            (item_hint,) = typing.get_args(hint)[:1] or (str,)
            if descriptor.enum_type is not None:
                kwargs[field.name] = tuple(enum_from_pb(item_hint, descriptor.enum_type, v) for v in value)
            else:
                kwargs[field.name] = tuple(value)
        elif descriptor.message_type is not None:
            if message.HasField(field.name):
                kwargs[field.name] = message_to_dataclass(value, hint)
        elif descriptor.has_presence:
            if message.HasField(field.name):
                kwargs[field.name] = _scalar(descriptor, hint, value)
        elif value != descriptor.default_value:
            kwargs[field.name] = _scalar(descriptor, hint, value)
    return cls(**kwargs)


def _scalar(descriptor: Any, hint: Any, value: Any) -> Any:
    if descriptor.enum_type is not None:
        return enum_from_pb(hint, descriptor.enum_type, value)
    return value


# --- Example ----------------------------------------------------------------------------------------------


def example_to_pb(example: Example) -> example_pb2.Example:
    pb = example_pb2.Example(
        id=example.id,
        split=split_to_pb(example.split),
        meta=example.meta,
        provenance=example_pb2.Provenance(
            source=example.provenance.source,
            line=example.provenance.line or 0,
            parent_ids=example.provenance.parent_ids,
            operation=example.provenance.operation,
        ),
        text=example.text or "",
        label=example.label or "",
        labels=example.labels or (),
        tokens=example.tokens or (),
        tags=example.tags or (),
        spans=[example_pb2.Span(start=s.start, end=s.end, label=s.label) for s in example.spans or ()],
        messages=[example_pb2.ChatMessage(role=m.role, content=m.content) for m in example.messages or ()],
    )
    return pb


def example_from_pb(pb: example_pb2.Example) -> Example:
    return Example(
        id=pb.id,
        split=split_from_pb(pb.split),
        meta=dict(pb.meta),
        provenance=Provenance(
            source=pb.provenance.source,
            line=pb.provenance.line or None,
            parent_ids=list(pb.provenance.parent_ids),
            operation=pb.provenance.operation,
        ),
        text=pb.text or None,
        label=pb.label or None,
        labels=list(pb.labels) or None,
        tokens=list(pb.tokens) or None,
        tags=list(pb.tags) or None,
        spans=[Span(s.start, s.end, s.label) for s in pb.spans] or None,
        messages=[ChatMessage(m.role, m.content) for m in pb.messages] or None,
    )


# --- DatasetVersion ------------------------------------------------------------------------------------------


def version_ref_to_pb(ref: VersionRef) -> refs_pb2.DatasetRef:
    return refs_pb2.DatasetRef(name=ref.name, version_id=ref.version_id)


def manifest_to_pb(manifest: DatasetManifest, *, full: bool = True) -> dataset_pb2.DatasetVersion:
    """The DatasetVersion message; `full=False` leaves out the statistics (list views)."""
    counts = manifest.split_counts
    pb = dataset_pb2.DatasetVersion(
        name=manifest.name,
        version_id=manifest.version_id,
        task=task_to_pb(manifest.task),
        label_set=manifest.label_set,
        schema_version=manifest.schema_version,
        shards=[
            dataset_pb2.Shard(key=s.key, sha256=s.sha256, rows=s.rows, size_bytes=s.size_bytes)
            for s in manifest.shards
        ],
        counts=dataset_pb2.SplitCounts(
            train=counts.get("train", 0),
            validation=counts.get("validation", 0),
            test=counts.get("test", 0),
            unassigned=counts.get("unassigned", 0),
            total=sum(counts.values()),
        ),
        parents=[version_ref_to_pb(p) for p in manifest.parents],
        recipe_hash=manifest.recipe_hash,
        producer=str(manifest.recipe.get("producer", "")),
        code_version=manifest.code_version,
    )
    recipe = struct_pb2.Struct()
    recipe.update(manifest.recipe)
    pb.recipe.CopyFrom(recipe)
    pb.created_at.FromDatetime(datetime.fromisoformat(manifest.created_at.replace("Z", "+00:00")))
    if manifest.normalization is not None:
        json_format.ParseDict(manifest.normalization, pb.normalization, ignore_unknown_fields=True)
        pb.normalization.SetInParent()
    if full and manifest.statistics:
        json_format.ParseDict(_without_nulls(manifest.statistics), pb.statistics, ignore_unknown_fields=True)
    return pb


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def corrupt_entries_to_pb(entries: list[CorruptEntry], page_token: str) -> list[listing_pb2.CorruptEntry]:
    """The corrupt entries of a listing, for its first page only (`page_token` empty)."""
    if page_token:
        return []
    return [
        listing_pb2.CorruptEntry(
            kind=e.kind, name=e.name, version_id=e.version_id, key=e.key, reason=e.reason, message=e.message
        )
        for e in entries
    ]
