"""The labeling service over gRPC on a classification dataset: projects, assignment, annotations
(idempotent, validated, nothing lost), aggregation, agreement, rules, label issues, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from labeling_helpers import Labeling, Stub, violations

from foundry.api.common.v1 import refs_pb2, task_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2, rules_pb2
from foundry.runtime import datasets
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.objectstore import ObjectStore

FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "labeling" / "flipped_labels.json").read_text()
)
LABELS: list[str] = FIXTURE["labels"]
PEOPLE = ["ann", "bob", "cho"]


def write_dataset(store: ObjectStore, n: int = 300) -> str:
    examples = [
        Example(id=r["id"], split=Split.TRAIN, text=r["text"], label=r["given"]) for r in FIXTURE["items"][:n]
    ]
    return datasets.write_dataset_version(
        store, "reviews", Task.TEXT_CLASSIFICATION, examples, label_set=LABELS
    ).version_id


def truth(row: dict[str, Any]) -> str:
    probabilities: list[float] = row["probabilities"]
    return LABELS[max(range(3), key=lambda k: probabilities[k])]


async def create(stub: Stub, name: str = "reviews-1", overlap: int = 2) -> project_pb2.Project:
    response = await stub.CreateProject(
        pb.CreateProjectRequest(
            name=name, dataset=refs_pb2.DatasetRef(name="reviews"), annotators=PEOPLE, overlap=overlap
        )
    )
    return response.project


async def label_all(stub: Stub, project_id: str, wrong_every: dict[str, int]) -> int:
    """Each annotator labels their assigned items; annotator X is wrong on every Nth item."""
    rows = {r["id"]: r for r in FIXTURE["items"]}
    total = 0
    for person in PEOPLE:
        tasks = await stub.NextTasks(pb.NextTasksRequest(project_id=project_id, annotator=person, limit=500))
        assert tasks.remaining == len(tasks.tasks)
        annotations = []
        for n, task in enumerate(tasks.tasks):
            label = truth(rows[task.item_id])
            if wrong_every.get(person) and n % wrong_every[person] == 0:
                label = LABELS[(LABELS.index(label) + 1) % 3]
            annotations.append(
                project_pb2.Annotation(item_id=task.item_id, annotator=person, revision=1, label=label)
            )
        response = await stub.SubmitAnnotations(
            pb.SubmitAnnotationsRequest(project_id=project_id, annotations=annotations)
        )
        assert response.stored == len(annotations)
        total += len(annotations)
    return total


async def test_project_assignment_and_annotation_lifecycle(labeling: Labeling) -> None:
    stub, store = labeling
    version = write_dataset(store)
    project = await create(stub)
    assert project.dataset.version_id == version and project.task == task_pb2.TASK_TEXT_CLASSIFICATION
    assert list(project.schema.labels) == LABELS and project.progress.items == 300
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await create(stub)
    assert taken.value.code() == grpc.StatusCode.ALREADY_EXISTS
    # each item is assigned to exactly k=2 annotators; another replica (a second call) agrees
    seen: dict[str, int] = {}
    for person in PEOPLE:
        tasks = await stub.NextTasks(
            pb.NextTasksRequest(project_id=project.project_id, annotator=person, limit=500)
        )
        again = await stub.NextTasks(
            pb.NextTasksRequest(project_id=project.project_id, annotator=person, limit=500)
        )
        assert [t.item_id for t in tasks.tasks] == [t.item_id for t in again.tasks]
        for t in tasks.tasks:
            seen[t.item_id] = seen.get(t.item_id, 0) + 1
    assert len(seen) == 300 and set(seen.values()) == {2}

    first = await stub.NextTasks(pb.NextTasksRequest(project_id=project.project_id, annotator="ann", limit=3))
    item = first.tasks[0].item_id
    good = project_pb2.Annotation(item_id=item, annotator="ann", revision=1, label="positive")
    submit = pb.SubmitAnnotationsRequest(project_id=project.project_id, annotations=[good])
    assert (await stub.SubmitAnnotations(submit)).stored == 1
    assert (await stub.SubmitAnnotations(submit)).unchanged == 1  # idempotent
    after = await stub.NextTasks(pb.NextTasksRequest(project_id=project.project_id, annotator="ann", limit=3))
    assert item not in [t.item_id for t in after.tasks] and after.remaining == first.remaining - 1

    bad_cases = [
        (
            project_pb2.Annotation(item_id=item, annotator="ann", revision=1, label="negative"),
            grpc.StatusCode.ALREADY_EXISTS,
            None,
        ),
        (
            project_pb2.Annotation(item_id=item, annotator="ann", revision=2, label="sarcastic"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "annotations[1].label",
        ),
        (
            project_pb2.Annotation(item_id="nope", annotator="ann", revision=2, label="positive"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "annotations[1].item_id",
        ),
        (
            project_pb2.Annotation(item_id=item, annotator="zed", revision=2, label="positive"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "annotations[1].annotator",
        ),
    ]
    other = project_pb2.Annotation(
        item_id=after.tasks[0].item_id, annotator="ann", revision=1, label="neutral"
    )
    for bad, code, field in bad_cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SubmitAnnotations(
                pb.SubmitAnnotationsRequest(project_id=project.project_id, annotations=[other, bad])
            )
        assert err.value.code() == code
        if field:
            assert field in violations(err.value)
    # all or nothing: `other` was not stored with any bad batch, and the first annotation is intact
    got = await stub.GetProject(pb.GetProjectRequest(project_id=project.project_id))
    assert got.project.progress.annotations == 1 and dict(got.project.progress.annotations_by_annotator) == {
        "ann": 1
    }
    revised = project_pb2.Annotation(item_id=item, annotator="ann", revision=2, label="negative")
    assert (
        await stub.SubmitAnnotations(
            pb.SubmitAnnotationsRequest(project_id=project.project_id, annotations=[revised])
        )
    ).stored == 1
    listed = await stub.ListProjects(pb.ListProjectsRequest(dataset=refs_pb2.DatasetRef(name="reviews")))
    assert [p.project_id for p in listed.projects] == [project.project_id]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetProject(pb.GetProjectRequest(project_id="p000"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_aggregate_agreement_rules_issues_and_export(labeling: Labeling) -> None:
    stub, store = labeling
    version = write_dataset(store)
    project = await create(stub, overlap=3)
    pid = project.project_id
    total = await label_all(stub, pid, {"cho": 3})  # cho is wrong on a third of the items
    assert total == 900
    ds = await stub.Aggregate(pb.AggregateRequest(project_id=pid, page_size=100))
    assert ds.items == 300 and len(ds.aggregated_items) == 100 and ds.next_page_token
    page2 = await stub.Aggregate(
        pb.AggregateRequest(project_id=pid, page_size=100, page_token=ds.next_page_token)
    )
    assert (
        page2.aggregation_id == ds.aggregation_id
        and page2.aggregated_items[0].item_id != ds.aggregated_items[0].item_id
    )
    reliability = {a.annotator: a.accuracy for a in ds.annotators}
    assert reliability["ann"] > 0.95 and reliability["bob"] > 0.95 and 0.55 < reliability["cho"] < 0.75
    assert len(ds.annotators[0].confusion.counts) == 9
    mv = await stub.Aggregate(
        pb.AggregateRequest(project_id=pid, method=pb.AGGREGATION_METHOD_MAJORITY_VOTE, page_size=1000)
    )
    assert all(i.votes == 3 for i in mv.aggregated_items)

    agreement = await stub.Agreement(pb.AgreementRequest(project_id=pid))
    assert agreement.items == 300 and agreement.annotations == 900 and len(agreement.pairs) == 3
    kappa = {(p.annotator_a, p.annotator_b): p.cohen_kappa for p in agreement.pairs}
    assert kappa[("ann", "bob")] > 0.95 > 0.7 > kappa[("ann", "cho")]
    assert 0 < agreement.krippendorff_alpha < 1 and 0 < agreement.fleiss_kappa < 1

    rules = [
        rules_pb2.LabelingRule(
            name="pos-words", label="positive", keyword=rules_pb2.KeywordRule(keywords=["great", "love"])
        ),
        rules_pb2.LabelingRule(
            name="neg-regex", label="negative", regex=rules_pb2.RegexRule(pattern=r"\b(awful|hate)\b")
        ),
    ]
    applied = await stub.ApplyRules(pb.ApplyRulesRequest(project_id=pid, rules=rules, store=True))
    assert (
        applied.items == 300
        and 0 < applied.items_covered < 300
        and applied.votes_stored == applied.items_covered
    )
    assert all(r.empirical_accuracy > 0.95 for r in applied.rules)
    again = await stub.ApplyRules(pb.ApplyRulesRequest(project_id=pid, rules=rules, store=True))
    assert again.votes_stored == 0  # same votes, nothing new
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ApplyRules(
            pb.ApplyRulesRequest(
                project_id=pid,
                rules=[
                    rules_pb2.LabelingRule(
                        name="bad", label="positive", regex=rules_pb2.RegexRule(pattern="(a+)+b")
                    )
                ],
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "rules[0].regex.pattern" in violations(
        err.value
    )

    exported = await stub.ExportProject(
        pb.ExportProjectRequest(project_id=pid, output_name="reviews-labeled")
    )
    assert exported.exported == 300 and exported.dataset_version.parents[0].version_id == version
    manifest = datasets.get_manifest(store, "reviews-labeled", exported.dataset_version.version_id)
    rows = {r["id"]: r for r in FIXTURE["items"]}
    out = list(datasets.iter_examples(store, manifest))
    assert sum(e.label == truth(rows[e.id]) for e in out) >= 295
    assert all(
        float(e.meta["label_confidence"]) > 0.5 and len(json.loads(e.meta["label_votes"])) == 3 for e in out
    )


async def test_label_issues_find_most_flipped_labels_and_become_tasks(labeling: Labeling) -> None:
    stub, store = labeling
    write_dataset(store)
    project = await create(stub, overlap=1)
    table = pb.ProbabilityTable(
        items=[
            pb.ItemProbabilities(item_id=r["id"], probabilities=r["probabilities"]) for r in FIXTURE["items"]
        ]
    )
    response = await stub.FindLabelIssues(
        pb.FindLabelIssuesRequest(
            project_id=project.project_id,
            given=pb.GIVEN_LABEL_SOURCE_DATASET,
            table=table,
            limit=60,
            create_tasks=True,
        )
    )
    flipped = {r["id"] for r in FIXTURE["items"] if r["flipped"]}
    found = {i.item_id for i in response.issues}
    assert response.items_checked == 300
    assert len(found & flipped) >= 0.8 * len(flipped)  # recall
    assert len(found & flipped) >= 0.7 * len(found)  # precision
    assert response.issues[0].label_quality <= response.issues[-1].label_quality
    assert response.tasks_created == len(found)
    # the issues come first in the annotators' queues
    firsts: list[str] = []
    for person in PEOPLE:
        tasks = await stub.NextTasks(
            pb.NextTasksRequest(project_id=project.project_id, annotator=person, limit=5)
        )
        firsts.extend(t.item_id for t in tasks.tasks[:1])
    assert set(firsts) <= found
