"""`materialize`: a base model's files in a local cache folder, every byte verified.

The folder is `<cache_dir>/<name>/<version_id>/`. When it is already there it is reused only if
it holds exactly the manifest's files, each with the manifest's size and sha256 (re-hashed on
every call: about a quarter of a second for a 90 MB model, and a cache corrupted on disk is
never trained on). Otherwise the files are downloaded, each verified against the manifest's
sha256 by the object store while it streams, into a private temporary folder next to the
target, which then replaces the target in one rename. A concurrent materialization of the same
version is harmless: the later one finds a verified folder, or swaps in its own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from foundry.domain.base_models.manifest import BaseModelManifest, file_key
from foundry.runtime.errors import CorruptionError
from foundry.runtime.hashing import file_sha256
from foundry.runtime.keys import key_problem
from foundry.runtime.objectstore import ObjectStore


def materialize(store: ObjectStore, manifest: BaseModelManifest, local_cache_dir: str | Path) -> Path:
    """The local folder holding `manifest`'s files, downloaded and verified if needed.

    Raises `CorruptionError` when the manifest does not hash to its version id or a stored file
    does not match the manifest's sha256.
    """
    _check_manifest(manifest)
    parent = Path(local_cache_dir) / manifest.name
    target = parent / manifest.version_id
    if is_verified(target, manifest):
        return target
    parent.mkdir(parents=True, exist_ok=True)
    partial = parent / f".{manifest.version_id}.{uuid.uuid4().hex}.partial"
    try:
        for entry in manifest.files:
            info = store.get_file(entry.key, partial / entry.path, expected_sha256=entry.sha256)
            if info.size_bytes != entry.size_bytes:
                raise CorruptionError(
                    f"{entry.key!r} has {info.size_bytes} bytes, the manifest says {entry.size_bytes}",
                    reason="OBJECT_SIZE_MISMATCH",
                    metadata={"key": entry.key},
                )
        _swap_in(partial, target, manifest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def is_verified(folder: Path, manifest: BaseModelManifest) -> bool:
    """Whether `folder` holds exactly the manifest's files with their sizes and sha256s."""
    if not folder.is_dir():
        return False
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    if present != {entry.path for entry in manifest.files}:
        return False
    for entry in manifest.files:
        local = folder / entry.path
        if (
            local.is_symlink()
            or local.stat().st_size != entry.size_bytes
            or file_sha256(local) != entry.sha256
        ):
            return False
    return True


def _check_manifest(manifest: BaseModelManifest) -> None:
    content_id = manifest.content_version_id()
    if content_id != manifest.version_id:
        raise CorruptionError(
            f"base model {manifest.name!r} manifest lists files that hash to version {content_id}, "
            f"not {manifest.version_id}",
            reason="MANIFEST_CORRUPT",
            metadata={"name": manifest.name, "version_id": manifest.version_id},
        )
    for entry in manifest.files:
        if key_problem(entry.path) is not None or entry.key != file_key(
            manifest.name, manifest.version_id, entry.path
        ):
            raise CorruptionError(
                f"base model {manifest.name!r} manifest has a bad path {entry.path!r} or key {entry.key!r}",
                reason="MANIFEST_CORRUPT",
                metadata={"name": manifest.name, "version_id": manifest.version_id},
            )


def _swap_in(partial: Path, target: Path, manifest: BaseModelManifest) -> None:
    """Move the verified `partial` folder to `target`, replacing a stale one (not a verified one)."""
    if target.exists() or target.is_symlink():
        if is_verified(target, manifest):  # another process got there first
            return
        stale = target.with_name(f".{target.name}.{uuid.uuid4().hex}.stale")
        os.replace(target, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(partial, target)
    except OSError:
        if not is_verified(target, manifest):  # lost a race to a concurrent swap: theirs is fine
            raise


__all__ = ["is_verified", "materialize"]
