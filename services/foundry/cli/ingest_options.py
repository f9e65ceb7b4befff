"""What `foundry ingest` sends besides the files: the recipe file and the flags on top of it.

A recipe file (YAML or JSON) holds the fields of `foundry.ingestion.v1.IngestRecipe` and, under
`source:`, those of `SourceSpec` (format, field_mapping, csv, conll, default_split): everything an
upload's header can say. Flags override the file's values: each becomes a dotted path
("source.csv.delimiter", "validation.policy") set on the parsed document before it is turned into
the two messages, so a bad value is reported the same way wherever it came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from foundry.api.ingestion.v1 import ingest_recipe_pb2
from foundry.runtime.errors import FieldViolation, InvalidArgumentError

#: `--field KEY=COLUMN`: KEY → the FieldMapping field it sets ("meta" may repeat)
FIELD_KEYS: dict[str, str] = {
    "text": "text_field",
    "label": "label_field",
    "labels": "labels_field",
    "tokens": "tokens_field",
    "tags": "tags_field",
    "spans": "spans_field",
    "messages": "messages_field",
    "id": "id_field",
    "split": "split_field",
    "group": "group_field",
    "meta": "meta_fields",
}
#: `--delimiter` names for characters a shell makes awkward
DELIMITER_NAMES = {"\\t": "\t", "tab": "\t", "space": " ", "comma": ",", "semicolon": ";", "pipe": "|"}


def _bad(flag: str, value: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, violations=[FieldViolation(flag, value)])


def parse_fields(specs: Sequence[str]) -> dict[str, Any]:
    """`--field KEY=COLUMN` values as FieldMapping fields (the last of a repeated key wins, but
    `meta` collects every column)."""
    out: dict[str, Any] = {}
    for spec in specs:
        key, sep, column = spec.partition("=")
        key = key.strip().lower()
        if not sep or not column or key not in FIELD_KEYS:
            raise _bad(
                "--field",
                spec,
                f"--field takes KEY=COLUMN with KEY one of {', '.join(FIELD_KEYS)}; got {spec!r}",
            )
        if key == "meta":
            out.setdefault("meta_fields", []).append(column)
        else:
            out[FIELD_KEYS[key]] = column
    return out


def parse_delimiter(value: str) -> str:
    """One character, or a name for one: "\\t" or "tab", "space", "comma", "semicolon", "pipe"."""
    delimiter = DELIMITER_NAMES.get(value.lower(), value)
    if len(delimiter) != 1:
        raise _bad(
            "--delimiter",
            value,
            f"--delimiter takes one character or one of {', '.join(DELIMITER_NAMES)}; got {value!r}",
        )
    return delimiter


def source_overrides(
    *,
    fields: Sequence[str] = (),
    id_field: str = "",
    split_field: str = "",
    delimiter: str = "",
    has_header: bool | None = None,
    quote: str = "",
    encoding: str = "",
) -> dict[str, Any]:
    """The source flags of `foundry ingest` as dotted overrides under "source."."""
    mapping = parse_fields(fields)
    if id_field:
        mapping["id_field"] = id_field
    if split_field:
        mapping["split_field"] = split_field
    out: dict[str, Any] = {f"source.field_mapping.{name}": value for name, value in mapping.items()}
    if delimiter:
        out["source.csv.delimiter"] = parse_delimiter(delimiter)
    if has_header is not None:
        out["source.csv.has_header"] = has_header
    if quote.lower() == "none":
        out["source.csv.quoting"] = False  # quote characters are plain text
    elif quote:
        out["source.csv.quote_char"] = quote
    if encoding:
        out["source.csv.encoding"] = encoding
    return out


def load_recipe(
    path: Path | None, overrides: Mapping[str, Any]
) -> tuple[ingest_recipe_pb2.IngestRecipe, ingest_recipe_pb2.SourceSpec]:
    """The recipe and the source spec from a YAML or JSON file (IngestRecipe fields, and
    SourceSpec fields under `source:`), with the dotted `overrides` set on top."""
    data: dict[str, Any] = {}
    if path is not None:
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise _bad("--recipe", str(path), f"bad recipe: {path} holds no mapping of recipe fields")
        data = loaded
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    source_data = data.pop("source", None) or {}
    recipe = ingest_recipe_pb2.IngestRecipe()
    source = ingest_recipe_pb2.SourceSpec()
    try:
        json_format.ParseDict(data, recipe)
        json_format.ParseDict(source_data, source)
    except json_format.ParseError as exc:
        raise InvalidArgumentError(
            f"bad recipe: {exc}", violations=[FieldViolation("--recipe", str(exc))]
        ) from exc
    return recipe, source
