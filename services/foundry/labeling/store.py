"""Everything a labeling project keeps, in the object store; no local database.

    labeling/projects/<project_id>/project.json
    labeling/projects/<project_id>/annotations/<time>-<sha16>.json   append-only batches
    labeling/projects/<project_id>/priority/<time>-<sha16>.json      priority / re-annotation items
    labeling/projects/<project_id>/aggregations/<aggregation_id>.json

Annotation batches are immutable and never rewritten: a submit writes one new batch with only
what is new. The state of a project is the union of its batches, read in key order (time
first), where the first stored content of an (annotator, item, revision) wins and the highest
revision per (annotator, item) is the current one. Two replicas that race never lose a write
and resolve a same-revision conflict the same way. Batches are cached by key in memory (they
never change), so a read after the first only fetches the new ones; every fetch is verified by
its sha256 (`ObjectStore`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from foundry.labeling.annotations import Annotation
from foundry.labeling.project import Project
from foundry.runtime.errors import AlreadyExistsError, FieldViolation, NotFoundError
from foundry.runtime.manifest import utc_now_iso
from foundry.runtime.objectstore import ObjectStore

PREFIX = "labeling/projects/"
JSON = "application/json"


def project_prefix(project_id: str) -> str:
    return f"{PREFIX}{project_id}/"


def _dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _batch_key(prefix: str, data: bytes) -> str:
    return f"{prefix}{time.time_ns():020d}-{hashlib.sha256(data).hexdigest()[:16]}.json"


@dataclass
class AnnotationState:
    """The current annotations of a project: the latest revision per (annotator, item)."""

    latest: dict[tuple[str, str], Annotation] = field(default_factory=dict)
    #: every stored (annotator, item, revision) → its content
    revisions: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)

    def add(self, annotation: Annotation) -> None:
        key = (annotation.annotator, annotation.item_id, annotation.revision)
        if key in self.revisions:
            return  # first stored content wins
        self.revisions[key] = annotation.content()
        current = self.latest.get(key[:2])
        if current is None or current.revision < annotation.revision:
            self.latest[key[:2]] = annotation

    def current(self) -> list[Annotation]:
        return list(self.latest.values())


@dataclass(frozen=True)
class PriorityItems:
    item_ids: tuple[str, ...]
    reason: str
    created_at: str
    reannotate: bool


class LabelingStore:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._batches: dict[str, list[Annotation]] = {}
        self._lock = threading.Lock()

    # --- projects ------------------------------------------------------------------------------------

    def create_project(self, project: Project) -> None:
        key = project_prefix(project.project_id) + "project.json"
        if self.store.exists(key):
            raise AlreadyExistsError(
                f"a project named {project.name!r} exists",
                reason="PROJECT_EXISTS",
                violations=[FieldViolation("name", f"{project.name!r} is taken")],
            )
        self.store.put_bytes(key, _dumps(project.to_json()), content_type=JSON)

    def get_project(self, project_id: str) -> Project:
        key = project_prefix(project_id) + "project.json"
        try:
            return Project.from_json(json.loads(self.store.get_bytes(key)))
        except NotFoundError as exc:
            raise NotFoundError(
                f"project {project_id!r} not found",
                reason="PROJECT_NOT_FOUND",
                metadata={"project_id": project_id},
            ) from exc

    def list_projects(self) -> list[Project]:
        ids = [p[len(PREFIX) : -1] for p in self.store.list_prefixes(PREFIX)]
        projects = [self.get_project(i) for i in ids if self.store.exists(project_prefix(i) + "project.json")]
        return sorted(projects, key=lambda p: (p.created_at, p.project_id), reverse=True)

    # --- annotations -----------------------------------------------------------------------------------

    def state(self, project_id: str) -> AnnotationState:
        prefix = project_prefix(project_id) + "annotations/"
        keys = sorted(self.store.keys(prefix))
        state = AnnotationState()
        for key in keys:
            with self._lock:
                batch = self._batches.get(key)
            if batch is None:
                raw = json.loads(self.store.get_bytes(key))
                batch = [Annotation.from_json(a) for a in raw["annotations"]]
                with self._lock:
                    self._batches[key] = batch
            for annotation in batch:
                state.add(annotation)
        return state

    def append(
        self, project_id: str, annotations: Sequence[Annotation], state: AnnotationState
    ) -> tuple[int, int]:
        """Store what is new among `annotations` (checked against `state`, all or nothing) as one
        batch; (stored, unchanged). ALREADY_EXISTS when a revision is stored with other content."""
        new: list[Annotation] = []
        seen: dict[tuple[str, str, int], dict[str, Any]] = {}
        unchanged = 0
        for index, annotation in enumerate(annotations):
            key = (annotation.annotator, annotation.item_id, annotation.revision)
            content = annotation.content()
            stored = state.revisions.get(key, seen.get(key))
            if stored is not None:
                if stored != content:
                    raise AlreadyExistsError(
                        f"revision {annotation.revision} of {annotation.annotator!r} on item {annotation.item_id!r} "
                        "is stored with other content; submit a higher revision",
                        reason="REVISION_CONFLICT",
                        violations=[
                            FieldViolation(f"annotations[{index}].revision", "stored with other content")
                        ],
                    )
                unchanged += 1
                continue
            seen[key] = content
            new.append(annotation)
        if new:
            now = utc_now_iso()
            stamped = [a.stamped(now) for a in new]
            data = _dumps({"annotations": [a.to_json() for a in stamped]})
            batch_key = _batch_key(project_prefix(project_id) + "annotations/", data)
            self.store.put_bytes(batch_key, data, content_type=JSON)
            with self._lock:
                self._batches[batch_key] = stamped
            for annotation in stamped:
                state.add(annotation)
        return len(new), unchanged

    # --- priority items --------------------------------------------------------------------------------

    def add_priority(self, project_id: str, item_ids: Iterable[str], reason: str, *, reannotate: bool) -> int:
        ids = list(dict.fromkeys(item_ids))
        if not ids:
            return 0
        data = _dumps(
            {"item_ids": ids, "reason": reason, "created_at": utc_now_iso(), "reannotate": reannotate}
        )
        self.store.put_bytes(
            _batch_key(project_prefix(project_id) + "priority/", data), data, content_type=JSON
        )
        return len(ids)

    def priorities(self, project_id: str) -> list[PriorityItems]:
        out = []
        for key in sorted(self.store.keys(project_prefix(project_id) + "priority/")):
            raw = json.loads(self.store.get_bytes(key))
            out.append(
                PriorityItems(tuple(raw["item_ids"]), raw["reason"], raw["created_at"], raw["reannotate"])
            )
        return out

    # --- stored aggregations (for paging) --------------------------------------------------------------

    def put_aggregation(self, project_id: str, aggregation_id: str, payload: dict[str, Any]) -> None:
        key = f"{project_prefix(project_id)}aggregations/{aggregation_id}.json"
        if not self.store.exists(key):
            self.store.put_bytes(key, _dumps(payload), content_type=JSON)

    def get_aggregation(self, project_id: str, aggregation_id: str) -> dict[str, Any]:
        key = f"{project_prefix(project_id)}aggregations/{aggregation_id}.json"
        result: dict[str, Any] = json.loads(self.store.get_bytes(key))
        return result
