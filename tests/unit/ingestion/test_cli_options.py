"""`foundry ingest`'s source flags and recipe file (`foundry.cli.ingest_options`): what they turn
into, and the errors that name the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry.api.ingestion.v1 import ingest_recipe_pb2
from foundry.cli.ingest_options import load_recipe, parse_delimiter, parse_fields, source_overrides
from foundry.runtime.errors import InvalidArgumentError


def test_fields_map_keys_to_field_mapping_fields() -> None:
    assert parse_fields(["text=2", "label=sentiment", "meta=a", "meta=b", "ID=qid"]) == {
        "text_field": "2",
        "label_field": "sentiment",
        "meta_fields": ["a", "b"],
        "id_field": "qid",
    }
    for bad in ("text", "colour=x", "text="):
        with pytest.raises(InvalidArgumentError, match="KEY=COLUMN") as caught:
            parse_fields([bad])
        assert caught.value.violations[0].path == "--field"


@pytest.mark.parametrize(
    ("value", "delimiter"),
    [("\\t", "\t"), ("tab", "\t"), ("TAB", "\t"), ("space", " "), (";", ";"), ("\t", "\t")],
)
def test_delimiter_names(value: str, delimiter: str) -> None:
    assert parse_delimiter(value) == delimiter


def test_a_delimiter_is_one_character() -> None:
    with pytest.raises(InvalidArgumentError, match="--delimiter"):
        parse_delimiter("::")


def test_flags_become_source_overrides() -> None:
    assert source_overrides(
        fields=["text=1"], id_field="0", delimiter="tab", has_header=False, quote="none", encoding="latin-1"
    ) == {
        "source.field_mapping.text_field": "1",
        "source.field_mapping.id_field": "0",
        "source.csv.delimiter": "\t",
        "source.csv.has_header": False,
        "source.csv.quoting": False,
        "source.csv.encoding": "latin-1",
    }
    assert source_overrides() == {}


def test_a_recipe_with_a_source_section_and_overrides_on_top(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        "source:\n  format: FORMAT_TSV\n  csv: {has_header: false, encoding: latin-1}\n"
        "  field_mapping: {text_field: '1', label_field: '0'}\n"
        "validation: {policy: VALIDATION_POLICY_REJECT_FILE}\nsplit: {seed: 3}\n"
    )
    recipe, source = load_recipe(
        path, {"validation.policy": "VALIDATION_POLICY_DROP_ROW", "source.csv.has_header": True}
    )
    assert recipe.validation.policy == ingest_recipe_pb2.VALIDATION_POLICY_DROP_ROW
    assert recipe.split.seed == 3
    assert source.format == ingest_recipe_pb2.FORMAT_TSV
    assert (source.csv.has_header, source.csv.encoding) == (True, "latin-1")
    assert (source.field_mapping.text_field, source.field_mapping.label_field) == ("1", "0")

    recipe, source = load_recipe(None, {"pii.enabled": True})
    assert recipe.pii.enabled and source == ingest_recipe_pb2.SourceSpec()


def test_a_bad_recipe_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "recipe.json"
    path.write_text('{"source": {"csv": {"delimter": ","}}}')
    with pytest.raises(InvalidArgumentError, match=r"bad recipe.*delimter"):
        load_recipe(path, {})
    path.write_text("[1, 2]")
    with pytest.raises(InvalidArgumentError, match="no mapping"):
        load_recipe(path, {})
