"""Model-backed labeling work: pre-labels, active-learning selection, label issues.

Predictions come through a `Predictor` (the inference service). Token-classification models
answer with entities and one score each, not with per-token distributions, so a token's
distribution is approximated from them: a token inside an entity puts the entity's score on
its tag and spreads the rest evenly; a token outside every entity puts `OUTSIDE_CONFIDENCE` on
"O". For exact token distributions, pass a `ProbabilityTable` (FindLabelIssues).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from foundry.domain.tags import OUTSIDE, mention_tags
from foundry.labeling import issues as cl
from foundry.labeling import selection
from foundry.labeling.aggregating import AggregateSpec
from foundry.labeling.aggregation.levels import Level, Method
from foundry.labeling.annotations import MODEL_PREFIX, Annotation, AnnotatorFilter, Source, is_model, is_rule
from foundry.labeling.core import LabelingCore
from foundry.labeling.modelspecs import (
    IssuesOutcome,
    IssueSpec,
    LabelIssue,
    ModelSpec,
    PreLabelOutcome,
    ProbabilityRow,
    SelectedItem,
    SelectOutcome,
    SelectSpec,
)
from foundry.labeling.predictor import ItemPrediction, Predictions, Predictor
from foundry.labeling.project import (
    Project,
    item_spans,
    item_text,
    token_offsets,
    validate_annotation,
)
from foundry.labeling.projects import invalid
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Example, Span, Task
from foundry.runtime.limits import Limits

#: the most items one active-learning selection (SelectForLabeling.count) may pick
MAX_SELECT = 10_000
#: the most label issues one FindLabelIssues call reports (limit)
MAX_ISSUES = 10_000
#: the most rows of a FindLabelIssues probability table
MAX_TABLE_ROWS = 1_000_000
#: the most item ids one PreLabel call may name
MAX_PRELABEL_ITEMS = 100_000

OUTSIDE_CONFIDENCE = 0.99
FloatArray = selection.FloatArray


def _tags(example: Example, prediction: ItemPrediction) -> list[str]:
    tags = [OUTSIDE] * len(example.tokens or [])
    for e in prediction.entities:
        start, end = max(e.token_start, 0), min(e.token_end, len(tags))
        if start < end:
            tags[start:end] = mention_tags(e.type, end - start)
    return tags


def _token_probs(example: Example, prediction: ItemPrediction, columns: Sequence[str]) -> FloatArray:
    k = len(columns)
    index = {c: i for i, c in enumerate(columns)}
    rows = np.full((len(example.tokens or []), k), (1 - OUTSIDE_CONFIDENCE) / max(k - 1, 1))
    rows[:, index[OUTSIDE]] = OUTSIDE_CONFIDENCE
    for t, tag in enumerate(_tags(example, prediction)):
        if tag != OUTSIDE and tag in index:
            score = next(e.score for e in prediction.entities if e.token_start <= t < e.token_end)
            rows[t, :] = (1 - score) / max(k - 1, 1)
            rows[t, index[tag]] = score
    return rows


class ModelWork:
    def __init__(self, core: LabelingCore, predictor: Predictor) -> None:
        self.projects = core.projects
        self.aggregating = core.aggregating
        self.predictor = predictor

    def _predict(self, project: Project, model: ModelSpec, examples: Sequence[Example]) -> Predictions:
        if not model.name:
            raise invalid("model.name", "the model is required")
        return self.predictor.predict(model.name, model.version_id, model.int8, project.task, examples)

    def _items(self, project: Project, item_ids: Sequence[str]) -> list[Example]:
        by_id = self.projects.item_map(project)
        for i, item in enumerate(item_ids):
            if item not in by_id:
                raise invalid(f"item_ids[{i}]", f"unknown item {item!r}", "UNKNOWN_ITEM")
        return [by_id[i] for i in item_ids] if item_ids else self.projects.items(project)

    # --- PreLabel ---------------------------------------------------------------------------------------------

    def prelabel(self, project_id: str, model: ModelSpec, item_ids: Sequence[str]) -> PreLabelOutcome:
        Limits().count("item_ids", item_ids, MAX_PRELABEL_ITEMS).check()
        project = self.projects.project(project_id)
        examples = self._items(project, item_ids)
        state = self.projects.store.state(project_id)
        if model.version_id and not item_ids:
            done = {item for (who, item) in state.latest if who == MODEL_PREFIX + model.version_id}
            examples = [e for e in examples if e.id not in done]
        predictions = self._predict(project, model, examples)
        annotator = MODEL_PREFIX + predictions.version_id
        candidates = []
        for example, p in zip(examples, predictions.items, strict=True):
            candidate = self._annotation(project, example, p, annotator)
            try:
                candidates.append(
                    validate_annotation(project, example, candidate, f"predictions[{example.id}]")
                )
            except Exception as exc:
                raise FailedPreconditionError(
                    f"model {predictions.name}@{predictions.version_id} predicts outside the project's schema: {exc}",
                    reason="MODEL_SCHEMA_MISMATCH",
                ) from exc
        self.projects.store.append(project_id, self.projects.next_revisions(state, candidates), state)
        return PreLabelOutcome(annotator, len(candidates), predictions.name, predictions.version_id)

    @staticmethod
    def _annotation(project: Project, example: Example, p: ItemPrediction, annotator: str) -> Annotation:
        if project.task is Task.TOKEN_CLASSIFICATION:
            tags = _tags(example, p)
            scores = [e.score for e in p.entities]
            return Annotation(
                example.id,
                annotator,
                1,
                Source.MODEL,
                tags=tuple(tags),
                spans=tuple(item_spans(example, tags)),
                score=float(np.mean(scores)) if scores else None,
            )
        if project.task is Task.MULTILABEL_CLASSIFICATION:
            return Annotation(
                example.id, annotator, 1, Source.MODEL, labels=p.labels, label_scores=dict(p.distribution)
            )
        label = max(p.distribution, key=lambda k: p.distribution[k]) if p.distribution else ""
        return Annotation(
            example.id,
            annotator,
            1,
            Source.MODEL,
            label=label,
            score=p.distribution.get(label),
            label_scores=dict(p.distribution),
        )

    # --- SelectForLabeling -----------------------------------------------------------------------------------

    def select(self, project_id: str, spec: SelectSpec) -> SelectOutcome:
        Limits().whole("count", spec.count, MAX_SELECT).check()
        project = self.projects.project(project_id)
        count, diversity_weight = spec.count, spec.diversity_weight
        if count < 1:
            raise invalid("count", "count must be at least 1")
        if not 0.0 <= diversity_weight <= 1.0:
            raise invalid("diversity_weight", "diversity_weight must be in [0, 1]")
        candidates = self.projects.items(project)
        if spec.unlabeled_only:
            humans: dict[str, int] = {}
            for (who, item), a in self.projects.store.state(project_id).latest.items():
                if not (is_model(who) or is_rule(who)) and not a.skipped:
                    humans[item] = humans.get(item, 0) + 1
            candidates = [e for e in candidates if humans.get(e.id, 0) < project.overlap]
        if not candidates:
            return SelectOutcome([], 0)
        predictions = self._predict(project, spec.model, candidates)
        rows = [
            self._rows(project, e, p, predictions.id_to_label)
            for e, p in zip(candidates, predictions.items, strict=True)
        ]
        uncertainty = selection.item_uncertainty(rows, spec.strategy, spec.reduction)
        features = selection.text_features([item_text(e) for e in candidates]) if diversity_weight else None
        picked = selection.select(
            uncertainty,
            count,
            strategy=spec.strategy,
            seed=spec.seed,
            features=features,
            diversity_weight=diversity_weight,
        )
        chosen = [SelectedItem(candidates[s.index].id, s.score, s.uncertainty) for s in picked]
        if spec.prioritize:
            self.projects.store.add_priority(
                project_id, [c.item_id for c in chosen], "select", reannotate=False
            )
        return SelectOutcome(chosen, len(candidates))

    @staticmethod
    def _rows(
        project: Project, example: Example, p: ItemPrediction, id_to_label: Sequence[str]
    ) -> FloatArray:
        if project.task is Task.TOKEN_CLASSIFICATION:
            rows = np.full((len(example.tokens or []), 2), [1.0, 0.0])
            for e in p.entities:
                rows[max(e.token_start, 0) : e.token_end] = [e.score, 1.0 - e.score]
            return rows
        if project.task is Task.MULTILABEL_CLASSIFICATION:
            q = np.array([p.distribution.get(label, 0.0) for label in id_to_label])
            return np.stack([q, 1.0 - q], axis=1)
        return np.array([[p.distribution.get(label, 0.0) for label in id_to_label]])

    # --- FindLabelIssues ---------------------------------------------------------------------------------------

    def label_issues(self, project_id: str, spec: IssueSpec) -> IssuesOutcome:
        limits = Limits().whole("limit", spec.limit, MAX_ISSUES)
        limits.count("table.items", spec.table, MAX_TABLE_ROWS).check()
        project = self.projects.project(project_id)
        model = spec.model
        if project.task is Task.MULTILABEL_CLASSIFICATION:
            raise invalid("project_id", "label issues are found for single-label and token classification")
        labels = self._given(project, spec.given, spec.annotator)
        by_id = self.projects.item_map(project)
        if model is not None:
            examples = [by_id[i] for i in labels]
            predictions = self._predict(project, model, examples)
            columns = list(predictions.id_to_label)
            probs = {
                e.id: (
                    _token_probs(e, p, columns)
                    if project.is_token_task
                    else np.array([p.distribution.get(c, 0.0) for c in columns])
                )
                for e, p in zip(examples, predictions.items, strict=True)
            }
        else:
            probs, columns = self._table(project, spec.table, labels)
        items = [i for i in labels if i in probs]
        if project.is_token_task:
            found = self._token_issues(items, labels, probs, columns)
        else:
            index = {c: i for i, c in enumerate(columns)}
            codes = np.array([index[str(labels[i])] for i in items], dtype=np.int64)
            matrix = np.array([probs[i] for i in items], dtype=np.float64).reshape(len(items), len(columns))
            matrix = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1e-12, None)
            found = cl.class_issues(codes, matrix)
        out = [
            LabelIssue(
                items[x.index],
                columns[x.given],
                columns[x.suggested],
                x.quality,
                _span_at(by_id[items[x.index]], x.token, labels[items[x.index]]),
            )
            for x in found.issues[: spec.limit or 100]
        ]
        created = (
            self.projects.store.add_priority(
                project_id, [i.item_id for i in out], "label_issues", reannotate=True
            )
            if spec.create_tasks
            else 0
        )
        return IssuesOutcome(out, found.checked, found.noise_rate, created)

    def _token_issues(
        self,
        items: list[str],
        labels: dict[str, object],
        probs: dict[str, FloatArray],
        columns: list[str],
    ) -> cl.IssueReport:
        index = {c: i for i, c in enumerate(columns)}
        codes = []
        for item in items:
            tags = labels[item]
            assert isinstance(tags, tuple)
            missing = [t for t in tags if t not in index]
            if missing:
                raise invalid(
                    "probabilities.labels", f"tag {missing[0]!r} of item {item!r} has no probability column"
                )
            codes.append(np.array([index[t] for t in tags], dtype=np.int64))
        rows = [probs[i] / np.clip(probs[i].sum(axis=1, keepdims=True), 1e-12, None) for i in items]
        return cl.token_issues(codes, rows)

    def _given(self, project: Project, given: str, annotator: str) -> dict[str, object]:
        """item → given label (classification) or tag tuple (token classification)."""
        if given == "dataset":
            return {
                e.id: (tuple(e.tags or ()) if project.is_token_task else e.label)
                for e in self.projects.items(project)
                if (e.tags if project.is_token_task else e.label)
            }
        if given == "annotator":
            if not annotator:
                raise invalid("annotator", "the annotator is required for GIVEN_LABEL_SOURCE_ANNOTATOR")
            current = [
                a
                for a in self.projects.store.state(project.project_id).current()
                if a.annotator == annotator and not a.skipped
            ]
            if not current:
                raise invalid("annotator", f"annotator {annotator!r} has no annotations", "UNKNOWN_ANNOTATOR")
            return {a.item_id: (a.tags if project.is_token_task else a.label) for a in current}
        level = Level.TOKEN if project.is_token_task else Level.CLASS
        spec = AggregateSpec(Method.DAWID_SKENE, level, AnnotatorFilter())
        result = self.aggregating.aggregate(project.project_id, spec).result
        return {i.item_id: (i.tags if project.is_token_task else i.label) for i in result.items}

    @staticmethod
    def _table(
        project: Project, table: Sequence[ProbabilityRow], labels: dict[str, object]
    ) -> tuple[dict[str, FloatArray], list[str]]:
        if not table:
            raise invalid("probabilities", "a model or a probability table is required")
        columns = list(table[0].labels) or (
            project.tag_set() if project.is_token_task else list(project.labels)
        )
        out: dict[str, FloatArray] = {}
        for i, row in enumerate(table):
            if (list(row.labels) or columns) != columns:
                raise invalid(f"table.items[{i}].labels", "every row must use the same label order")
            values = np.asarray(row.probabilities, dtype=np.float64)
            if row.item_id not in labels:
                continue
            given = labels[row.item_id]
            width = len(columns) * (len(given) if isinstance(given, tuple) else 1)
            if values.size != width:
                raise invalid(
                    f"table.items[{i}].probabilities",
                    f"expected {width} values for item {row.item_id!r}, got {values.size}",
                )
            out[row.item_id] = values.reshape(-1, len(columns)) if project.is_token_task else values
        return out, columns


def _span_at(example: Example, token: int, given: object) -> Span | None:
    if token < 0 or not isinstance(given, tuple):
        return None
    offsets = token_offsets(example)
    if token >= len(offsets):
        return None
    spans = item_spans(example, list(given))
    start, _ = offsets[token]
    return next((s for s in spans if s.start <= start < s.end), None)
