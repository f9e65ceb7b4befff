"""What depends on a stored version, read from the lineage fields of the manifests.

A dataset version is depended on by the dataset versions that name it as a parent (augmentation
output, labeling exports, erasures), by the model versions trained on it (`dataset`) and by the
labeling projects built over it (`dataset`). A model version is depended on by the model versions
trained from it (`base_model` of kind "model_version").

Manifests are read as raw JSON and one that cannot be read is skipped: a corrupt manifest must
not block the deletion of something else (it cannot depend on anything we could tell).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from foundry.runtime.errors import NotFoundError
from foundry.runtime.manifest import DATASETS_PREFIX, VersionRef
from foundry.runtime.objectstore import ObjectStore

MODELS_PREFIX = "models/"
PROJECTS_PREFIX = "labeling/projects/"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True, slots=True)
class Dependent:
    """One thing that depends on a version: `kind` is "dataset_version", "model_version" or
    "labeling_project"; `version_id` is empty for a project."""

    kind: str
    name: str
    version_id: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}@{self.version_id}" if self.version_id else f"{self.kind} {self.name}"


def _json(store: ObjectStore, key: str) -> dict[str, Any] | None:
    try:
        raw = json.loads(store.get_bytes(key))
    except (NotFoundError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None


def _children(store: ObjectStore, prefix: str) -> Iterator[str]:
    for child in store.list_prefixes(prefix):
        yield child[len(prefix) : -1]


def dataset_manifests(store: ObjectStore) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, version_id, raw manifest) of every readable dataset manifest."""
    for name in _children(store, DATASETS_PREFIX):
        versions = f"{DATASETS_PREFIX}{name}/versions/"
        for version_id in _children(store, versions):
            raw = _json(store, f"{versions}{version_id}/{MANIFEST_FILE}")
            if raw is not None:
                yield name, version_id, raw


def model_manifests(store: ObjectStore) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, version_id, raw manifest) of every readable model version manifest."""
    for name in _children(store, MODELS_PREFIX):
        for version_id in _children(store, f"{MODELS_PREFIX}{name}/"):
            raw = _json(store, f"{MODELS_PREFIX}{name}/{version_id}/{MANIFEST_FILE}")
            if raw is not None:
                yield name, version_id, raw


def _same(raw: Any, name: str, version_id: str) -> bool:
    return isinstance(raw, dict) and raw.get("name") == name and raw.get("version_id") == version_id


def dataset_dependents(store: ObjectStore, ref: VersionRef) -> list[Dependent]:
    """Everything that depends on dataset version `ref`, sorted."""
    found: set[Dependent] = set()
    for name, version_id, raw in dataset_manifests(store):
        parents = raw.get("parents")
        if isinstance(parents, list) and any(_same(p, ref.name, ref.version_id) for p in parents):
            found.add(Dependent("dataset_version", name, version_id))
    for name, version_id, raw in model_manifests(store):
        if _same(raw.get("dataset"), ref.name, ref.version_id):
            found.add(Dependent("model_version", name, version_id))
    for project_id in _children(store, PROJECTS_PREFIX):
        project = _json(store, f"{PROJECTS_PREFIX}{project_id}/project.json")
        if project is not None and _same(project.get("dataset"), ref.name, ref.version_id):
            found.add(Dependent("labeling_project", project_id))
    return sorted(found, key=lambda d: (d.kind, d.name, d.version_id))


def model_dependents(store: ObjectStore, name: str, version_id: str) -> list[Dependent]:
    """The model versions trained from model version `name@version_id`, sorted."""
    found = [
        Dependent("model_version", child, child_id)
        for child, child_id, raw in model_manifests(store)
        if _same(raw.get("base_model"), name, version_id)
        and raw.get("base_model", {}).get("kind") == "model_version"
    ]
    return sorted(found, key=lambda d: (d.name, d.version_id))


def models_trained_on(store: ObjectStore, ref: VersionRef) -> list[Dependent]:
    """The model versions trained on dataset version `ref` (for an erasure's report)."""
    return [d for d in dataset_dependents(store, ref) if d.kind == "model_version"]
