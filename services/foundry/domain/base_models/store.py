"""Importing base models into the object store, and reading their manifests back verified.

`import_base_model` validates the whole folder first (nothing is uploaded from a folder that
would be refused), uploads every file (skipping objects already stored with the same sha256),
and writes the manifest LAST: a failed import leaves no visible version, only orphan files that
a later import of the same folder reuses. Importing a folder whose version already exists
uploads nothing and returns the stored manifest.

Every read checks the manifest: its bytes against the sha256 the store recorded, its name and
version id against its key, its version id against its files' hashes, and each file's key
against the layout. Any mismatch is `CorruptionError`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from foundry.domain.base_models.folder import LocalFile, scan_model_folder
from foundry.domain.base_models.manifest import (
    BASE_MODELS_PREFIX,
    BaseModelFile,
    BaseModelManifest,
    base_model_prefix,
    compute_version_id,
    file_key,
    manifest_key,
    validate_base_model_name,
    validate_base_model_version_id,
)
from foundry.runtime.errors import CorruptionError, FailedPreconditionError, NotFoundError
from foundry.runtime.listing import CorruptEntry, read_listed
from foundry.runtime.objectstore import ObjectStore


def import_base_model(
    store: ObjectStore, name: str, folder: str | Path, *, source: str = ""
) -> BaseModelManifest:
    """Import the Hugging Face model folder `folder` as base model `name`; return its manifest.

    `source` records where the folder came from (a hub id, a package name). Raises
    `InvalidArgumentError` for a folder that is refused (see `scan_model_folder`).
    """
    validate_base_model_name(name)
    scanned = scan_model_folder(folder)
    version_id = compute_version_id([(f.path, f.sha256) for f in scanned.files])
    if store.exists(manifest_key(name, version_id)):
        return get_base_model(store, name, version_id)
    files = [_upload(store, name, version_id, local) for local in scanned.files]
    manifest = BaseModelManifest(
        name=name,
        version_id=version_id,
        source=source,
        model_type=scanned.model_type,
        architectures=scanned.architectures,
        num_parameters=scanned.num_parameters,
        vocab_size=scanned.vocab_size,
        max_position_embeddings=scanned.max_position_embeddings,
        has_chat_template=scanned.has_chat_template,
        tasks=scanned.tasks,
        config=scanned.config,
        files=files,
    )
    store.put_bytes(
        manifest_key(name, version_id), manifest.to_json().encode("utf-8"), content_type="application/json"
    )
    return manifest


def _upload(store: ObjectStore, name: str, version_id: str, local: LocalFile) -> BaseModelFile:
    key = file_key(name, version_id, local.path)
    stored = store.stat(key) if store.exists(key) else None
    if stored is None or stored.sha256 != local.sha256 or stored.size_bytes != local.size_bytes:
        info = store.put_file(key, local.local_path, content_type=local.media_type)
        if info.sha256 != local.sha256:
            raise FailedPreconditionError(
                f"{local.path} changed during the import (hashed {local.sha256}, uploaded {info.sha256})",
                reason="SOURCE_CHANGED_DURING_UPLOAD",
                metadata={"path": local.path},
            )
    return BaseModelFile(
        path=local.path,
        key=key,
        sha256=local.sha256,
        size_bytes=local.size_bytes,
        media_type=local.media_type,
    )


def get_base_model(store: ObjectStore, name: str, version_id: str = "") -> BaseModelManifest:
    """The manifest of `name` at `version_id`, or its latest version when `version_id` is empty.

    `NotFoundError` when there is no such base model or version; `CorruptionError` when the
    stored manifest fails its checks.
    """
    validate_base_model_name(name)
    if not version_id:
        versions = list_base_models(store, name)
        if not versions:
            raise NotFoundError(
                f"no base model named {name!r}", reason="BASE_MODEL_NOT_FOUND", metadata={"name": name}
            )
        return versions[-1]
    key = manifest_key(name, validate_base_model_version_id(version_id))
    if not store.exists(key):
        raise NotFoundError(
            f"base model {name!r} has no version {version_id}",
            reason="BASE_MODEL_NOT_FOUND",
            metadata={"name": name, "version_id": version_id},
        )
    return _read_manifest(store, key, name, version_id)


def list_base_models(
    store: ObjectStore, name: str | None = None, *, corrupt: list[CorruptEntry] | None = None
) -> list[BaseModelManifest]:
    """Every visible version (one with a manifest), of `name` or of all base models.

    Sorted by name, then by `created_at` (oldest first), then by version id. A manifest that
    fails its checks raises `CorruptionError`, or, given a `corrupt` list, is appended to it and
    left out (`foundry.runtime.listing`).
    """
    names = [name] if name is not None else _names(store)
    manifests: list[BaseModelManifest] = []
    for model_name in names:
        prefix = base_model_prefix(model_name)
        for version_dir in store.list_prefixes(prefix):
            version_id = version_dir[len(prefix) :].rstrip("/")
            key = manifest_key(model_name, version_id)
            if store.exists(key):
                manifest = read_listed(
                    partial(_read_manifest, store, key, model_name, version_id),
                    kind="base_model",
                    name=model_name,
                    version_id=version_id,
                    key=key,
                    corrupt=corrupt,
                )
                if manifest is not None:
                    manifests.append(manifest)
    return sorted(manifests, key=lambda m: (m.name, m.created_at, m.version_id))


def _names(store: ObjectStore) -> list[str]:
    return [p[len(BASE_MODELS_PREFIX) :].rstrip("/") for p in store.list_prefixes(BASE_MODELS_PREFIX)]


def _read_manifest(store: ObjectStore, key: str, name: str, version_id: str) -> BaseModelManifest:
    """Read and check the manifest at `key` (see the module docstring)."""
    data = store.get_bytes(key)
    try:
        manifest = BaseModelManifest.from_json(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise _corrupt(key, f"is not a valid base-model manifest ({exc})") from exc
    if manifest.name != name or manifest.version_id != version_id:
        raise _corrupt(key, f"names {manifest.name!r} version {manifest.version_id}, not its key's")
    content_id = manifest.content_version_id()
    if content_id != version_id:
        raise _corrupt(key, f"lists files that hash to version {content_id}, not {version_id}")
    for entry in manifest.files:
        if entry.key != file_key(name, version_id, entry.path):
            raise _corrupt(key, f"points file {entry.path!r} at a foreign key {entry.key!r}")
    return manifest


def _corrupt(key: str, problem: str) -> CorruptionError:
    return CorruptionError(
        f"base-model manifest {key!r} {problem}", reason="MANIFEST_CORRUPT", metadata={"key": key}
    )


__all__ = ["get_base_model", "import_base_model", "list_base_models"]
