"""Labeling projects: creating and finding them, their items (a dataset version's examples, cached),
their progress, and the annotations current in them. Every other part of the labeling core works
through `Projects`. It knows nothing of gRPC."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from foundry.labeling.aggregation.levels import Level, default_level
from foundry.labeling.annotations import Annotation, AnnotatorFilter, is_model, is_rule
from foundry.labeling.project import Project, check_annotator_name
from foundry.labeling.store import AnnotationState, LabelingStore
from foundry.runtime import datasets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.limits import Limits
from foundry.runtime.manifest import DatasetManifest, validate_name
from foundry.runtime.objectstore import ObjectStore

#: the most annotators of one project
MAX_ANNOTATORS = 1000


@dataclass(frozen=True)
class ProjectSpec:
    name: str
    dataset: str
    dataset_version: str = ""
    splits: tuple[Split, ...] = ()
    task: Task | None = None
    labels: tuple[str, ...] = ()
    descriptions: dict[str, str] | None = None
    guidelines: str = ""
    annotators: tuple[str, ...] = ()
    overlap: int = 0


@dataclass(frozen=True)
class Progress:
    items: int
    items_complete: int
    annotations: int
    by_annotator: dict[str, int]


def invalid(field: str, message: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgumentError:
    """INVALID_ARGUMENT whose one violation names `field` with `message`."""
    return InvalidArgumentError(message, reason=reason, violations=[FieldViolation(field, message)])


class Projects:
    """The projects of one object store and what every labeling operation reads of them."""

    def __init__(self, store: ObjectStore) -> None:
        self.objects = store
        self.store = LabelingStore(store)
        self._items: dict[str, list[Example]] = {}
        self._lock = threading.Lock()

    def create_project(self, spec: ProjectSpec) -> Project:
        validate_name(spec.name, "project", "INVALID_PROJECT_NAME")
        Limits().count("annotators", spec.annotators, MAX_ANNOTATORS).whole(
            "overlap", spec.overlap, MAX_ANNOTATORS
        ).check()
        for i, name in enumerate(spec.annotators):
            check_annotator_name(name, f"annotators[{i}]")
            if is_model(name) or is_rule(name):
                raise invalid(
                    f"annotators[{i}]", f"{name!r}: human annotators cannot be named model:* or rule:*"
                )
        if len(set(spec.annotators)) != len(spec.annotators):
            raise invalid("annotators", "annotator names must be distinct")
        overlap = spec.overlap or 1
        if spec.annotators and not 1 <= overlap <= len(spec.annotators):
            raise invalid(
                "overlap", f"overlap {overlap} must be in [1, {len(spec.annotators)}] (the annotators)"
            )
        manifest = self.dataset(spec.dataset, spec.dataset_version)
        task = spec.task or manifest.task
        if task is Task.CHAT:
            raise invalid("task", "chat datasets cannot be labeled", "TASK_NOT_LABELABLE")
        labels = spec.labels or tuple(manifest.label_set)
        if not labels:
            raise invalid("schema.labels", "the schema needs labels (the dataset has none)")
        if len(set(labels)) != len(labels) or any(not label.strip() or " " in label for label in labels):
            raise invalid("schema.labels", "labels must be distinct, non-empty and without spaces")
        project = Project(
            project_id="p" + hashlib.sha256(spec.name.encode()).hexdigest()[:23],
            name=spec.name,
            dataset=manifest.ref,
            task=task,
            labels=tuple(labels),
            annotators=spec.annotators,
            overlap=overlap,
            splits=spec.splits,
            descriptions=dict(spec.descriptions or {}),
            guidelines=spec.guidelines,
        )
        self.store.create_project(project)
        return project

    def dataset(self, name: str, version_id: str = "") -> DatasetManifest:
        return datasets.resolve_version(self.objects, name, version_id)

    def project(self, project_id: str) -> Project:
        if not project_id:
            raise invalid("project_id", "the project id is required")
        return self.store.get_project(project_id)

    def list_projects(self, dataset: str = "", version_id: str = "") -> list[Project]:
        return [
            p
            for p in self.store.list_projects()
            if (not dataset or p.dataset.name == dataset)
            and (not version_id or p.dataset.version_id == version_id)
        ]

    def items(self, project: Project) -> list[Example]:
        """The project's items (its dataset version's examples of its splits), cached: immutable."""
        with self._lock:
            cached = self._items.get(project.project_id)
        if cached is None:
            manifest = datasets.get_manifest(self.objects, project.dataset.name, project.dataset.version_id)
            cached = list(datasets.iter_examples(self.objects, manifest, splits=project.splits or None))
            with self._lock:
                self._items[project.project_id] = cached
        return cached

    def item_map(self, project: Project) -> dict[str, Example]:
        return {e.id: e for e in self.items(project)}

    def progress(self, project: Project) -> Progress:
        current = [a for a in self.store.state(project.project_id).current() if not a.skipped]
        by_annotator: dict[str, int] = {}
        per_item: dict[str, int] = {}
        for a in current:
            by_annotator[a.annotator] = by_annotator.get(a.annotator, 0) + 1
            if a.annotator in project.annotators:
                per_item[a.item_id] = per_item.get(a.item_id, 0) + 1
        complete = sum(1 for n in per_item.values() if n >= project.overlap)
        return Progress(len(self.items(project)), complete, len(current), by_annotator)

    def current(self, project: Project, selection: AnnotatorFilter) -> list[Annotation]:
        """The current annotations of the annotators `selection` admits (each one named must exist)."""
        known = set(project.annotators)
        for name in selection.annotators:
            if name not in known and not any(
                a == name for a, _ in self.store.state(project.project_id).latest
            ):
                raise invalid("filter.annotators", f"unknown annotator {name!r}", "UNKNOWN_ANNOTATOR")
        return [a for a in self.store.state(project.project_id).current() if selection.admits(a.annotator)]

    @staticmethod
    def next_revisions(state: AnnotationState, candidates: Sequence[Annotation]) -> list[Annotation]:
        """Candidates (revision ignored) as the next revision of their (annotator, item), or the
        current revision when the content is unchanged (so re-runs store nothing new)."""
        out = []
        for a in candidates:
            current = state.latest.get((a.annotator, a.item_id))
            if current is not None and current.content() == replace(a, revision=current.revision).content():
                out.append(replace(a, revision=current.revision))
            else:
                out.append(replace(a, revision=current.revision + 1 if current else 1))
        return out

    @staticmethod
    def level(project: Project, level: Level | None) -> Level:
        """`level`, or the task's default; INVALID_ARGUMENT when it does not fit the task."""
        level = level or default_level(project.task)
        if project.is_token_task == (level is Level.CLASS):
            raise invalid("level", f"level {level.value} does not fit task {project.task.value}")
        return level
