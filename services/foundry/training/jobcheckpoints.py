"""Training checkpoints in the object store, under `jobs/<job_id>/checkpoints/<slot>/` (slots
`latest` and `best`): a checkpoint folder of the training loop uploaded file by file under
`<slot>/<folder name>/`, then `<slot>/index.json` naming the folder and its files with their
sha256, written LAST (`upload_checkpoint`); the previous folder of the slot is deleted after the
new index is in place, so a crash at any point leaves the slot's index pointing at a complete
folder. `download_checkpoint` materializes it (verified)."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundry.runtime.errors import NotFoundError
from foundry.runtime.manifest import utc_now_iso
from foundry.runtime.objectstore import ObjectStore
from foundry.training.jobstore import get_json, job_prefix, put_json

LATEST_SLOT = "latest"
BEST_SLOT = "best"
INDEX_FILE = "index.json"


def checkpoint_prefix(job_id: str, slot: str = LATEST_SLOT) -> str:
    return f"{job_prefix(job_id)}checkpoints/{slot}/"


# --- checkpoints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointIndex:
    """`<slot>/index.json`: the uploaded folder, its step and its files."""

    folder: str
    step: int
    files: list[dict[str, Any]]
    uploaded_at: str = ""


def read_checkpoint_index(store: ObjectStore, job_id: str, slot: str = LATEST_SLOT) -> CheckpointIndex | None:
    """The slot's index, or None when nothing was uploaded there."""
    try:
        data = get_json(store, checkpoint_prefix(job_id, slot) + INDEX_FILE)
    except NotFoundError:
        return None
    return CheckpointIndex(
        folder=str(data["folder"]),
        step=int(data["step"]),
        files=[dict(f) for f in data["files"]],
        uploaded_at=str(data.get("uploaded_at", "")),
    )


def upload_checkpoint(
    store: ObjectStore, job_id: str, folder: str | Path, step: int, slot: str = LATEST_SLOT
) -> CheckpointIndex:
    """Upload a complete local checkpoint folder into the slot (index last, old folder removed)."""
    source = Path(folder)
    prefix = checkpoint_prefix(job_id, slot)
    previous = read_checkpoint_index(store, job_id, slot)
    files = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source).as_posix()
        info = store.put_file(f"{prefix}{source.name}/{rel}", path)
        files.append({"path": rel, "sha256": info.sha256, "size_bytes": info.size_bytes})
    index = CheckpointIndex(folder=source.name, step=step, files=files, uploaded_at=utc_now_iso())
    put_json(
        store,
        prefix + INDEX_FILE,
        {"folder": index.folder, "step": index.step, "files": index.files, "uploaded_at": index.uploaded_at},
    )
    if previous is not None and previous.folder != index.folder:
        for key in store.keys(f"{prefix}{previous.folder}/"):
            store.delete(key)
    return index


def download_checkpoint(
    store: ObjectStore, job_id: str, local_root: str | Path, slot: str = LATEST_SLOT
) -> Path | None:
    """Materialize the slot's checkpoint as `<local_root>/<folder>` (verified); None if none."""
    index = read_checkpoint_index(store, job_id, slot)
    if index is None:
        return None
    prefix = checkpoint_prefix(job_id, slot)
    target = Path(local_root) / index.folder
    partial = Path(local_root) / f".{index.folder}.{uuid.uuid4().hex}.download"
    try:
        for entry in index.files:
            store.get_file(
                f"{prefix}{index.folder}/{entry['path']}",
                partial / entry["path"],
                expected_sha256=entry["sha256"],
            )
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def delete_checkpoints(store: ObjectStore, job_id: str) -> int:
    """Delete every checkpoint of a finished job (a search trial's, once it is scored); the
    number of objects deleted."""
    keys = list(store.keys(f"{job_prefix(job_id)}checkpoints/"))
    for key in keys:
        store.delete(key)
    return len(keys)
