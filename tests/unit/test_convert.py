"""pb ⇄ domain conversion of shared messages and of option messages."""

from __future__ import annotations

from foundry.api.common.v1 import example_pb2, task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as rpb
from foundry.domain.formats import Format, TagScheme, ValidationPolicy
from foundry.ingestion.convert import recipe_from_pb, source_from_pb
from foundry.ingestion.options import ConflictPolicy, IngestRecipe, PiiMode, PiiType
from foundry.runtime.convert import example_from_pb, example_to_pb, task_from_pb, task_to_pb
from foundry.runtime.examples import ChatMessage, Example, Provenance, Span, Split, Task


def test_empty_recipe_gives_every_default() -> None:
    assert recipe_from_pb(rpb.IngestRecipe()) == IngestRecipe()


def test_recipe_fields_map_by_name_with_optional_presence() -> None:
    pb = rpb.IngestRecipe(
        normalization=rpb.NormalizationOptions(unicode_nfkc=False, lowercase=True),
        validation=rpb.ValidationOptions(policy=rpb.VALIDATION_POLICY_DROP_ROW, label_set=["a", "b"]),
        quality=rpb.QualityFilters(drop_empty=False, max_repeated_char_ratio=0.0, min_chars=3),
        pii=rpb.PiiOptions(
            enabled=True, mode=rpb.PII_MODE_PSEUDONYMIZE, types=[rpb.PII_TYPE_EMAIL, rpb.PII_TYPE_IBAN]
        ),
        dedup=rpb.DedupOptions(threshold=0.7, conflict_policy=rpb.CONFLICT_POLICY_DROP_ALL),
        split=rpb.SplitOptions(seed=7, train_fraction=0.7, validation_fraction=0.2, test_fraction=0.1),
    )
    recipe = recipe_from_pb(pb)
    assert recipe.normalization.unicode_nfkc is False and recipe.normalization.collapse_whitespace is True
    assert recipe.normalization.lowercase is True
    assert recipe.validation.policy is ValidationPolicy.DROP_ROW and recipe.validation.label_set == ("a", "b")
    assert recipe.validation.max_violations_reported == 20  # unset optional: default
    assert recipe.quality.drop_empty is False and recipe.quality.min_chars == 3
    assert recipe.quality.max_repeated_char_ratio == 0.0  # set to zero is not "unset"
    assert recipe.quality.max_non_printable_ratio is None
    assert recipe.pii.mode is PiiMode.PSEUDONYMIZE and recipe.pii.types == (PiiType.EMAIL, PiiType.IBAN)
    assert recipe.dedup.threshold == 0.7 and recipe.dedup.conflict_policy is ConflictPolicy.DROP_ALL
    assert recipe.dedup.num_permutations == 128
    assert recipe.split.seed == 7 and recipe.split.train_fraction == 0.7


def test_source_spec() -> None:
    source = source_from_pb(
        rpb.SourceSpec(
            format=rpb.FORMAT_CONLL,
            file_name="x.conll",
            field_mapping=rpb.FieldMapping(text_field="body", meta_fields=["lang"]),
            default_split=example_pb2.SPLIT_TEST,
        )
    )
    assert source.format is Format.CONLL and source.file_name == "x.conll"
    assert source.field_mapping.text_field == "body" and source.field_mapping.meta_fields == ("lang",)
    assert source.field_mapping.labels_separator == "|"
    assert source.conll.scheme is TagScheme.UNSPECIFIED and source.conll.tag_column == -1
    assert source.default_split is Split.TEST
    assert source_from_pb(rpb.SourceSpec()).default_split is Split.UNASSIGNED


def test_example_round_trip() -> None:
    examples = [
        Example(
            id="a",
            split=Split.TRAIN,
            meta={"k": "v"},
            provenance=Provenance("f.conll", 3, ["p1"], "op"),
            text="Paris is nice",
            tokens=["Paris", "is", "nice"],
            tags=["B-location", "O", "O"],
            spans=[Span(0, 5, "location")],
        ),
        Example(id="b", text="great", label="pos"),
        Example(id="c", messages=[ChatMessage("user", "hi"), ChatMessage("assistant", "hello")]),
        Example(id="d", text="x", labels=["a", "b"], split=Split.TEST),
    ]
    for example in examples:
        assert example_from_pb(example_to_pb(example)) == example


def test_task_enum() -> None:
    for task in Task:
        assert task_from_pb(task_to_pb(task)) is task
    assert task_to_pb(Task.TOKEN_CLASSIFICATION) == task_pb2.TASK_TOKEN_CLASSIFICATION
