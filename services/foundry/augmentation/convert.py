"""pb ⇄ domain for the augmentation service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2

from foundry.api.augmentation.v1 import augmentation_service_pb2 as pb
from foundry.api.augmentation.v1 import recipe_pb2
from foundry.api.common.v1 import dataset_pb2, model_pb2
from foundry.augmentation.core import OperatorInfo
from foundry.augmentation.engine import AugmentResult
from foundry.augmentation.operators import Family
from foundry.augmentation.recipe import (
    AcceptanceFilters,
    ConsistencyFilter,
    OperatorStep,
    Recipe,
    ResponseQualityFilter,
)
from foundry.runtime.convert import example_to_pb, split_from_pb, task_to_pb
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split

_FAMILIES = {
    Family.RULE: recipe_pb2.OPERATOR_FAMILY_RULE,
    Family.MODEL: recipe_pb2.OPERATOR_FAMILY_MODEL,
    Family.LLM: recipe_pb2.OPERATOR_FAMILY_LLM,
}


def _optional(message: Any, name: str, default: Any) -> Any:
    return getattr(message, name) if message.HasField(name) else default


def _params(params: struct_pb2.Struct, field: str) -> dict[str, Any]:
    """An operator's parameters; a number JSON cannot hold (NaN, infinity) is INVALID_ARGUMENT."""
    try:
        return json_format.MessageToDict(params)
    except ValueError as exc:
        raise InvalidArgumentError(
            "operator parameters must be JSON values", violations=[FieldViolation(field, str(exc))]
        ) from exc


def recipe_from_pb(message: recipe_pb2.Recipe) -> Recipe:
    acceptance = message.acceptance
    consistency = None
    if acceptance.HasField("consistency"):
        c = acceptance.consistency
        consistency = ConsistencyFilter(
            model_name=c.model.name,
            model_version_id=c.model.version_id,
            variant="int8" if c.variant == model_pb2.MODEL_VARIANT_INT8 else "fp32",
            min_agreement=_optional(c, "min_agreement", 1.0),
        )
    quality = None
    if acceptance.HasField("response_quality"):
        q = acceptance.response_quality
        quality = ResponseQualityFilter(
            min_response_chars=q.min_response_chars,
            max_response_chars=q.max_response_chars,
            max_repeated_line_ratio=_optional(q, "max_repeated_line_ratio", None),
            drop_refusals=_optional(q, "drop_refusals", True),
        )
    splits = tuple(split_from_pb(s) for s in message.splits) or (Split.TRAIN,)
    return Recipe(
        operators=tuple(
            OperatorStep(
                operator=step.operator,
                params=_params(step.params, f"recipe.operators[{i}].params"),
                probability=_optional(step, "probability", 1.0),
            )
            for i, step in enumerate(message.operators)
        ),
        multiplier=_optional(message, "multiplier", 1),
        max_attempts=_optional(message, "max_attempts", 5),
        splits=splits,
        allow_eval_splits=message.allow_eval_splits,
        include_originals=_optional(message, "include_originals", True),
        seed=message.seed,
        acceptance=AcceptanceFilters(
            drop_exact_duplicates=_optional(acceptance, "drop_exact_duplicates", True),
            drop_near_duplicates=_optional(acceptance, "drop_near_duplicates", True),
            near_duplicate_threshold=_optional(acceptance, "near_duplicate_threshold", 0.9),
            require_valid_tags=_optional(acceptance, "require_valid_tags", True),
            consistency=consistency,
            response_quality=quality,
        ),
    )


def step_reports_to_pb(reports: Sequence[dict[str, Any]]) -> list[dataset_pb2.StepReport]:
    out = []
    for report in reports:
        message = dataset_pb2.StepReport()
        data = dict(report)
        data["violations"] = [{k: v for k, v in d.items() if v is not None} for d in data["violations"]]
        json_format.ParseDict(data, message)
        out.append(message)
    return out


def preview_response(result: AugmentResult) -> pb.PreviewAugmentResponse:
    return pb.PreviewAugmentResponse(
        results=[
            pb.AugmentedExample(
                source=example_to_pb(r.source),
                created=[example_to_pb(e) for e in r.created],
                rejected=[pb.RejectedExample(example=example_to_pb(e), reason=why) for e, why in r.rejected],
            )
            for r in result.results
        ],
        steps=step_reports_to_pb(result.reports),
    )


def operator_to_pb(info: OperatorInfo) -> recipe_pb2.OperatorInfo:
    schema = struct_pb2.Struct()
    schema.update(info.params_schema)
    return recipe_pb2.OperatorInfo(
        name=info.name,
        description=info.description,
        tasks=[task_to_pb(t) for t in info.tasks],
        family=_FAMILIES[info.family],
        params_schema=schema,
        available=info.available,
    )
