"""The labeling service's core: projects, tasks, annotations, imports, aggregation, agreement,
rules and export. It knows nothing of gRPC; model-backed work (pre-labels, active learning,
label issues) is in `foundry.labeling.modelwork`."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from foundry.labeling import imports, rules
from foundry.labeling.aggregation.levels import (
    AggregatedItem,
    Aggregation,
    Level,
    Method,
    aggregate,
    default_level,
)
from foundry.labeling.agreement import AgreementReport, measure
from foundry.labeling.annotations import Annotation, AnnotatorFilter, Source, is_model, is_rule
from foundry.labeling.assignment import assign
from foundry.labeling.project import Project, check_annotator_name, check_known_annotator, validate_annotation
from foundry.labeling.store import AnnotationState, LabelingStore, PriorityItems
from foundry.runtime import datasets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Provenance, Split, Task
from foundry.runtime.hashing import canonical_json_sha256
from foundry.runtime.manifest import DatasetManifest, VersionRef, validate_name
from foundry.runtime.objectstore import ObjectStore


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


@dataclass(frozen=True)
class Task_:
    example: Example
    suggestions: list[Annotation]
    previous: Annotation | None


@dataclass(frozen=True)
class ImportOutcome:
    imported: int
    unmatched: int
    violations: list[imports.ImportViolation]


@dataclass(frozen=True)
class ExportOutcome:
    manifest: DatasetManifest
    exported: int
    skipped_low_confidence: int
    skipped_unlabeled: int


def _invalid(field: str, message: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgumentError:
    return InvalidArgumentError(message, reason=reason, violations=[FieldViolation(field, message)])


class LabelingCore:
    def __init__(self, store: ObjectStore, *, rule_timeout_s: float = 1.0) -> None:
        self.objects = store
        self.store = LabelingStore(store)
        self.rule_timeout_s = rule_timeout_s
        self._items: dict[str, list[Example]] = {}
        self._lock = threading.Lock()

    # --- projects ------------------------------------------------------------------------------------

    def create_project(self, spec: ProjectSpec) -> Project:
        validate_name(spec.name, "project", "INVALID_PROJECT_NAME")
        for i, name in enumerate(spec.annotators):
            check_annotator_name(name, f"annotators[{i}]")
            if is_model(name) or is_rule(name):
                raise _invalid(
                    f"annotators[{i}]", f"{name!r}: human annotators cannot be named model:* or rule:*"
                )
        if len(set(spec.annotators)) != len(spec.annotators):
            raise _invalid("annotators", "annotator names must be distinct")
        overlap = spec.overlap or 1
        if spec.annotators and not 1 <= overlap <= len(spec.annotators):
            raise _invalid(
                "overlap", f"overlap {overlap} must be in [1, {len(spec.annotators)}] (the annotators)"
            )
        manifest = self.dataset(spec.dataset, spec.dataset_version)
        task = spec.task or manifest.task
        if task is Task.CHAT:
            raise _invalid("task", "chat datasets cannot be labeled", "TASK_NOT_LABELABLE")
        labels = spec.labels or tuple(manifest.label_set)
        if not labels:
            raise _invalid("schema.labels", "the schema needs labels (the dataset has none)")
        if len(set(labels)) != len(labels) or any(not label.strip() or " " in label for label in labels):
            raise _invalid("schema.labels", "labels must be distinct, non-empty and without spaces")
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
            raise _invalid("project_id", "the project id is required")
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

    # --- tasks and annotations -----------------------------------------------------------------------------

    def next_tasks(
        self, project_id: str, annotator: str, limit: int, suggestions: bool
    ) -> tuple[list[Task_], int]:
        project = self.project(project_id)
        if annotator not in project.annotators:
            raise _invalid(
                "annotator",
                f"{annotator!r} is not an annotator of project {project.name!r}",
                "UNKNOWN_ANNOTATOR",
            )
        if not 1 <= limit <= 500:
            raise _invalid("limit", "limit must be in [1, 500]")
        items = self.items(project)
        who = project.annotators.index(annotator)
        table = assign([e.id for e in items], project.annotators, project.overlap, salt=project.project_id)
        assigned = [items[i] for i in range(len(items)) if who in table[i]]
        state = self.store.state(project_id)
        pending = self._pending(assigned, annotator, state, self.store.priorities(project_id))
        chosen = pending[:limit]
        tasks = [
            Task_(
                example,
                [
                    a
                    for (name, item), a in state.latest.items()
                    if item == example.id and (is_model(name) or is_rule(name)) and not a.skipped
                ]
                if suggestions
                else [],
                state.latest.get((annotator, example.id)),
            )
            for example in chosen
        ]
        return tasks, len(pending)

    @staticmethod
    def _pending(
        assigned: list[Example], annotator: str, state: AnnotationState, priorities: list[PriorityItems]
    ) -> list[Example]:
        """Assigned items not done by `annotator`, priority items first; a re-annotation request
        makes an item pending again until the annotator submits after it."""
        by_id = {e.id: e for e in assigned}
        redo: dict[str, str] = {}
        order: list[str] = []
        for p in priorities:
            for item in p.item_ids:
                if item in by_id:
                    order.append(item)
                    if p.reannotate:
                        redo[item] = max(redo.get(item, ""), p.created_at)

        def pending(item: str) -> bool:
            mine = state.latest.get((annotator, item))
            return mine is None or (item in redo and mine.created_at < redo[item])

        ranked = list(dict.fromkeys([*order, *by_id]))
        return [by_id[item] for item in ranked if pending(item)]

    def submit(self, project_id: str, annotations: Sequence[Annotation]) -> tuple[int, int]:
        """Validate every annotation (all or nothing), store the new ones."""
        project = self.project(project_id)
        items = self.item_map(project)
        checked = []
        for i, a in enumerate(annotations):
            where = f"annotations[{i}]"
            check_known_annotator(project, a.annotator, a.source, f"{where}.annotator")
            example = items.get(a.item_id)
            if example is None:
                raise _invalid(
                    f"{where}.item_id",
                    f"unknown item {a.item_id!r} in project {project.name!r}",
                    "UNKNOWN_ITEM",
                )
            checked.append(validate_annotation(project, example, a, where))
        return self.store.append(project_id, checked, self.store.state(project_id))

    def next_revisions(self, state: AnnotationState, candidates: Sequence[Annotation]) -> list[Annotation]:
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

    def import_annotations(
        self,
        project_id: str,
        annotator: str,
        fmt: imports.ImportFormat,
        data: bytes,
        match: imports.ItemMatch,
        conll: Any = None,
    ) -> ImportOutcome:
        project = self.project(project_id)
        check_annotator_name(annotator, "header.annotator")
        if is_model(annotator) or is_rule(annotator):
            raise _invalid("header.annotator", "imported work cannot be stored as model:* or rule:*")
        index = imports.ItemIndex(self.items(project))
        if fmt is imports.ImportFormat.CONLL:
            if not project.is_token_task:
                raise _invalid("header.format", "CoNLL imports need a token classification project")
            parsed = imports.parse_conll(data, index, conll, annotator, match)
        else:
            parsed = imports.parse_label_studio(data, index, project.task, annotator, match)
        valid: list[Annotation] = []
        violations = list(parsed.violations)
        for line, candidate in parsed.annotations:
            try:
                valid.append(
                    validate_annotation(project, index.by_id[candidate.item_id], candidate, "record")
                )
            except InvalidArgumentError as exc:
                for v in exc.violations:
                    violations.append(
                        imports.ImportViolation(line, v.field, exc.reason, v.description, candidate.item_id)
                    )
        state = self.store.state(project_id)
        stored, _ = self.store.append(project_id, self.next_revisions(state, valid), state)
        return ImportOutcome(stored, parsed.unmatched, violations[:100])

    def current(self, project: Project, selection: AnnotatorFilter) -> list[Annotation]:
        known = set(project.annotators)
        for name in selection.annotators:
            if name not in known and not any(
                a == name for a, _ in self.store.state(project.project_id).latest
            ):
                raise _invalid("filter.annotators", f"unknown annotator {name!r}", "UNKNOWN_ANNOTATOR")
        return [a for a in self.store.state(project.project_id).current() if selection.admits(a.annotator)]

    # --- aggregation, agreement, rules ---------------------------------------------------------------------

    def aggregate(
        self,
        project_id: str,
        method: Method,
        level: Level | None,
        selection: AnnotatorFilter,
        min_votes: int = 1,
        max_iterations: int = 100,
        tolerance: float = 1e-6,
    ) -> tuple[str, Aggregation]:
        project = self.project(project_id)
        level = self._level(project, level)
        annotations = self.current(project, selection)
        aggregation_id = canonical_json_sha256(
            {
                "annotations": sorted((a.annotator, a.item_id, a.revision) for a in annotations),
                "method": method.value,
                "level": level.value,
                "min_votes": min_votes,
                "max_iterations": max_iterations,
                "tolerance": tolerance,
            }
        )
        result = aggregate(
            project,
            annotations,
            self.item_map(project),
            method=method,
            level=level,
            min_votes=min_votes,
            max_iterations=max_iterations,
            tolerance=tolerance,
        )
        return aggregation_id, result

    @staticmethod
    def _level(project: Project, level: Level | None) -> Level:
        level = level or default_level(project.task)
        if project.is_token_task == (level is Level.CLASS):
            raise _invalid("level", f"level {level.value} does not fit task {project.task.value}")
        return level

    def agreement(
        self, project_id: str, level: Level | None, selection: AnnotatorFilter, method: Method
    ) -> AgreementReport:
        project = self.project(project_id)
        level = self._level(project, level)
        return measure(
            project, self.current(project, selection), self.item_map(project), level=level, method=method
        )

    def apply_rules(
        self, project_id: str, rule_list: Sequence[rules.Rule], store: bool
    ) -> tuple[list[rules.RuleStats], int, int, int]:
        """(per-rule statistics, items covered, items, votes stored)."""
        project = self.project(project_id)
        items = self.items(project)
        resolved = [self._resolve_entries(r) for r in rule_list]
        votes = rules.apply_rules(project, resolved, items, timeout_s=self.rule_timeout_s)
        humans = [
            a
            for a in self.store.state(project_id).current()
            if not (is_model(a.annotator) or is_rule(a.annotator))
        ]
        reference = aggregate(
            project,
            humans,
            self.item_map(project),
            method=Method.MAJORITY_VOTE,
            level=default_level(project.task),
        )
        stats = rules.statistics(
            votes,
            len(items),
            {i.item_id: i.label for i in reference.items},
            {i.item_id: i.spans for i in reference.items},
        )
        covered = len(set().union(*(v.items for v in votes))) if votes else 0
        stored = self._store_rule_votes(project, votes) if store else 0
        return stats, covered, len(items), stored

    def _resolve_entries(self, rule: rules.Rule) -> rules.Rule:
        """A gazetteer's stored entry list joined to its inline entries (read verified)."""
        if not rule.entries_key:
            return rule
        lines = self.objects.get_bytes(rule.entries_key).decode("utf-8").splitlines()
        return replace(
            rule, terms=(*rule.terms, *(line.strip() for line in lines if line.strip())), entries_key=""
        )

    def _store_rule_votes(self, project: Project, all_votes: Sequence[rules.RuleVotes]) -> int:
        state = self.store.state(project.project_id)
        items = self.item_map(project)
        candidates: list[Annotation] = []
        for votes in all_votes:
            name = f"rule:{votes.rule.name}"
            for item in sorted(votes.items):
                a = Annotation(
                    item,
                    name,
                    1,
                    Source.RULE,
                    label=votes.labels.get(item, ""),
                    spans=votes.spans.get(item, ()),
                )
                candidates.append(validate_annotation(project, items[item], a, "rule"))
            for (annotator, item), current in state.latest.items():  # items it no longer votes on
                if annotator == name and item not in votes.items and not current.skipped:
                    candidates.append(Annotation(item, name, 1, Source.RULE, skipped=True))
        stored, _ = self.store.append(project.project_id, self.next_revisions(state, candidates), state)
        return stored

    # --- export ---------------------------------------------------------------------------------------------

    def export(
        self,
        project_id: str,
        method: Method,
        level: Level | None,
        selection: AnnotatorFilter,
        min_confidence: float,
        include_unlabeled: bool,
        output_name: str,
    ) -> ExportOutcome:
        project = self.project(project_id)
        name = validate_name(output_name or project.dataset.name)
        _, result = self.aggregate(project_id, method, level, selection)
        by_item = {i.item_id: i for i in result.items}
        low = unlabeled = 0
        out: list[Example] = []
        for example in self.items(project):
            agg = by_item.get(example.id)
            if agg is None:
                unlabeled += 1
                if include_unlabeled:
                    out.append(_unlabeled(example))
                continue
            if agg.confidence < min_confidence:
                low += 1
                continue
            out.append(_labeled(project, example, agg, result))
        recipe = {
            "producer": "labeling",
            "project_id": project.project_id,
            "method": result.method.value,
            "level": result.level.value,
            "filter": [list(selection.annotators), selection.include_models, selection.include_rules],
            "min_confidence": min_confidence,
            "include_unlabeled": include_unlabeled,
        }
        stats = {
            "labeling": {"exported": len(out), "skipped_low_confidence": low, "skipped_unlabeled": unlabeled}
        }
        manifest = datasets.write_dataset_version(
            self.objects,
            name,
            project.task,
            out,
            label_set=project.labels,
            parents=[VersionRef(project.dataset.name, project.dataset.version_id)],
            recipe=recipe,
            statistics=stats,
        )
        return ExportOutcome(manifest, len(out), low, unlabeled)


def _unlabeled(example: Example) -> Example:
    return replace(
        example,
        label=None,
        labels=None,
        tags=None,
        spans=None,
        meta={**example.meta, "label_source": "unlabeled"},
    )


def _labeled(project: Project, example: Example, agg: AggregatedItem, result: Aggregation) -> Example:
    meta = {
        **example.meta,
        "label_confidence": f"{agg.confidence:.6f}",
        "label_votes": json.dumps(agg.by_annotator, sort_keys=True, ensure_ascii=False),
        "label_method": f"{result.method.value}/{result.level.value}",
    }
    provenance = Provenance(
        source=f"labeling/{project.project_id}", parent_ids=[example.id], operation="labeling.aggregate"
    )
    if project.task is Task.TEXT_CLASSIFICATION:
        return replace(example, label=agg.label, meta=meta, provenance=provenance)
    if project.task is Task.MULTILABEL_CLASSIFICATION:
        return replace(example, labels=list(agg.labels), meta=meta, provenance=provenance)
    return replace(example, tags=list(agg.tags), spans=list(agg.spans), meta=meta, provenance=provenance)
