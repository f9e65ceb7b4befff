"""Model versions in the object store: `models/<name>/<version_id>/...`, manifest written last.

A version's artifacts (the Hugging Face checkpoint under `hf/`, `onnx/model.onnx` and
`onnx/model.int8.onnx`, `label_map.json`, `metrics.json`, `curves.png`, `parity.json`) are
uploaded first; `manifest.json`, the `ModelVersion` record, is written LAST, so a version is
visible only once everything it names is stored.

The version id is the sha256 (canonical JSON) over the artifacts' paths and sha256s, the
resolved spec and the dataset version (`compute_model_version_id`). Reading a manifest checks its
bytes (the store's recorded sha256), its name and id against its key, its id against its
content, and each artifact's recorded sha256 against the store's (a HEAD per artifact).

`metrics` holds `splits`: per evaluated split, the flat metrics of the exported weights
(`{"splits": {"validation": {"eval_f1": ...}, "test": {...}}}`), `per_type` (per split: per entity type or
class precision / recall / F1 / support), `confusion` (per split, classification only) and
`training` (objective, best step and value, steps, stop reason, seconds, tokens/s, precision).

`normalization` is the text normalization of the dataset version trained on
(`foundry.domain.textnorm.NormalizationOptions.to_dict`, None when that version recorded none);
the inference service applies it to raw input. It follows from the dataset version, so it does
not take part in the id.

`status` is "promoted" (passed the fp32 parity gate) or "rejected" (stored for inspection, with
`status_reason`); "latest" lookups see promoted versions only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from foundry import __version__
from foundry.runtime.errors import CorruptionError, NotFoundError
from foundry.runtime.hashing import canonical_json_sha256
from foundry.runtime.listing import CorruptEntry, read_listed
from foundry.runtime.manifest import DATASET_NAME_PATTERN, VERSION_ID_PATTERN, utc_now_iso
from foundry.runtime.objectstore import ObjectStore

MODELS_PREFIX = "models/"
MANIFEST_FILE = "manifest.json"
PROMOTED = "promoted"
REJECTED = "rejected"
STATUSES = (PROMOTED, REJECTED)


class ArtifactKind:
    """`foundry.common.v1.ArtifactKind` values without the prefix, lowercase."""

    CHECKPOINT = "checkpoint"
    TOKENIZER = "tokenizer"
    ONNX_FP32 = "onnx_fp32"
    ONNX_INT8 = "onnx_int8"
    LABEL_MAP = "label_map"
    BUNDLE_CONFIG = "bundle_config"
    METRICS_REPORT = "metrics_report"
    TRAINING_CURVES = "training_curves"
    PARITY_REPORT = "parity_report"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """One stored file of a version; `path` is relative to the version's prefix."""

    kind: str
    path: str
    key: str
    sha256: str
    size_bytes: int
    media_type: str = "application/octet-stream"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "path": self.path,
            "key": self.key,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "media_type": self.media_type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelArtifact:
        return cls(
            kind=str(data["kind"]),
            path=str(data["path"]),
            key=str(data["key"]),
            sha256=str(data["sha256"]),
            size_bytes=int(data["size_bytes"]),
            media_type=str(data.get("media_type", "application/octet-stream")),
        )


@dataclass(frozen=True)
class ModelVersion:
    """The manifest of a model version (`foundry.common.v1.ModelVersion`, JSON form)."""

    name: str
    version_id: str
    task: str
    id_to_label: list[str]
    base_model: dict[str, str]
    dataset: dict[str, str]
    spec: dict[str, Any]
    job_id: str
    metrics: dict[str, Any]
    parity: dict[str, Any] | None
    artifacts: list[ModelArtifact]
    status: str
    status_reason: str = ""
    normalization: dict[str, bool] | None = None
    code_version: str = __version__
    created_at: str = field(default_factory=utc_now_iso)

    @property
    def promoted(self) -> bool:
        return self.status == PROMOTED

    def artifact(self, path: str) -> ModelArtifact:
        for entry in self.artifacts:
            if entry.path == path:
                return entry
        raise NotFoundError(f"model version {self.name}@{self.version_id} has no artifact {path!r}")

    def content_version_id(self) -> str:
        return compute_model_version_id(self.artifacts, self.spec, self.dataset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version_id": self.version_id,
            "task": self.task,
            "id_to_label": list(self.id_to_label),
            "base_model": dict(self.base_model),
            "dataset": dict(self.dataset),
            "spec": self.spec,
            "job_id": self.job_id,
            "metrics": self.metrics,
            "parity": self.parity,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "status": self.status,
            "status_reason": self.status_reason,
            "normalization": self.normalization,
            "code_version": self.code_version,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        return cls(
            name=str(data["name"]),
            version_id=str(data["version_id"]),
            task=str(data["task"]),
            id_to_label=[str(label) for label in data["id_to_label"]],
            base_model={str(k): str(v) for k, v in dict(data["base_model"]).items()},
            dataset={str(k): str(v) for k, v in dict(data["dataset"]).items()},
            spec=dict(data["spec"]),
            job_id=str(data["job_id"]),
            metrics=dict(data["metrics"]),
            parity=dict(data["parity"]) if data.get("parity") is not None else None,
            artifacts=[ModelArtifact.from_dict(a) for a in data["artifacts"]],
            status=str(data["status"]),
            status_reason=str(data.get("status_reason", "")),
            normalization=_normalization(data.get("normalization")),
            code_version=str(data.get("code_version", "")),
            created_at=str(data.get("created_at", "")),
        )


def _normalization(raw: Any) -> dict[str, bool] | None:
    if raw is None:
        return None
    return {str(key): bool(value) for key, value in dict(raw).items()}


def model_prefix(name: str) -> str:
    if not DATASET_NAME_PATTERN.fullmatch(name):
        raise ValueError(f"invalid model name {name!r}")
    return f"{MODELS_PREFIX}{name}/"


def version_prefix(name: str, version_id: str) -> str:
    return f"{model_prefix(name)}{version_id}/"


def artifact_key(name: str, version_id: str, path: str) -> str:
    return f"{version_prefix(name, version_id)}{path}"


def manifest_key(name: str, version_id: str) -> str:
    return artifact_key(name, version_id, MANIFEST_FILE)


def compute_model_version_id(
    artifacts: list[ModelArtifact], spec: dict[str, Any], dataset: dict[str, str]
) -> str:
    """sha256 over the artifacts' paths and sha256s, the spec and the dataset version."""
    return canonical_json_sha256(
        {
            "artifacts": sorted([a.path, a.sha256] for a in artifacts),
            "spec": spec,
            "dataset": {"name": dataset.get("name", ""), "version_id": dataset.get("version_id", "")},
        }
    )


def write_model_version(store: ObjectStore, version: ModelVersion) -> ModelVersion:
    """Write the manifest of `version` (its artifacts must already be stored); return it.

    `CorruptionError` when the version id does not match its content or an artifact is missing
    or stored with another sha256."""
    if version.status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {version.status!r}")
    if version.content_version_id() != version.version_id:
        raise CorruptionError(
            f"model version id {version.version_id} does not match its content",
            reason="MODEL_VERSION_MISMATCH",
        )
    _verify_artifacts(store, version)
    data = json.dumps(version.to_dict(), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
    store.put_bytes(
        manifest_key(version.name, version.version_id), data.encode("utf-8"), content_type="application/json"
    )
    return version


def get_model_version(
    store: ObjectStore, name: str, version_id: str = "", *, verify_artifacts: bool = True
) -> ModelVersion:
    """The verified manifest of `name@version_id`; empty `version_id`: the latest promoted one."""
    if not version_id:
        promoted = list_model_versions(store, name, verify_artifacts=False)
        if not promoted:
            raise NotFoundError(f"model {name} has no promoted version", reason="MODEL_NOT_FOUND")
        version_id = promoted[0].version_id
    if not VERSION_ID_PATTERN.fullmatch(version_id):
        raise ValueError(f"invalid model version id {version_id!r}")
    key = manifest_key(name, version_id)
    try:
        data = store.get_bytes(key)
    except NotFoundError as exc:
        raise NotFoundError(
            f"model version {name}@{version_id} not found", reason="MODEL_VERSION_NOT_FOUND"
        ) from exc
    try:
        version = ModelVersion.from_dict(json.loads(data))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptionError(f"model manifest {key!r} is malformed: {exc}", reason="MODEL_CORRUPT") from exc
    if version.name != name or version.version_id != version_id or version.content_version_id() != version_id:
        raise CorruptionError(
            f"model manifest {key!r} does not match its address or content", reason="MODEL_VERSION_MISMATCH"
        )
    if verify_artifacts:
        _verify_artifacts(store, version)
    return version


def list_model_versions(
    store: ObjectStore,
    name: str = "",
    *,
    include_rejected: bool = False,
    verify_artifacts: bool = False,
    corrupt: list[CorruptEntry] | None = None,
) -> list[ModelVersion]:
    """The versions of `name` (every model when empty), newest first; promoted only unless
    `include_rejected`. A manifest that fails its checks raises `CorruptionError`, or, given a
    `corrupt` list, is appended to it and left out (`foundry.runtime.listing`)."""
    names = [name] if name else list_model_names(store)
    versions = []
    for model in names:
        prefix = model_prefix(model)
        for version_prefix_ in store.list_prefixes(prefix):
            version_id = version_prefix_[len(prefix) : -1]
            if not VERSION_ID_PATTERN.fullmatch(version_id) or not store.exists(
                manifest_key(model, version_id)
            ):
                continue
            version = read_listed(
                partial(get_model_version, store, model, version_id, verify_artifacts=verify_artifacts),
                kind="model_version",
                name=model,
                version_id=version_id,
                key=manifest_key(model, version_id),
                corrupt=corrupt,
            )
            if version is not None and (include_rejected or version.promoted):
                versions.append(version)
    return sorted(versions, key=lambda v: (v.created_at, v.version_id), reverse=True)


def list_model_names(store: ObjectStore) -> list[str]:
    return sorted(prefix[len(MODELS_PREFIX) : -1] for prefix in store.list_prefixes(MODELS_PREFIX))


def download_artifacts(
    store: ObjectStore, version: ModelVersion, folder: str | Path, under: str = ""
) -> Path:
    """Download the artifacts whose path starts with `under` into `folder` (that prefix removed),
    each verified by sha256; return the folder."""
    target = Path(folder)
    for entry in version.artifacts:
        if entry.path.startswith(under):
            store.get_file(entry.key, target / entry.path[len(under) :], expected_sha256=entry.sha256)
    return target


def _verify_artifacts(store: ObjectStore, version: ModelVersion) -> None:
    for entry in version.artifacts:
        if entry.key != artifact_key(version.name, version.version_id, entry.path):
            raise CorruptionError(f"artifact {entry.path!r} has key {entry.key!r} outside its version")
        try:
            stored = store.stat(entry.key)
        except NotFoundError as exc:
            raise CorruptionError(
                f"artifact {entry.key!r} of {version.name}@{version.version_id} is missing",
                reason="ARTIFACT_MISSING",
            ) from exc
        if stored.sha256 != entry.sha256 or stored.size_bytes != entry.size_bytes:
            raise CorruptionError(
                f"artifact {entry.key!r} is stored with sha256 {stored.sha256}, the manifest says {entry.sha256}",
                reason="ARTIFACT_HASH_MISMATCH",
            )


__all__ = [
    "MODELS_PREFIX",
    "PROMOTED",
    "REJECTED",
    "ArtifactKind",
    "ModelArtifact",
    "ModelVersion",
    "artifact_key",
    "compute_model_version_id",
    "download_artifacts",
    "get_model_version",
    "list_model_names",
    "list_model_versions",
    "manifest_key",
    "version_prefix",
]
