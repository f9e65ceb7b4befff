"""Garbage collection: objects that no manifest names, older than a grace period.

Orphans are
- dataset shards (`datasets/<name>/shards/...`) that no manifest of that dataset names: left by a
  write that failed before its manifest (the store went away, the caller broke off) or by a
  deletion that stopped midway. A dataset with a manifest that cannot be read is skipped whole
  (what it names cannot be told);
- model version folders (`models/<name>/<version_id>/...`) without a manifest: a training job
  that died while it uploaded its artifacts;
- derived objects (`cache/tokenized/<version_id>/...`) of a dataset version that no dataset
  holds any more (deleted by an earlier release, or by a deletion that stopped midway).

Only objects last modified more than `grace_s` ago are orphans: a write in flight uploads its
shards before its manifest, and its young shards must not be collected under it. Without
`apply` nothing is deleted and the report says what would be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from foundry.domain.retention.lineage import MANIFEST_FILE, MODELS_PREFIX
from foundry.runtime import datasets
from foundry.runtime.errors import CorruptionError, FieldViolation, InvalidArgumentError
from foundry.runtime.manifest import DATASETS_PREFIX
from foundry.runtime.objectinfo import ObjectInfo
from foundry.runtime.objectstore import ObjectStore

DEFAULT_GRACE_S = 3600.0
#: the longest grace period (ten years): beyond it, or not a finite number, is INVALID_ARGUMENT
MAX_GRACE_S = 10 * 365 * 86400.0
#: orphan keys named in a report (all are counted)
MAX_LISTED = 100


@dataclass
class GcReport:
    applied: bool
    grace_s: float
    orphan_objects: int = 0
    orphan_bytes: int = 0
    deleted_objects: int = 0
    deleted_bytes: int = 0
    skipped_datasets: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def add(self, info: ObjectInfo) -> None:
        self.orphan_objects += 1
        self.orphan_bytes += info.size_bytes
        if len(self.keys) < MAX_LISTED:
            self.keys.append(info.key)


def _old(info: ObjectInfo, cutoff: datetime) -> bool:
    return info.last_modified is not None and info.last_modified < cutoff


def collect_garbage(store: ObjectStore, *, grace_s: float = DEFAULT_GRACE_S, apply: bool = False) -> GcReport:
    """Find (and with `apply`, delete) the orphan objects; see the module's docstring."""
    if not (math.isfinite(grace_s) and 0 <= grace_s <= MAX_GRACE_S):
        rule = f"must be a finite number in [0, {MAX_GRACE_S:.0f}]"
        raise InvalidArgumentError(f"grace_s {rule}", violations=[FieldViolation("grace_s", rule)])
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_s)
    report = GcReport(applied=apply, grace_s=grace_s)
    orphans = [
        *_orphan_shards(store, cutoff, report),
        *_orphan_model_objects(store, cutoff),
        *_orphan_derived(store, cutoff),
    ]
    for info in orphans:
        report.add(info)
        if apply:
            store.delete(info.key)
            report.deleted_objects += 1
            report.deleted_bytes += info.size_bytes
    return report


def _orphan_shards(store: ObjectStore, cutoff: datetime, report: GcReport) -> list[ObjectInfo]:
    found: list[ObjectInfo] = []
    for prefix in store.list_prefixes(DATASETS_PREFIX):
        name = prefix[len(DATASETS_PREFIX) : -1]
        try:
            named = {s.key for m in datasets.list_versions(store, name) for s in m.shards}
        except (CorruptionError, ValueError):
            report.skipped_datasets.append(name)
            continue
        found.extend(
            info for info in store.list(f"{prefix}shards/") if info.key not in named and _old(info, cutoff)
        )
    return found


def _orphan_model_objects(store: ObjectStore, cutoff: datetime) -> list[ObjectInfo]:
    found: list[ObjectInfo] = []
    for model in store.list_prefixes(MODELS_PREFIX):
        for version in store.list_prefixes(model):
            objects = list(store.list(version))
            if any(o.key == f"{version}{MANIFEST_FILE}" for o in objects):
                continue
            if objects and all(_old(o, cutoff) for o in objects):
                found.extend(objects)
    return found


def _orphan_derived(store: ObjectStore, cutoff: datetime) -> list[ObjectInfo]:
    live = {
        version.rstrip("/").rsplit("/", 1)[-1]
        for dataset in store.list_prefixes(DATASETS_PREFIX)
        for version in store.list_prefixes(f"{dataset}versions/")
        if next(store.list(version), None) is not None  # a deleted version's folder may stay, empty
    }
    found: list[ObjectInfo] = []
    for prefix in store.list_prefixes(datasets.DERIVED_PREFIX):
        if prefix[len(datasets.DERIVED_PREFIX) : -1] not in live:
            found.extend(o for o in store.list(prefix) if _old(o, cutoff))
    return found
