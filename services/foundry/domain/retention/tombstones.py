"""Tombstones: the audit record a deletion leaves where a version was.

    tombstones/datasets/<name>/<version_id>.json
    tombstones/models/<name>/<version_id>.json

A tombstone says who deleted what, when and why, whether the deletion was forced and what
depended on the version then; it holds no data of the version. The lineage of a dependent still
names the deleted version (manifests are immutable), and its tombstone says that it is deleted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from foundry.runtime.errors import NotFoundError
from foundry.runtime.manifest import utc_now_iso
from foundry.runtime.objectstore import ObjectStore

TOMBSTONES_PREFIX = "tombstones/"
DATASET = "datasets"
MODEL = "models"
#: the longest reason or actor kept (user input is never stored unbounded)
MAX_TEXT_CHARS = 512


def bounded(text: str) -> str:
    """`text` cut to `MAX_TEXT_CHARS` characters."""
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 1] + "…"


@dataclass(frozen=True)
class Tombstone:
    """The record of one deleted version (`kind`: "datasets" or "models")."""

    kind: str
    name: str
    version_id: str
    deleted_by: str
    reason: str
    forced: bool
    dependents: list[str]
    objects_deleted: int = 0
    bytes_deleted: int = 0
    deleted_at: str = field(default_factory=utc_now_iso)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Tombstone:
        return cls(
            kind=str(raw["kind"]),
            name=str(raw["name"]),
            version_id=str(raw["version_id"]),
            deleted_by=str(raw.get("deleted_by", "")),
            reason=str(raw.get("reason", "")),
            forced=bool(raw.get("forced", False)),
            dependents=[str(d) for d in raw.get("dependents", [])],
            objects_deleted=int(raw.get("objects_deleted", 0)),
            bytes_deleted=int(raw.get("bytes_deleted", 0)),
            deleted_at=str(raw.get("deleted_at", "")),
        )


def tombstone_key(kind: str, name: str, version_id: str) -> str:
    return f"{TOMBSTONES_PREFIX}{kind}/{name}/{version_id}.json"


def write_tombstone(store: ObjectStore, tombstone: Tombstone) -> Tombstone:
    key = tombstone_key(tombstone.kind, tombstone.name, tombstone.version_id)
    store.put_bytes(key, tombstone.to_json(), content_type="application/json")
    return tombstone


def get_tombstone(store: ObjectStore, kind: str, name: str, version_id: str) -> Tombstone | None:
    """The tombstone of `name@version_id`, or None if that version was never deleted."""
    try:
        raw = json.loads(store.get_bytes(tombstone_key(kind, name, version_id)))
    except (NotFoundError, ValueError):
        return None
    return Tombstone.from_dict(raw) if isinstance(raw, dict) else None
