"""Rules abstain where they do not fire: a location gazetteer has no say on person spans or on
the tokens it did not tag, so it cannot outvote the humans there."""

from __future__ import annotations

import pytest

from foundry.labeling.aggregation.levels import Level, Method, aggregate
from foundry.labeling.annotations import Annotation, Source
from foundry.labeling.project import Project, validate_annotation
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.manifest import VersionRef

TOKENS = [
    ["Alice", "flew", "to", "Paris"],
    ["Bob", "lives", "in", "Rome"],
    ["Carol", "likes", "Oslo"],
    ["Dave", "saw", "Berlin"],
]
TAGS = [
    ["B-person", "O", "O", "B-location"],
    ["B-person", "O", "O", "B-location"],
    ["B-person", "O", "B-location"],
    ["B-person", "O", "B-location"],
]
PROJECT = Project(
    "p1", "p", VersionRef("d", "v"), Task.TOKEN_CLASSIFICATION, ("person", "location"), ("ann",)
)
EXAMPLES = {
    f"s{i}": Example(id=f"s{i}", split=Split.TRAIN, tokens=t, text=" ".join(t)) for i, t in enumerate(TOKENS)
}


def votes() -> list[Annotation]:
    out = []
    for i, tags in enumerate(TAGS):
        item = f"s{i}"
        ann = Annotation(item, "ann", tags=tuple(tags))
        # the rule knows Paris, Rome and Oslo (not Berlin), and tags only locations
        rule = tuple("B-location" if t == "B-location" and i < 3 else "O" for t in tags)
        out.append(validate_annotation(PROJECT, EXAMPLES[item], ann, "a"))
        if i < 3:
            out.append(
                validate_annotation(
                    PROJECT,
                    EXAMPLES[item],
                    Annotation(item, "rule:cities", source=Source.RULE, tags=rule),
                    "r",
                )
            )
    # an item only the rule annotated
    extra = Example(id="s4", split=Split.TRAIN, tokens=["in", "Paris", "now"], text="in Paris now")
    EXAMPLES["s4"] = extra
    out.append(
        validate_annotation(
            PROJECT,
            extra,
            Annotation("s4", "rule:cities", source=Source.RULE, tags=("O", "B-location", "O")),
            "r",
        )
    )
    return out


@pytest.mark.parametrize("level", [Level.SPAN, Level.TOKEN])
@pytest.mark.parametrize("method", [Method.MAJORITY_VOTE, Method.DAWID_SKENE])
def test_a_rule_does_not_vote_against_types_and_tokens_it_does_not_cover(
    level: Level, method: Method
) -> None:
    result = aggregate(PROJECT, votes(), EXAMPLES, method=method, level=level)
    tags = {i.item_id: list(i.tags) for i in result.items}
    assert {k: v for k, v in tags.items() if k != "s4"} == {f"s{i}": t for i, t in enumerate(TAGS)}
    reliability = {r.annotator: r.accuracy for r in result.annotators}
    assert reliability["ann"] > 0.95  # the human is not blamed for the person spans the rule never saw
    # an item only the rule annotated gets a tag per token; the tokens it did not tag are outside
    assert len(tags["s4"]) == 3 and tags["s4"][0] == tags["s4"][2] == "O"
    if method is Method.MAJORITY_VOTE:
        assert tags["s4"] == ["O", "B-location", "O"]
