"""Token classification over gRPC: spans validated against the text, a CoNLL import as a named
annotator, span- and token-level aggregation with BIO repair, span agreement."""

from __future__ import annotations

import hashlib

import grpc
import pytest
from labeling_helpers import Labeling

from foundry.api.common.v1 import example_pb2, refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import project_pb2
from foundry.runtime import datasets
from foundry.runtime.examples import Example, Split, Task

SENTENCES = [
    (["Alice", "flew", "to", "Paris", "today"], ["B-person", "O", "O", "B-location", "O"]),
    (
        ["Bob", "Marley", "sang", "in", "New", "York"],
        ["B-person", "I-person", "O", "O", "B-location", "I-location"],
    ),
    (["Nothing", "here"], ["O", "O"]),
]


def conll(tags_of: list[list[str]]) -> bytes:
    blocks = [
        "\n".join(f"{t} {g}" for t, g in zip(tokens, tags, strict=True))
        for (tokens, _), tags in zip(SENTENCES, tags_of, strict=True)
    ]
    return ("\n\n".join(blocks) + "\n").encode()


async def test_spans_imports_and_span_aggregation(labeling: Labeling) -> None:
    stub, store = labeling
    examples = [
        Example(id=f"s{i}", split=Split.TRAIN, tokens=t, text=" ".join(t))
        for i, (t, _) in enumerate(SENTENCES)
    ]
    datasets.write_dataset_version(
        store, "tiny-ner", Task.TOKEN_CLASSIFICATION, examples, label_set=["person", "location"]
    )
    project = (
        await stub.CreateProject(
            pb.CreateProjectRequest(
                name="ner", dataset=refs_pb2.DatasetRef(name="tiny-ner"), annotators=["ann", "bob"], overlap=2
            )
        )
    ).project
    pid = project.project_id
    bad = project_pb2.Annotation(
        item_id="s0", annotator="ann", revision=1, spans=[example_pb2.Span(start=20, end=40, label="person")]
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitAnnotations(pb.SubmitAnnotationsRequest(project_id=pid, annotations=[bad]))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "annotations[0].spans[0]" in (
        err.value.details() or ""
    ) + str(err.value.debug_error_string())
    # ann: spans (char offsets), bob: tags with an IOB1-style I- start (repaired)
    ann = [
        project_pb2.Annotation(
            item_id="s0",
            annotator="ann",
            revision=1,
            spans=[
                example_pb2.Span(start=0, end=5, label="person"),
                example_pb2.Span(start=14, end=19, label="location"),
            ],
        ),
        project_pb2.Annotation(item_id="s1", annotator="ann", revision=1, tags=SENTENCES[1][1]),
    ]
    bob = [
        project_pb2.Annotation(
            item_id="s0", annotator="bob", revision=1, tags=["I-person", "O", "O", "O", "O"]
        ),
        project_pb2.Annotation(item_id="s1", annotator="bob", revision=1, tags=SENTENCES[1][1]),
    ]
    assert (
        await stub.SubmitAnnotations(pb.SubmitAnnotationsRequest(project_id=pid, annotations=ann + bob))
    ).stored == 4
    data = conll([tags for _, tags in SENTENCES])
    header = pb.ImportAnnotationsHeader(
        project_id=pid,
        annotator="gold",
        format=pb.IMPORT_FORMAT_CONLL,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    imported = await stub.ImportAnnotations(
        iter([pb.ImportAnnotationsRequest(header=header), pb.ImportAnnotationsRequest(chunk=data)])
    )
    assert imported.imported == 3 and imported.unmatched == 0
    again = await stub.ImportAnnotations(
        iter([pb.ImportAnnotationsRequest(header=header), pb.ImportAnnotationsRequest(chunk=data)])
    )
    assert again.imported == 0  # the same work again stores nothing

    spans = await stub.Aggregate(
        pb.AggregateRequest(project_id=pid, method=pb.AGGREGATION_METHOD_MAJORITY_VOTE)
    )
    by_item = {i.item_id: i for i in spans.aggregated_items}
    assert [(s.start, s.end, s.label) for s in by_item["s0"].spans] == [
        (0, 5, "person"),
        (14, 19, "location"),
    ]
    assert list(by_item["s0"].tags) == SENTENCES[0][1]
    assert [(s.start, s.end, s.label) for s in by_item["s1"].spans] == [
        (0, 10, "person"),
        (19, 27, "location"),
    ]
    tokens = await stub.Aggregate(pb.AggregateRequest(project_id=pid, level=pb.ANNOTATION_LEVEL_TOKEN))
    assert {i.item_id: list(i.tags) for i in tokens.aggregated_items}["s1"] == SENTENCES[1][1]

    agreement = await stub.Agreement(pb.AgreementRequest(project_id=pid, level=pb.ANNOTATION_LEVEL_SPAN))
    f1 = {(p.annotator_a, p.annotator_b): p.span_f1 for p in agreement.pairs}
    assert f1[("ann", "gold")] == pytest.approx(1.0)
    assert f1[("ann", "bob")] == pytest.approx(2 * 3 / (4 + 3))
    versus = {a.annotator: a.span_f1_with_aggregate for a in agreement.annotators}
    assert versus["ann"] == pytest.approx(1.0) and versus["bob"] < 1.0
