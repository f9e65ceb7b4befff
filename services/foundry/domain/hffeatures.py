"""Hugging Face `datasets` features in Arrow schema metadata: ClassLabel names in, and out.

`datasets` stores a dataset's features as JSON under the schema metadata key b"huggingface"
(`{"info": {"features": {...}}}`), in the Parquet files it pushes and in the Arrow files of a
`save_to_disk` folder. A `ClassLabel` column holds integer ids whose names are in the features;
`Sequence(ClassLabel)` (`_type` "Sequence", "List" or "LargeList") holds lists of them. This module
reads those names without importing `datasets` (`class_label_names`), turns ids into names
(`LabelDecoder`), and writes the features of an exported version (`features_metadata`) so that
`datasets` loads its labels as ClassLabel names again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

#: the schema metadata key `datasets` writes its features under
HF_METADATA_KEY = b"huggingface"
_LIST_TYPES = ("Sequence", "List", "LargeList")


def class_label_names(metadata: Mapping[bytes, bytes] | None) -> dict[str, list[str]]:
    """The ClassLabel names of each top-level column (plain or in a list), from schema metadata.

    Columns that are not ClassLabels are left out; unreadable metadata gives `{}` (the columns are
    then read as they are stored, as without the metadata)."""
    raw = (metadata or {}).get(HF_METADATA_KEY)
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    features = document.get("info", {}).get("features") if isinstance(document, dict) else None
    if not isinstance(features, dict):
        return {}
    out: dict[str, list[str]] = {}
    for column, feature in features.items():
        names = _names(feature)
        if names is not None:
            out[column] = names
    return out


def _names(feature: Any) -> list[str] | None:
    if not isinstance(feature, dict):
        return None
    kind = feature.get("_type")
    if kind == "ClassLabel":
        names = feature.get("names")
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return names
        return None
    if kind in _LIST_TYPES:
        return _names(feature.get("feature"))
    return None


class LabelIdError(ValueError):
    """A ClassLabel id outside its names."""

    def __init__(self, column: str, value: int, count: int) -> None:
        super().__init__(f"{column}: ClassLabel id {value} is not one of the {count} names (0..{count - 1})")
        self.column = column


class LabelDecoder:
    """Replaces ClassLabel ids by their names in records (dicts of top-level columns).

    An id of -1 (`datasets`' "no label") becomes None; strings are kept as they are."""

    def __init__(self, names: Mapping[str, Sequence[str]]) -> None:
        self._names = {column: list(values) for column, values in names.items()}

    def __bool__(self) -> bool:
        return bool(self._names)

    def decode(self, record: dict[str, Any]) -> dict[str, Any]:
        """`record` with its ClassLabel columns as names (in place); raises `LabelIdError`."""
        for column, names in self._names.items():
            value = record.get(column)
            if isinstance(value, list):
                record[column] = [self._name(column, names, item) for item in value]
            elif value is not None:
                record[column] = self._name(column, names, value)
        return record

    @staticmethod
    def _name(column: str, names: list[str], value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool):
            return value
        if value == -1:
            return None
        if not 0 <= value < len(names):
            raise LabelIdError(column, value, len(names))
        return names[value]


def features_metadata(features: Mapping[str, Any]) -> dict[bytes, bytes]:
    """Schema metadata that gives `datasets` these features (a dict of feature JSON objects)."""
    return {HF_METADATA_KEY: json.dumps({"info": {"features": dict(features)}}).encode()}


def string_feature() -> dict[str, Any]:
    """A `Value("string")` feature."""
    return {"dtype": "string", "_type": "Value"}


def class_label_feature(names: Sequence[str]) -> dict[str, Any]:
    """A `ClassLabel(names=...)` feature."""
    return {"names": list(names), "_type": "ClassLabel"}


def list_feature(feature: Mapping[str, Any]) -> dict[str, Any]:
    """A `Sequence(feature)` (a list) feature."""
    return {"feature": dict(feature), "_type": "Sequence"}
