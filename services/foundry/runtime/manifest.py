"""The dataset version manifest, its content-derived version id, and the dataset key layout.

Layout in the bucket:

    datasets/<name>/shards/<sha256>.parquet               content-addressed, shared by versions
    datasets/<name>/versions/<version_id>/manifest.json   written last: makes the version visible

`version_id` is the sha256 of the canonical JSON of what the version *is*: schema version, task,
label set, the shards' sha256 in order, the parents and the recipe hash. The same rows written
by the same recipe from the same parents get the same id; `created_at`, statistics and code
version do not take part (they describe a write, not the content).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from foundry import __version__
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import SCHEMA_VERSION, Split, Task
from foundry.runtime.hashing import canonical_json_sha256

DATASETS_PREFIX = "datasets/"
DATASET_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
VERSION_ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def validate_name(name: str, what: str = "dataset", reason: str = "INVALID_DATASET_NAME") -> str:
    """Return `name` if it is a valid name of a stored thing (a dataset, a base model), else raise
    `InvalidArgumentError`."""
    if not DATASET_NAME_PATTERN.fullmatch(name):
        raise InvalidArgumentError(
            f"invalid {what} name {name!r}: use 1 to 128 of a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit",
            reason=reason,
            violations=[FieldViolation("name", f"{name!r} does not match {DATASET_NAME_PATTERN.pattern}")],
        )
    return name


def validate_id(version_id: str, what: str = "dataset") -> str:
    """Return `version_id` if it looks like one (64 lowercase hex digits), else raise."""
    if not VERSION_ID_PATTERN.fullmatch(version_id):
        raise InvalidArgumentError(
            f"invalid {what} version id {version_id!r}: expected 64 lowercase hex digits",
            reason="INVALID_VERSION_ID",
            violations=[FieldViolation("version_id", "expected 64 lowercase hex digits")],
        )
    return version_id


def validate_dataset_name(name: str) -> str:
    """Return `name` if it is a valid dataset name, else raise `InvalidArgumentError`."""
    return validate_name(name)


def validate_version_id(version_id: str) -> str:
    """Return `version_id` if it looks like one (64 lowercase hex digits), else raise."""
    return validate_id(version_id)


def dataset_prefix(name: str) -> str:
    return f"{DATASETS_PREFIX}{validate_dataset_name(name)}/"


def shard_key(name: str, sha256: str) -> str:
    return f"{dataset_prefix(name)}shards/{sha256}.parquet"


def versions_prefix(name: str) -> str:
    return f"{dataset_prefix(name)}versions/"


def manifest_key(name: str, version_id: str) -> str:
    return f"{versions_prefix(name)}{validate_version_id(version_id)}/manifest.json"


def manifest_json(manifest: Any) -> str:
    """A manifest dataclass as indented, key-sorted JSON (stable for the same manifest)."""
    return json.dumps(asdict(manifest), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


def manifest_object(text: str | bytes) -> dict[str, Any]:
    """The JSON object of a stored manifest; `ValueError` if it is not JSON or not an object."""
    raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError("a manifest must be a JSON object")
    return raw


def utc_now_iso() -> str:
    """The current time as ISO-8601 UTC with milliseconds and a 'Z' (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ShardInfo:
    """One Parquet shard of a version."""

    key: str
    sha256: str
    rows: int
    size_bytes: int


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A pointer to one dataset version (a parent)."""

    name: str
    version_id: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version_id}"


def compute_version_id(
    *,
    schema_version: int,
    task: Task,
    label_set: list[str],
    shard_sha256s: list[str],
    parents: list[VersionRef],
    recipe_hash: str,
) -> str:
    """The content hash that names a dataset version."""
    return canonical_json_sha256(
        {
            "schema_version": schema_version,
            "task": task.value,
            "label_set": label_set,
            "shards": shard_sha256s,
            "parents": [{"name": p.name, "version_id": p.version_id} for p in parents],
            "recipe_hash": recipe_hash,
        }
    )


@dataclass(frozen=True, slots=True)
class DatasetManifest:
    """Everything about one immutable dataset version."""

    name: str
    version_id: str
    task: Task
    label_set: list[str]
    schema_version: int
    shards: list[ShardInfo]
    split_counts: dict[str, int]
    statistics: dict[str, Any]
    parents: list[VersionRef]
    recipe: dict[str, Any]
    recipe_hash: str
    #: the text normalization applied (`foundry.domain.textnorm.NormalizationOptions.to_dict`);
    #: None when none was recorded. Decided by the recipe and the parents, so not in the id.
    normalization: dict[str, bool] | None = None
    code_version: str = __version__
    created_at: str = field(default_factory=utc_now_iso)

    @property
    def ref(self) -> VersionRef:
        return VersionRef(self.name, self.version_id)

    @property
    def num_rows(self) -> int:
        return sum(shard.rows for shard in self.shards)

    def content_version_id(self) -> str:
        """The version id this manifest's content hashes to (equals `version_id` if intact)."""
        return compute_version_id(
            schema_version=self.schema_version,
            task=self.task,
            label_set=self.label_set,
            shard_sha256s=[shard.sha256 for shard in self.shards],
            parents=self.parents,
            recipe_hash=self.recipe_hash,
        )

    def to_json(self) -> str:
        """Indented, key-sorted JSON (stable for the same manifest)."""
        return manifest_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetManifest:
        """Parse a manifest; `ValueError` (or `KeyError`/`TypeError`) if it is malformed."""
        raw = manifest_object(text)
        return cls(
            name=str(raw["name"]),
            version_id=str(raw["version_id"]),
            task=Task(raw["task"]),
            label_set=[str(label) for label in raw["label_set"]],
            schema_version=int(raw["schema_version"]),
            shards=[
                ShardInfo(str(s["key"]), str(s["sha256"]), int(s["rows"]), int(s["size_bytes"]))
                for s in raw["shards"]
            ],
            split_counts={Split(k).value: int(v) for k, v in raw["split_counts"].items()},
            statistics=dict(raw["statistics"]),
            parents=[VersionRef(str(p["name"]), str(p["version_id"])) for p in raw["parents"]],
            recipe=dict(raw["recipe"]),
            recipe_hash=str(raw["recipe_hash"]),
            normalization=_normalization(raw.get("normalization")),
            code_version=str(raw["code_version"]),
            created_at=str(raw["created_at"]),
        )


def _normalization(raw: Any) -> dict[str, bool] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("normalization must be a JSON object")
    return {str(key): bool(value) for key, value in raw.items()}


__all__ = [
    "DATASETS_PREFIX",
    "SCHEMA_VERSION",
    "DatasetManifest",
    "ShardInfo",
    "VersionRef",
    "compute_version_id",
    "dataset_prefix",
    "manifest_key",
    "shard_key",
    "validate_dataset_name",
    "validate_version_id",
    "versions_prefix",
]
