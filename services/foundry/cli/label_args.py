"""The command-line arguments of `foundry label`: the choice tables of its options, model and
annotator references, and the files it reads (JSON lines of messages, rules in YAML or JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import yaml
from google.protobuf import json_format
from google.protobuf.message import Message

from foundry.api.common.v1 import refs_pb2
from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.api.labeling.v1 import rules_pb2
from foundry.runtime.errors import FieldViolation, InvalidArgumentError

R = TypeVar("R")
M = TypeVar("M", bound=Message)

METHODS = {"dawid-skene": pb.AGGREGATION_METHOD_DAWID_SKENE, "majority": pb.AGGREGATION_METHOD_MAJORITY_VOTE}
LEVELS = {
    "": pb.ANNOTATION_LEVEL_UNSPECIFIED,
    "class": pb.ANNOTATION_LEVEL_CLASS,
    "token": pb.ANNOTATION_LEVEL_TOKEN,
    "span": pb.ANNOTATION_LEVEL_SPAN,
}
FORMATS = {"label-studio": pb.IMPORT_FORMAT_LABEL_STUDIO_JSON, "conll": pb.IMPORT_FORMAT_CONLL}
MATCHES = {"auto": pb.ITEM_MATCH_UNSPECIFIED, "id": pb.ITEM_MATCH_ID, "text": pb.ITEM_MATCH_TEXT}
GIVEN = {
    "aggregate": pb.GIVEN_LABEL_SOURCE_AGGREGATE,
    "dataset": pb.GIVEN_LABEL_SOURCE_DATASET,
    "annotator": pb.GIVEN_LABEL_SOURCE_ANNOTATOR,
}
STRATEGIES = {
    "least-confidence": pb.SELECTION_STRATEGY_LEAST_CONFIDENCE,
    "margin": pb.SELECTION_STRATEGY_MARGIN,
    "entropy": pb.SELECTION_STRATEGY_ENTROPY,
    "random": pb.SELECTION_STRATEGY_RANDOM,
}
REDUCTIONS = {
    "mean": pb.TOKEN_SCORE_REDUCTION_MEAN,
    "max": pb.TOKEN_SCORE_REDUCTION_MAX,
    "sum": pb.TOKEN_SCORE_REDUCTION_SUM,
}


def bad(field: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, violations=[FieldViolation(field, message)])


def choice(table: dict[str, R], value: str, option: str) -> R:
    if value not in table:
        raise bad(option, f"{value!r} is not one of {', '.join(table)}")
    return table[value]


def model_ref(ref: str) -> refs_pb2.ModelRef:
    """`NAME` or `NAME@VERSION_ID`."""
    name, _, version_id = ref.partition("@")
    return refs_pb2.ModelRef(name=name, version_id=version_id)


def annotator_filter(annotators: str, models: bool, rules: bool) -> pb.AnnotatorFilter:
    return pb.AnnotatorFilter(
        annotators=[a for a in annotators.split(",") if a], include_models=models, include_rules=rules
    )


def read_lines(path: Path, kind: type[M]) -> list[M]:
    """One message per JSON line (proto field names, camelCase or snake_case); errors name the line."""
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                out.append(json_format.ParseDict(json.loads(line), kind()))
            except (json.JSONDecodeError, json_format.ParseError) as exc:
                raise bad(f"{path.name}:{number}", f"line {number}: {exc}") from exc
    return out


def load_rules(path: Path) -> list[rules_pb2.LabelingRule]:
    """Rules from YAML or JSON: a list of LabelingRule fields (name, label, keyword/regex/gazetteer)."""
    raw = yaml.safe_load(path.read_text()) or []
    if not isinstance(raw, list):
        raise bad(str(path), "a rules file is a list of rules")
    out = []
    for index, rule in enumerate(raw):
        try:
            out.append(json_format.ParseDict(rule, rules_pb2.LabelingRule()))
        except json_format.ParseError as exc:
            raise bad(f"rules[{index}]", str(exc)) from exc
    return out
