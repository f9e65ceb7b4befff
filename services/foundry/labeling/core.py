"""The labeling service's core, one part per responsibility, over one object store: `projects`
(projects, their items and progress), `annotating` (tasks, submitted and imported annotations),
`aggregating` (aggregation, agreement, rules) and `exporting` (a project as a dataset version).
Model-backed work (pre-labels, active learning, label issues) is in `foundry.labeling.modelwork`.
None of it knows gRPC."""

from __future__ import annotations

from foundry.labeling.aggregating import Aggregating
from foundry.labeling.annotating import Annotating, ImportRequest
from foundry.labeling.exporting import Exporting
from foundry.labeling.projects import Projects
from foundry.labeling.upload import AnnotationUpload
from foundry.runtime.objectstore import ObjectStore


class LabelingCore:
    def __init__(self, store: ObjectStore, *, rule_timeout_s: float = 1.0) -> None:
        self.projects = Projects(store)
        self.annotating = Annotating(self.projects)
        self.aggregating = Aggregating(self.projects, rule_timeout_s=rule_timeout_s)
        self.exporting = Exporting(self.projects, self.aggregating)

    def begin_import(self, request: ImportRequest, size_bytes: int, sha256: str = "") -> AnnotationUpload:
        """An ImportAnnotations stream of `size_bytes` (its sha256, when given, is checked)."""
        return AnnotationUpload(self.annotating, request, size_bytes, sha256)
