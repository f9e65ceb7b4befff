"""Deleting a dataset version or a model version.

A version that something depends on (see `lineage`) is refused with FAILED_PRECONDITION
(reason VERSION_HAS_DEPENDENTS, the dependents in the message and in the error's metadata)
unless `force`. Otherwise, in this order:

1. the tombstone is written (who, when, why, what depended on it; no data), so the lineage of a
   dependent can always tell that the version is deleted, even if a step below fails;
2. the manifest is deleted: from here on the version is invisible (listing, reading, training);
3. its objects are deleted: for a dataset version the shards that no other version of the same
   dataset names (shards are content-addressed and shared between versions of one dataset; the
   shard key holds the dataset name, so no other dataset can name them) and what was derived
   from its rows (the tokenization cache, `datasets.derived_prefix`); for a model version every
   object under its prefix (artifacts are never shared).

A step that fails midway leaves objects no manifest names; `gc` collects them. A write of the
same rows into the same dataset that runs at the very moment its shards are deleted can name a
shard that is gone (reading it then reports DATA_LOSS): delete while nothing writes that dataset.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from foundry.domain import modelversions
from foundry.domain.retention.lineage import Dependent, dataset_dependents, model_dependents
from foundry.domain.retention.tombstones import DATASET, MODEL, Tombstone, bounded, write_tombstone
from foundry.runtime import datasets
from foundry.runtime.errors import CorruptionError, FailedPreconditionError, FieldViolation, NotFoundError
from foundry.runtime.manifest import (
    VersionRef,
    manifest_key,
    validate_dataset_name,
    validate_id,
    validate_name,
    validate_version_id,
)
from foundry.runtime.objectstore import ObjectStore

#: dependents named in an error message (all are in the tombstone)
MAX_NAMED = 20


@dataclass(frozen=True)
class DeletionOutcome:
    tombstone: Tombstone
    dependents: list[Dependent]


def _bury(
    store: ObjectStore,
    kind: str,
    ref: VersionRef,
    deleted_by: str,
    reason: str,
    force: bool,
    dependents: list[Dependent],
    *,
    objects: int,
    size_bytes: int,
) -> Tombstone:
    """Write the tombstone of `ref` (before anything of it is deleted)."""
    return write_tombstone(
        store,
        Tombstone(
            kind=kind,
            name=ref.name,
            version_id=ref.version_id,
            deleted_by=bounded(deleted_by),
            reason=bounded(reason),
            forced=force and bool(dependents),
            dependents=[str(d) for d in dependents],
            objects_deleted=objects,
            bytes_deleted=size_bytes,
        ),
    )


def refuse_if_depended_on(what: str, dependents: list[Dependent], force: bool) -> None:
    """FAILED_PRECONDITION naming the dependents of `what`, unless there are none or `force`."""
    if not dependents or force:
        return
    named = ", ".join(str(d) for d in dependents[:MAX_NAMED])
    more = f" and {len(dependents) - MAX_NAMED} more" if len(dependents) > MAX_NAMED else ""
    raise FailedPreconditionError(
        f"{what} has {len(dependents)} dependent(s): {named}{more}; delete them first or force",
        reason="VERSION_HAS_DEPENDENTS",
        violations=[FieldViolation("force", f"depended on by {d}") for d in dependents[:MAX_NAMED]],
        metadata={"dependents": bounded("; ".join(str(d) for d in dependents))},
    )


def delete_dataset_version(
    store: ObjectStore, name: str, version_id: str, *, force: bool, deleted_by: str, reason: str
) -> DeletionOutcome:
    """Delete dataset version `name@version_id` (NOT_FOUND if there is none)."""
    validate_dataset_name(name)
    validate_version_id(version_id)
    try:
        shards = datasets.get_manifest(store, name, version_id).shards
    except CorruptionError:
        shards = []  # a corrupt manifest is deleted all the same; gc collects its shards
    ref = VersionRef(name, version_id)
    dependents = [d for d in dataset_dependents(store, ref) if (d.name, d.version_id) != (name, version_id)]
    refuse_if_depended_on(f"dataset version {ref}", dependents, force)
    kept = _shards_named_elsewhere(store, name, version_id)
    doomed = {} if kept is None else {s.key: s.size_bytes for s in shards if s.key not in kept}
    doomed.update({o.key: o.size_bytes for o in store.list(datasets.derived_prefix(version_id))})
    tombstone = _bury(
        store,
        DATASET,
        VersionRef(name, version_id),
        deleted_by,
        reason,
        force,
        dependents,
        objects=len(doomed) + 1,
        size_bytes=sum(doomed.values()),
    )
    store.delete(manifest_key(name, version_id))
    for key in sorted(doomed):
        store.delete(key)
    return DeletionOutcome(tombstone, dependents)


def _shards_named_elsewhere(store: ObjectStore, name: str, version_id: str) -> set[str] | None:
    """The shard keys that the other versions of dataset `name` name; None when one of them
    cannot be read."""
    prefix = f"datasets/{name}/versions/"
    named: set[str] = set()
    for child in store.list_prefixes(prefix):
        other = child[len(prefix) : -1]
        if other == version_id:
            continue
        try:
            named.update(s.key for s in datasets.get_manifest(store, name, other).shards)
        except NotFoundError:
            continue  # a deleted version's empty folder
        except CorruptionError:
            return None  # what it names cannot be told: keep every shard (gc skips this dataset too)
    return named


def delete_model_version(
    store: ObjectStore, name: str, version_id: str, *, force: bool, deleted_by: str, reason: str
) -> DeletionOutcome:
    """Delete model version `name@version_id` and every object under its prefix."""
    validate_name(name, "model", "INVALID_MODEL_NAME")
    validate_id(version_id, "model")
    with contextlib.suppress(CorruptionError):  # a corrupt manifest is deleted all the same
        modelversions.get_model_version(store, name, version_id, verify_artifacts=False)
    dependents = model_dependents(store, name, version_id)
    refuse_if_depended_on(f"model version {name}@{version_id}", dependents, force)
    objects = list(store.list(modelversions.version_prefix(name, version_id)))
    tombstone = _bury(
        store,
        MODEL,
        VersionRef(name, version_id),
        deleted_by,
        reason,
        force,
        dependents,
        objects=len(objects),
        size_bytes=sum(o.size_bytes for o in objects),
    )
    store.delete(modelversions.manifest_key(name, version_id))
    for info in objects:
        if info.key != modelversions.manifest_key(name, version_id):
            store.delete(info.key)
    return DeletionOutcome(tombstone, dependents)
