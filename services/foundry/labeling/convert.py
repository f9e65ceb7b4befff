"""pb ⇄ domain for the labeling service."""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from foundry.api.common.v1 import conll_pb2, dataset_pb2, example_pb2, model_pb2, refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2, rules_pb2
from foundry.domain.formats import ConllOptions
from foundry.labeling import imports, rules
from foundry.labeling.aggregating import AggregateSpec, AggregationPage, RulesOutcome
from foundry.labeling.aggregation.levels import AggregatedItem, Level, Method, Reliability
from foundry.labeling.agreement import AgreementReport
from foundry.labeling.annotating import ImportOutcome, ImportRequest, NextTasks, SubmitOutcome
from foundry.labeling.annotations import Annotation, AnnotatorFilter, Source
from foundry.labeling.exporting import ExportOutcome, ExportSpec
from foundry.labeling.project import Project
from foundry.labeling.projects import Progress, ProjectSpec
from foundry.labeling.rules import RuleKind
from foundry.runtime.convert import (
    enum_from_pb,
    enum_to_pb,
    example_to_pb,
    manifest_to_pb,
    message_to_dataclass,
    split_from_pb,
    split_to_pb,
    task_from_pb,
    task_to_pb,
)
from foundry.runtime.examples import Span

_METHODS: dict[int, Method] = {
    0: Method.DAWID_SKENE,
    pb.AGGREGATION_METHOD_MAJORITY_VOTE: Method.MAJORITY_VOTE,
    pb.AGGREGATION_METHOD_DAWID_SKENE: Method.DAWID_SKENE,
}
_LEVELS: dict[int, Level] = {
    pb.ANNOTATION_LEVEL_CLASS: Level.CLASS,
    pb.ANNOTATION_LEVEL_TOKEN: Level.TOKEN,
    pb.ANNOTATION_LEVEL_SPAN: Level.SPAN,
}


def method_from_pb(number: int) -> Method:
    return (
        _METHODS[number]
        if number in _METHODS
        else enum_from_pb(Method, pb.AggregationMethod.DESCRIPTOR, number)
    )


def method_to_pb(method: Method) -> Any:
    return enum_to_pb(method, pb.AggregationMethod.DESCRIPTOR)


def level_from_pb(number: int) -> Level | None:
    return (
        None
        if number == 0
        else _LEVELS.get(number) or enum_from_pb(Level, pb.AnnotationLevel.DESCRIPTOR, number)
    )


def level_to_pb(level: Level) -> Any:
    return enum_to_pb(level, pb.AnnotationLevel.DESCRIPTOR)


def filter_from_pb(f: pb.AnnotatorFilter) -> AnnotatorFilter:
    return AnnotatorFilter(tuple(f.annotators), f.include_models, f.include_rules)


def spec_from_pb(r: pb.CreateProjectRequest) -> ProjectSpec:
    return ProjectSpec(
        name=r.name,
        dataset=r.dataset.name,
        dataset_version=r.dataset.version_id,
        splits=tuple(split_from_pb(s) for s in r.splits),
        task=task_from_pb(r.task) if r.task else None,
        labels=tuple(r.schema.labels),
        descriptions=dict(r.schema.descriptions),
        guidelines=r.guidelines,
        annotators=tuple(r.annotators),
        overlap=r.overlap,
    )


def project_to_pb(p: Project, progress: Progress | None = None) -> project_pb2.Project:
    created = timestamp_pb2.Timestamp()
    created.FromJsonString(p.created_at)
    out = project_pb2.Project(
        project_id=p.project_id,
        name=p.name,
        dataset=refs_pb2.DatasetRef(name=p.dataset.name, version_id=p.dataset.version_id),
        splits=[split_to_pb(s) for s in p.splits],
        task=task_to_pb(p.task),
        schema=project_pb2.LabelSchema(labels=list(p.labels), descriptions=p.descriptions),
        guidelines=p.guidelines,
        annotators=list(p.annotators),
        overlap=p.overlap,
        created_at=created,
    )
    if progress is not None:
        out.progress.CopyFrom(
            project_pb2.ProjectProgress(
                items=progress.items,
                items_complete=progress.items_complete,
                annotations=progress.annotations,
                annotations_by_annotator=progress.by_annotator,
            )
        )
    return out


_SOURCES: dict[int, Source] = {
    0: Source.HUMAN,
    1: Source.HUMAN,
    2: Source.MODEL,
    3: Source.RULE,
    4: Source.IMPORT,
}


def annotation_from_pb(a: project_pb2.Annotation) -> Annotation:
    return Annotation(
        item_id=a.item_id,
        annotator=a.annotator,
        revision=a.revision,
        source=_SOURCES.get(a.source, Source.HUMAN),
        label=a.label,
        labels=tuple(a.labels),
        tags=tuple(a.tags),
        spans=tuple(Span(s.start, s.end, s.label) for s in a.spans),
        skipped=a.skipped,
        score=a.score if a.HasField("score") else None,
        label_scores=dict(a.label_scores),
    )


_SOURCE_PB: dict[Source, Any] = {
    Source.HUMAN: project_pb2.ANNOTATION_SOURCE_HUMAN,
    Source.MODEL: project_pb2.ANNOTATION_SOURCE_MODEL,
    Source.RULE: project_pb2.ANNOTATION_SOURCE_RULE,
    Source.IMPORT: project_pb2.ANNOTATION_SOURCE_IMPORT,
}


def annotation_to_pb(a: Annotation) -> project_pb2.Annotation:
    out = project_pb2.Annotation(
        item_id=a.item_id,
        annotator=a.annotator,
        revision=a.revision,
        source=_SOURCE_PB[a.source],
        label=a.label,
        labels=list(a.labels),
        tags=list(a.tags),
        spans=[example_pb2.Span(start=s.start, end=s.end, label=s.label) for s in a.spans],
        skipped=a.skipped,
        label_scores=a.label_scores,
    )
    if a.score is not None:
        out.score = a.score
    if a.created_at:
        out.created_at.FromJsonString(a.created_at)
    return out


def aggregated_to_pb(i: AggregatedItem) -> pb.AggregatedItem:
    return pb.AggregatedItem(
        item_id=i.item_id,
        label=i.label,
        labels=list(i.labels),
        tags=list(i.tags),
        spans=[example_pb2.Span(start=s.start, end=s.end, label=s.label) for s in i.spans],
        confidence=i.confidence,
        votes=i.votes,
    )


def reliability_to_pb(r: Reliability) -> pb.AnnotatorReliability:
    out = pb.AnnotatorReliability(annotator=r.annotator, accuracy=r.accuracy, annotations=r.annotations)
    if r.confusion_labels:
        out.confusion.CopyFrom(
            model_pb2.ConfusionMatrix(labels=list(r.confusion_labels), counts=list(r.confusion_counts))
        )
    return out


def agreement_to_pb(r: AgreementReport) -> pb.AgreementResponse:
    return pb.AgreementResponse(
        level=level_to_pb(r.level),
        items=r.items,
        annotations=r.annotations,
        pairs=[
            pb.PairwiseAgreement(
                annotator_a=p.annotator_a,
                annotator_b=p.annotator_b,
                items=p.items,
                cohen_kappa=p.cohen_kappa,
                observed_agreement=p.observed_agreement,
                span_f1=p.span_f1,
            )
            for p in r.pairs
        ],
        fleiss_kappa=r.fleiss_kappa,
        krippendorff_alpha=r.krippendorff_alpha,
        annotators=[
            pb.AnnotatorAgreement(
                annotator=a.annotator,
                items=a.items,
                agreement_with_aggregate=a.agreement,
                kappa_with_aggregate=a.kappa,
                span_f1_with_aggregate=a.span_f1,
            )
            for a in r.annotators
        ],
    )


def rule_from_pb(r: rules_pb2.LabelingRule) -> rules.Rule:
    which = r.WhichOneof("matcher")
    if which == "regex":
        return rules.Rule(
            r.name, r.label, RuleKind.REGEX, (r.regex.pattern,), r.regex.case_sensitive, group=r.regex.group
        )
    if which == "gazetteer":
        g = r.gazetteer
        return rules.Rule(
            r.name, r.label, RuleKind.GAZETTEER, tuple(g.entries), g.case_sensitive, entries_key=g.entries_key
        )
    k = r.keyword
    whole = k.whole_word if k.HasField("whole_word") else True
    return rules.Rule(r.name, r.label, RuleKind.KEYWORD, tuple(k.keywords), k.case_sensitive, whole)


def rule_stats_to_pb(s: rules.RuleStats) -> rules_pb2.RuleStatistics:
    return rules_pb2.RuleStatistics(
        name=s.name,
        items_covered=s.items_covered,
        coverage=s.coverage,
        overlap=s.overlap,
        conflict=s.conflict,
        empirical_accuracy=s.empirical_accuracy,
        votes_by_label=s.votes_by_label,
    )


def import_format_from_pb(n: int) -> imports.ImportFormat:
    return enum_from_pb(imports.ImportFormat, pb.ImportFormat.DESCRIPTOR, n)


def item_match_from_pb(n: int) -> imports.ItemMatch:
    return enum_from_pb(imports.ItemMatch, pb.ItemMatch.DESCRIPTOR, n, default=imports.ItemMatch.UNSPECIFIED)


def import_to_pb(o: ImportOutcome) -> pb.ImportAnnotationsResponse:
    return pb.ImportAnnotationsResponse(
        imported=o.imported,
        unmatched=o.unmatched,
        violations=[
            dataset_pb2.RowViolation(
                line=v.line,
                field=v.field,
                reason=v.reason,
                description=v.description,
                example_id=v.example_id,
            )
            for v in o.violations
        ],
    )


def conll_from_pb(options: conll_pb2.ConllOptions) -> ConllOptions:
    return message_to_dataclass(options, ConllOptions)


# --- requests and responses -------------------------------------------------------------------------


def next_tasks_to_pb(n: NextTasks) -> pb.NextTasksResponse:
    out = pb.NextTasksResponse(remaining=n.remaining)
    for t in n.tasks:
        task = out.tasks.add(item_id=t.example.id, example=example_to_pb(t.example))
        task.suggestions.extend(annotation_to_pb(a) for a in t.suggestions)
        if t.previous is not None:
            task.previous.CopyFrom(annotation_to_pb(t.previous))
    return out


def submit_to_pb(o: SubmitOutcome) -> pb.SubmitAnnotationsResponse:
    return pb.SubmitAnnotationsResponse(stored=o.stored, unchanged=o.unchanged)


def import_request_from_pb(header: pb.ImportAnnotationsHeader) -> ImportRequest:
    return ImportRequest(
        header.project_id,
        header.annotator,
        import_format_from_pb(header.format),
        item_match_from_pb(header.match),
        conll_from_pb(header.conll),
    )


def aggregate_spec_from_pb(r: pb.AggregateRequest) -> AggregateSpec:
    return AggregateSpec(
        method_from_pb(r.method),
        level_from_pb(r.level),
        filter_from_pb(r.filter),
        r.min_votes or 1,
        r.max_iterations if r.HasField("max_iterations") else 100,
        r.tolerance if r.HasField("tolerance") else 1e-6,
    )


def aggregation_page_to_pb(page: AggregationPage) -> pb.AggregateResponse:
    result = page.result
    return pb.AggregateResponse(
        aggregation_id=page.aggregation_id,
        method=method_to_pb(result.method),
        level=level_to_pb(result.level),
        items=page.total_items,
        iterations=result.iterations,
        converged=result.converged,
        annotators=[reliability_to_pb(r) for r in result.annotators],
        aggregated_items=[aggregated_to_pb(i) for i in result.items],
        next_page_token=page.next_page_token,
    )


def rules_to_pb(o: RulesOutcome) -> pb.ApplyRulesResponse:
    return pb.ApplyRulesResponse(
        rules=[rule_stats_to_pb(s) for s in o.stats],
        items_covered=o.items_covered,
        items=o.items,
        votes_stored=o.votes_stored,
    )


def export_spec_from_pb(r: pb.ExportProjectRequest) -> ExportSpec:
    return ExportSpec(
        method_from_pb(r.method),
        level_from_pb(r.level),
        filter_from_pb(r.filter),
        r.min_confidence,
        r.include_unlabeled,
        r.output_name,
    )


def export_to_pb(o: ExportOutcome) -> pb.ExportProjectResponse:
    return pb.ExportProjectResponse(
        dataset_version=manifest_to_pb(o.manifest),
        exported=o.exported,
        skipped_low_confidence=o.skipped_low_confidence,
        skipped_unlabeled=o.skipped_unlabeled,
    )
