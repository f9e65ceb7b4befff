"""The base-model manifest, its content-derived version id, and the key layout in the bucket.

Layout:

    base-models/<name>/<version_id>/files/<path>        every file of the model folder
    base-models/<name>/<version_id>/manifest.json       written last: makes the version visible

`version_id` is the sha256 of the canonical JSON of the sorted `[path, sha256]` pairs of the
files: the same folder imports to the same id wherever and whenever it is imported, and a file
renamed or changed gives another id. Descriptive fields (name, source, config summary,
`created_at`) do not take part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from foundry import __version__
from foundry.runtime.examples import Task
from foundry.runtime.hashing import canonical_json_sha256
from foundry.runtime.manifest import manifest_json, manifest_object, utc_now_iso, validate_id, validate_name

BASE_MODELS_PREFIX = "base-models/"
MANIFEST_NAME = "manifest.json"


def validate_base_model_name(name: str) -> str:
    """Return `name` if it is a valid base-model name, else raise `InvalidArgumentError`."""
    return validate_name(name, "base model", "INVALID_BASE_MODEL_NAME")


def validate_base_model_version_id(version_id: str) -> str:
    """Return `version_id` if it is 64 lowercase hex digits, else raise `InvalidArgumentError`."""
    return validate_id(version_id, "base model")


def base_model_prefix(name: str) -> str:
    return f"{BASE_MODELS_PREFIX}{validate_base_model_name(name)}/"


def version_prefix(name: str, version_id: str) -> str:
    return f"{base_model_prefix(name)}{validate_base_model_version_id(version_id)}/"


def file_key(name: str, version_id: str, path: str) -> str:
    return f"{version_prefix(name, version_id)}files/{path}"


def manifest_key(name: str, version_id: str) -> str:
    return f"{version_prefix(name, version_id)}{MANIFEST_NAME}"


def compute_version_id(files: list[tuple[str, str]]) -> str:
    """The content hash over `(path, sha256)` pairs (sorted here, so order does not matter)."""
    return canonical_json_sha256([[path, sha256] for path, sha256 in sorted(files)])


@dataclass(frozen=True, slots=True)
class BaseModelFile:
    """One file of a base model: its path in the folder and the stored object."""

    path: str
    key: str
    sha256: str
    size_bytes: int
    media_type: str


@dataclass(frozen=True, slots=True)
class BaseModelManifest:
    """Everything about one imported base-model version (mirrors `foundry.training.v1.BaseModel`)."""

    name: str
    version_id: str
    source: str
    model_type: str
    architectures: list[str]
    num_parameters: int
    vocab_size: int
    max_position_embeddings: int
    has_chat_template: bool
    tasks: list[Task]
    config: dict[str, Any]
    files: list[BaseModelFile]
    code_version: str = __version__
    created_at: str = field(default_factory=utc_now_iso)

    @property
    def size_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    def file(self, path: str) -> BaseModelFile:
        """The file at `path` (KeyError if the model has none)."""
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(path)

    def content_version_id(self) -> str:
        """The version id the listed files hash to (equals `version_id` if the manifest is intact)."""
        return compute_version_id([(f.path, f.sha256) for f in self.files])

    def to_json(self) -> str:
        """Indented, key-sorted JSON (stable for the same manifest)."""
        return manifest_json(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> BaseModelManifest:
        """Parse a manifest; `ValueError` (or `KeyError`/`TypeError`) if it is malformed."""
        raw = manifest_object(text)
        return cls(
            name=str(raw["name"]),
            version_id=str(raw["version_id"]),
            source=str(raw["source"]),
            model_type=str(raw["model_type"]),
            architectures=[str(a) for a in raw["architectures"]],
            num_parameters=int(raw["num_parameters"]),
            vocab_size=int(raw["vocab_size"]),
            max_position_embeddings=int(raw["max_position_embeddings"]),
            has_chat_template=bool(raw["has_chat_template"]),
            tasks=[Task(t) for t in raw["tasks"]],
            config=dict(raw["config"]),
            files=[
                BaseModelFile(
                    path=str(f["path"]),
                    key=str(f["key"]),
                    sha256=str(f["sha256"]),
                    size_bytes=int(f["size_bytes"]),
                    media_type=str(f["media_type"]),
                )
                for f in raw["files"]
            ],
            code_version=str(raw["code_version"]),
            created_at=str(raw["created_at"]),
        )


__all__ = [
    "BASE_MODELS_PREFIX",
    "BaseModelFile",
    "BaseModelManifest",
    "base_model_prefix",
    "compute_version_id",
    "file_key",
    "manifest_key",
    "validate_base_model_name",
    "validate_base_model_version_id",
    "version_prefix",
]
