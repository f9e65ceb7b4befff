"""pb ⇄ domain for the labeling service's model-backed RPCs (PreLabel, SelectForLabeling,
FindLabelIssues)."""

from __future__ import annotations

from foundry.api.common.v1 import example_pb2, model_pb2, refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.labeling import selection
from foundry.labeling.aggregation.levels import Method
from foundry.labeling.modelspecs import (
    IssuesOutcome,
    IssueSpec,
    LabelIssue,
    ModelSpec,
    PreLabelOutcome,
    ProbabilityRow,
    SelectOutcome,
    SelectSpec,
)
from foundry.runtime.convert import enum_from_pb

_GIVEN: dict[int, str] = {
    0: "aggregate",
    pb.GIVEN_LABEL_SOURCE_AGGREGATE: "aggregate",
    pb.GIVEN_LABEL_SOURCE_DATASET: "dataset",
    pb.GIVEN_LABEL_SOURCE_ANNOTATOR: "annotator",
}


def given_from_pb(number: int) -> str:
    return _GIVEN.get(number) or enum_from_pb(Method, pb.GivenLabelSource.DESCRIPTOR, number)


def model_from_pb(ref: refs_pb2.ModelRef, variant: int = 0) -> ModelSpec:
    return ModelSpec(ref.name, ref.version_id, variant == model_pb2.MODEL_VARIANT_INT8)


def strategy_from_pb(n: int) -> selection.Strategy:
    return enum_from_pb(
        selection.Strategy, pb.SelectionStrategy.DESCRIPTOR, n, default=selection.Strategy.ENTROPY
    )


def reduction_from_pb(n: int) -> selection.Reduction:
    return enum_from_pb(
        selection.Reduction, pb.TokenScoreReduction.DESCRIPTOR, n, default=selection.Reduction.MEAN
    )


def table_from_pb(t: pb.ProbabilityTable) -> list[ProbabilityRow]:
    return [ProbabilityRow(i.item_id, tuple(i.probabilities), tuple(i.labels)) for i in t.items]


def issue_to_pb(i: LabelIssue) -> pb.LabelIssue:
    out = pb.LabelIssue(
        item_id=i.item_id, given_label=i.given, suggested_label=i.suggested, label_quality=i.quality
    )
    if i.span is not None:
        out.span.CopyFrom(example_pb2.Span(start=i.span.start, end=i.span.end, label=i.span.label))
    return out


def prelabel_to_pb(o: PreLabelOutcome) -> pb.PreLabelResponse:
    response = pb.PreLabelResponse(annotator=o.annotator, items_labeled=o.items_labeled)
    response.model.name, response.model.version_id = o.model_name, o.model_version_id
    return response


def select_spec_from_pb(r: pb.SelectForLabelingRequest) -> SelectSpec:
    return SelectSpec(
        model=model_from_pb(r.model),
        count=r.count,
        strategy=strategy_from_pb(r.strategy),
        reduction=reduction_from_pb(r.reduction),
        unlabeled_only=r.unlabeled_only if r.HasField("unlabeled_only") else True,
        diversity_weight=r.diversity_weight,
        seed=r.seed,
        prioritize=r.prioritize,
    )


def select_to_pb(o: SelectOutcome) -> pb.SelectForLabelingResponse:
    return pb.SelectForLabelingResponse(
        items=[pb.SelectedItem(item_id=i.item_id, score=i.score, uncertainty=i.uncertainty) for i in o.items],
        candidates=o.candidates,
    )


def issue_spec_from_pb(r: pb.FindLabelIssuesRequest) -> IssueSpec:
    which = r.WhichOneof("probabilities")
    return IssueSpec(
        given=given_from_pb(r.given),
        annotator=r.annotator,
        model=model_from_pb(r.model) if which == "model" else None,
        table=table_from_pb(r.table) if which == "table" else [],
        limit=r.limit or 100,
        create_tasks=r.create_tasks,
    )


def issues_to_pb(o: IssuesOutcome) -> pb.FindLabelIssuesResponse:
    return pb.FindLabelIssuesResponse(
        issues=[issue_to_pb(i) for i in o.issues],
        items_checked=o.items_checked,
        estimated_noise_rate=o.estimated_noise_rate,
        tasks_created=o.tasks_created,
    )
