"""Label Studio imports (classes and spans), multi-label projects, gazetteer rules whose
entries live in the object store, and ListProjects paging, over gRPC."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import grpc
import pytest
from labeling_helpers import Labeling, Stub, violations

from foundry.api.common.v1 import refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2, rules_pb2
from foundry.runtime import datasets
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.objectstore import ObjectStore

REVIEWS = [
    ("r0", "A great film, loved it"),
    ("r1", "Awful plot and worse acting"),
    ("r2", "It was fine I guess"),
    ("r3", "Loved every minute"),
]
SENTENCES = [
    ["Alice", "flew", "to", "Paris", "today"],
    ["Bob", "lives", "in", "New", "York"],
    ["Rome", "is", "lovely"],
    ["nothing", "to", "see"],
]


async def import_file(
    stub: Stub, header: pb.ImportAnnotationsHeader, data: bytes
) -> pb.ImportAnnotationsResponse:
    header.size_bytes, header.sha256 = len(data), hashlib.sha256(data).hexdigest()
    chunks = [data[i : i + 64] for i in range(0, len(data), 64)]  # several chunks
    requests = [pb.ImportAnnotationsRequest(header=header)] + [
        pb.ImportAnnotationsRequest(chunk=c) for c in chunks
    ]
    return await stub.ImportAnnotations(iter(requests))


def ls_task(data: dict[str, Any], *results: dict[str, Any], cancelled: bool = False) -> dict[str, Any]:
    return {"id": 100, "data": data, "annotations": [{"was_cancelled": cancelled, "result": list(results)}]}


def choice(label: str) -> dict[str, Any]:
    return {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def region(start: int, end: int, label: str) -> dict[str, Any]:
    return {"type": "labels", "value": {"start": start, "end": end, "labels": [label]}}


async def reviews_project(stub: Stub, store: ObjectStore) -> str:
    examples = [Example(id=i, split=Split.TRAIN, text=t) for i, t in REVIEWS]
    datasets.write_dataset_version(
        store, "reviews", Task.TEXT_CLASSIFICATION, examples, label_set=["negative", "neutral", "positive"]
    )
    response = await stub.CreateProject(
        pb.CreateProjectRequest(
            name="reviews", dataset=refs_pb2.DatasetRef(name="reviews"), annotators=["ann"]
        )
    )
    return response.project.project_id


async def test_label_studio_classification_import(labeling: Labeling) -> None:
    stub, store = labeling
    pid = await reviews_project(stub, store)
    export = [
        ls_task({"id": "r0", "text": "ignored when the id matches"}, choice("positive")),  # by id
        ls_task({"text": "  awful PLOT and worse   acting "}, choice("negative")),  # by normalised text
        ls_task({"text": "a review nobody has"}, choice("neutral")),  # unmatched
        ls_task({"id": "r2"}, choice("sarcastic")),  # outside the schema: record 4
        ls_task({"id": "r3"}, choice("positive"), cancelled=True),  # cancelled: nothing
    ]
    header = pb.ImportAnnotationsHeader(
        project_id=pid, annotator="ls-team", format=pb.IMPORT_FORMAT_LABEL_STUDIO_JSON
    )
    data = json.dumps(export).encode()
    response = await import_file(stub, header, data)
    assert response.imported == 2 and response.unmatched == 1
    (bad,) = response.violations
    assert (
        bad.line == 4
        and bad.field == "record.label"
        and bad.example_id == "r2"
        and "sarcastic" in bad.description
    )
    assert (await import_file(stub, header, data)).imported == 0  # the same work again stores nothing

    agg = await stub.Aggregate(
        pb.AggregateRequest(project_id=pid, filter=pb.AnnotatorFilter(annotators=["ls-team"]))
    )
    assert {i.item_id: i.label for i in agg.aggregated_items} == {"r0": "positive", "r1": "negative"}
    # a later export revises what the same annotator said
    export[0] = ls_task({"id": "r0"}, choice("neutral"))
    assert (await import_file(stub, header, json.dumps(export).encode())).imported == 1
    agg = await stub.Aggregate(pb.AggregateRequest(project_id=pid))
    assert {i.item_id: i.label for i in agg.aggregated_items}["r0"] == "neutral"

    with pytest.raises(grpc.aio.AioRpcError) as err:  # the declared sha256 must match
        await stub.ImportAnnotations(
            iter(
                [
                    pb.ImportAnnotationsRequest(
                        header=pb.ImportAnnotationsHeader(
                            project_id=pid,
                            annotator="x",
                            format=pb.IMPORT_FORMAT_LABEL_STUDIO_JSON,
                            size_bytes=len(data),
                            sha256="0" * 64,
                        )
                    ),
                    pb.ImportAnnotationsRequest(chunk=data),
                ]
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "header.sha256" in violations(err.value)
    malformed = await import_file(stub, header, b"{not json")
    assert malformed.imported == 0 and malformed.violations[0].reason == "malformed_json"


async def ner_project(stub: Stub, store: ObjectStore) -> str:
    examples = [
        Example(id=f"s{i}", split=Split.TRAIN, tokens=t, text=" ".join(t)) for i, t in enumerate(SENTENCES)
    ]
    datasets.write_dataset_version(
        store, "ner", Task.TOKEN_CLASSIFICATION, examples, label_set=["person", "location"]
    )
    response = await stub.CreateProject(
        pb.CreateProjectRequest(name="ner", dataset=refs_pb2.DatasetRef(name="ner"), annotators=["ann"])
    )
    return response.project.project_id


async def test_label_studio_span_import(labeling: Labeling) -> None:
    stub, store = labeling
    pid = await ner_project(stub, store)
    export = [
        ls_task({"id": "s0"}, region(0, 5, "person"), region(14, 19, "location")),
        ls_task({"id": "s1"}, region(0, 3, "person"), region(13, 21, "location")),  # "New York"
        ls_task({"id": "s2"}, region(0, 2, "location")),  # "Ro": not on token boundaries
    ]
    header = pb.ImportAnnotationsHeader(
        project_id=pid, annotator="ls-team", format=pb.IMPORT_FORMAT_LABEL_STUDIO_JSON, match=pb.ITEM_MATCH_ID
    )
    response = await import_file(stub, header, json.dumps(export).encode())
    assert response.imported == 2
    (bad,) = response.violations
    assert bad.line == 3 and bad.field == "record.spans[0]" and bad.reason == "SPAN_MISALIGNED"
    agg = await stub.Aggregate(pb.AggregateRequest(project_id=pid))
    by_item = {i.item_id: i for i in agg.aggregated_items}
    assert list(by_item["s1"].tags) == ["B-person", "O", "O", "B-location", "I-location"]
    assert [(s.start, s.end, s.label) for s in by_item["s0"].spans] == [
        (0, 5, "person"),
        (14, 19, "location"),
    ]


async def test_gazetteer_rule_with_entries_in_the_object_store(labeling: Labeling) -> None:
    stub, store = labeling
    pid = await ner_project(stub, store)
    store.put_bytes("gazetteers/cities.txt", b"paris\n\nnew york\n")
    rule = rules_pb2.LabelingRule(
        name="cities",
        label="location",
        gazetteer=rules_pb2.GazetteerRule(entries=["rome"], entries_key="gazetteers/cities.txt"),
    )
    response = await stub.ApplyRules(pb.ApplyRulesRequest(project_id=pid, rules=[rule], store=True))
    assert response.items == 4 and response.items_covered == 3 and response.votes_stored == 3
    (stats,) = response.rules
    assert stats.coverage == pytest.approx(0.75) and dict(stats.votes_by_label) == {"location": 3}
    agg = await stub.Aggregate(
        pb.AggregateRequest(project_id=pid, filter=pb.AnnotatorFilter(include_rules=True))
    )
    spans = {i.item_id: [(s.start, s.end, s.label) for s in i.spans] for i in agg.aggregated_items}
    assert spans == {"s0": [(14, 19, "location")], "s1": [(13, 21, "location")], "s2": [(0, 4, "location")]}
    missing = rules_pb2.LabelingRule(
        name="gone", label="location", gazetteer=rules_pb2.GazetteerRule(entries_key="gazetteers/none.txt")
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ApplyRules(pb.ApplyRulesRequest(project_id=pid, rules=[missing]))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


TOPICS = ["sports", "politics", "tech"]
#: per item, the true topics; "cho" drops the last topic of every item
MULTI = {
    "m0": ["sports"],
    "m1": ["politics", "tech"],
    "m2": ["tech"],
    "m3": ["sports", "politics"],
    "m4": [],
    "m5": ["politics", "sports", "tech"],
}


async def test_multilabel_project_aggregates_each_label_and_exports(labeling: Labeling) -> None:
    stub, store = labeling
    examples = [Example(id=i, split=Split.TRAIN, text=f"news item {i}") for i in MULTI]
    version = datasets.write_dataset_version(
        store, "news", Task.MULTILABEL_CLASSIFICATION, examples, label_set=TOPICS
    ).version_id
    project = (
        await stub.CreateProject(
            pb.CreateProjectRequest(
                name="news",
                dataset=refs_pb2.DatasetRef(name="news"),
                annotators=["ann", "bob", "cho"],
                overlap=3,
            )
        )
    ).project
    pid = project.project_id
    assert list(project.schema.labels) == TOPICS
    said = {"ann": MULTI, "bob": MULTI, "cho": {i: sorted(t)[:-1] for i, t in MULTI.items()}}
    for person, labels in said.items():
        annotations = [
            project_pb2.Annotation(item_id=i, annotator=person, revision=1, labels=t)
            for i, t in labels.items()
        ]
        await stub.SubmitAnnotations(pb.SubmitAnnotationsRequest(project_id=pid, annotations=annotations))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitAnnotations(
            pb.SubmitAnnotationsRequest(
                project_id=pid,
                annotations=[
                    project_pb2.Annotation(
                        item_id="m0", annotator="ann", revision=2, labels=["sports", "art"]
                    )
                ],
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "annotations[0].labels[1]" in violations(err.value)

    for method in (pb.AGGREGATION_METHOD_MAJORITY_VOTE, pb.AGGREGATION_METHOD_DAWID_SKENE):
        agg = await stub.Aggregate(pb.AggregateRequest(project_id=pid, method=method))
        assert {i.item_id: sorted(i.labels) for i in agg.aggregated_items} == {
            i: sorted(t) for i, t in MULTI.items()
        }
        # each annotator's annotations (items), not their 18 yes/no votes
        assert {a.annotator: a.annotations for a in agg.annotators} == {"ann": 6, "bob": 6, "cho": 6}
    agreement = await stub.Agreement(pb.AgreementRequest(project_id=pid))
    pairs = {(p.annotator_a, p.annotator_b): p for p in agreement.pairs}
    assert pairs[("ann", "bob")].observed_agreement == pytest.approx(1.0)
    # cho misses 5 of the 18 (item, label) yes/no decisions
    assert pairs[("ann", "cho")].observed_agreement == pytest.approx(13 / 18)
    exported = await stub.ExportProject(pb.ExportProjectRequest(project_id=pid, output_name="news-labeled"))
    assert exported.exported == 6 and exported.dataset_version.parents[0].version_id == version
    manifest = datasets.get_manifest(store, "news-labeled", exported.dataset_version.version_id)
    assert {e.id: sorted(e.labels or []) for e in datasets.iter_examples(store, manifest)} == {
        i: sorted(t) for i, t in MULTI.items()
    }


async def test_list_projects_pages_and_filters(labeling: Labeling) -> None:
    stub, store = labeling
    examples = [Example(id=i, split=Split.TRAIN, text=t) for i, t in REVIEWS]
    first = datasets.write_dataset_version(
        store, "reviews", Task.TEXT_CLASSIFICATION, examples, label_set=["a", "b"]
    )
    second = datasets.write_dataset_version(
        store, "reviews", Task.TEXT_CLASSIFICATION, examples[:2], label_set=["a", "b"]
    )
    names = [f"p{i}" for i in range(5)]
    for i, name in enumerate(names):
        version = first if i < 3 else second
        await stub.CreateProject(
            pb.CreateProjectRequest(
                name=name,
                dataset=refs_pb2.DatasetRef(name="reviews", version_id=version.version_id),
                annotators=["ann"],
            )
        )
    seen: list[str] = []
    token, pages = "", 0
    while True:
        page = await stub.ListProjects(pb.ListProjectsRequest(page_size=2, page_token=token))
        assert len(page.projects) <= 2
        seen.extend(p.name for p in page.projects)
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert pages == 3 and sorted(seen) == names and len(set(seen)) == 5
    only = await stub.ListProjects(
        pb.ListProjectsRequest(dataset=refs_pb2.DatasetRef(name="reviews", version_id=second.version_id))
    )
    assert sorted(p.name for p in only.projects) == ["p3", "p4"] and not only.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListProjects(pb.ListProjectsRequest(page_token="not-a-token"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in violations(err.value)
