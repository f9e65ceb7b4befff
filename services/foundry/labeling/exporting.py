"""Exporting a project: its items with their aggregated labels become a new dataset version
(low-confidence items skipped, unlabeled ones optionally kept). It knows nothing of gRPC."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from foundry.labeling.aggregating import AggregateSpec, Aggregating
from foundry.labeling.aggregation.levels import AggregatedItem, Aggregation, Level, Method
from foundry.labeling.annotations import AnnotatorFilter
from foundry.labeling.project import Project
from foundry.labeling.projects import Projects
from foundry.runtime import datasets
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Example, Provenance, Task
from foundry.runtime.manifest import DatasetManifest, VersionRef, validate_name


@dataclass(frozen=True)
class ExportSpec:
    """How to aggregate (the level None: the task's default), which items to keep, and the dataset
    to write ("": the project's dataset)."""

    method: Method
    level: Level | None
    selection: AnnotatorFilter
    min_confidence: float = 0.0
    include_unlabeled: bool = False
    output_name: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:  # NaN fails this too
            raise InvalidArgumentError(
                f"min_confidence must be within [0, 1], got {self.min_confidence}",
                violations=[FieldViolation("min_confidence", "a probability within [0, 1]")],
            )


@dataclass(frozen=True)
class ExportOutcome:
    manifest: DatasetManifest
    exported: int
    skipped_low_confidence: int
    skipped_unlabeled: int


class Exporting:
    def __init__(self, projects: Projects, aggregating: Aggregating) -> None:
        self.projects = projects
        self.aggregating = aggregating

    def export(self, project_id: str, spec: ExportSpec) -> ExportOutcome:
        project = self.projects.project(project_id)
        name = validate_name(spec.output_name or project.dataset.name)
        selection = spec.selection
        result = self.aggregating.aggregate(
            project_id, AggregateSpec(spec.method, spec.level, selection)
        ).result
        by_item = {i.item_id: i for i in result.items}
        low = unlabeled = 0
        out: list[Example] = []
        for example in self.projects.items(project):
            agg = by_item.get(example.id)
            if agg is None:
                unlabeled += 1
                if spec.include_unlabeled:
                    out.append(_unlabeled(example))
                continue
            if agg.confidence < spec.min_confidence:
                low += 1
                continue
            out.append(_labeled(project, example, agg, result))
        recipe = {
            "producer": "labeling",
            "project_id": project.project_id,
            "method": result.method.value,
            "level": result.level.value,
            "filter": [list(selection.annotators), selection.include_models, selection.include_rules],
            "min_confidence": spec.min_confidence,
            "include_unlabeled": spec.include_unlabeled,
        }
        stats = {
            "labeling": {"exported": len(out), "skipped_low_confidence": low, "skipped_unlabeled": unlabeled}
        }
        manifest = datasets.write_dataset_version(
            self.projects.objects,
            name,
            project.task,
            out,
            label_set=project.labels,
            parents=[VersionRef(project.dataset.name, project.dataset.version_id)],
            recipe=recipe,
            statistics=stats,
            normalization=datasets.get_manifest(
                self.projects.objects, project.dataset.name, project.dataset.version_id
            ).normalization,
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
