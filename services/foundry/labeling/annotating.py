"""Annotating a project: the next tasks of an annotator, submitted annotations, imported ones
(Label Studio or CoNLL files). It knows nothing of gRPC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from foundry.domain.formats import ConllOptions
from foundry.labeling import imports
from foundry.labeling.annotations import Annotation, is_model, is_rule
from foundry.labeling.assignment import assign
from foundry.labeling.project import check_annotator_name, check_known_annotator, validate_annotation
from foundry.labeling.projects import Projects, invalid
from foundry.labeling.store import AnnotationState, PriorityItems
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Example
from foundry.runtime.limits import Limits

#: the most annotations one SubmitAnnotations call may carry
MAX_SUBMIT = 10_000


@dataclass(frozen=True)
class LabelingTask:
    """One item to annotate, with the model and rule suggestions on it and the annotator's own
    previous annotation."""

    example: Example
    suggestions: list[Annotation]
    previous: Annotation | None


@dataclass(frozen=True)
class NextTasks:
    tasks: list[LabelingTask]
    #: items still pending for the annotator, these tasks included
    remaining: int


@dataclass(frozen=True)
class SubmitOutcome:
    stored: int
    unchanged: int


@dataclass(frozen=True)
class ImportRequest:
    """What to import annotations into, as whom, and how to read and match them."""

    project_id: str
    annotator: str
    format: imports.ImportFormat
    match: imports.ItemMatch
    conll: ConllOptions = field(default_factory=ConllOptions)


@dataclass(frozen=True)
class ImportOutcome:
    imported: int
    unmatched: int
    violations: list[imports.ImportViolation]


class Annotating:
    def __init__(self, projects: Projects) -> None:
        self.projects = projects

    def next_tasks(self, project_id: str, annotator: str, limit: int, suggestions: bool) -> NextTasks:
        project = self.projects.project(project_id)
        if annotator not in project.annotators:
            raise invalid(
                "annotator",
                f"{annotator!r} is not an annotator of project {project.name!r}",
                "UNKNOWN_ANNOTATOR",
            )
        if not 1 <= limit <= 500:
            raise invalid("limit", "limit must be in [1, 500]")
        items = self.projects.items(project)
        who = project.annotators.index(annotator)
        table = assign([e.id for e in items], project.annotators, project.overlap, salt=project.project_id)
        assigned = [items[i] for i in range(len(items)) if who in table[i]]
        store = self.projects.store
        state = store.state(project_id)
        pending = self._pending(assigned, annotator, state, store.priorities(project_id))
        chosen = pending[:limit]
        tasks = [
            LabelingTask(
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
        return NextTasks(tasks, len(pending))

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

    def submit(self, project_id: str, annotations: Sequence[Annotation]) -> SubmitOutcome:
        """Validate every annotation (all or nothing), store the new ones."""
        Limits().count("annotations", annotations, MAX_SUBMIT).check()
        project = self.projects.project(project_id)
        items = self.projects.item_map(project)
        checked = []
        for i, a in enumerate(annotations):
            where = f"annotations[{i}]"
            check_known_annotator(project, a.annotator, a.source, f"{where}.annotator")
            example = items.get(a.item_id)
            if example is None:
                raise invalid(
                    f"{where}.item_id",
                    f"unknown item {a.item_id!r} in project {project.name!r}",
                    "UNKNOWN_ITEM",
                )
            checked.append(validate_annotation(project, example, a, where))
        store = self.projects.store
        stored, unchanged = store.append(project_id, checked, store.state(project_id))
        return SubmitOutcome(stored, unchanged)

    def import_annotations(self, request: ImportRequest, data: bytes) -> ImportOutcome:
        project = self.projects.project(request.project_id)
        annotator, match = request.annotator, request.match
        check_annotator_name(annotator, "header.annotator")
        if is_model(annotator) or is_rule(annotator):
            raise invalid("header.annotator", "imported work cannot be stored as model:* or rule:*")
        index = imports.ItemIndex(self.projects.items(project))
        if request.format is imports.ImportFormat.CONLL:
            if not project.is_token_task:
                raise invalid("header.format", "CoNLL imports need a token classification project")
            parsed = imports.parse_conll(data, index, request.conll, annotator, match)
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
        store = self.projects.store
        state = store.state(request.project_id)
        stored, _ = store.append(request.project_id, self.projects.next_revisions(state, valid), state)
        return ImportOutcome(stored, parsed.unmatched, violations[:100])
