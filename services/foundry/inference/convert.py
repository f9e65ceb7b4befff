"""Protobuf ⇄ the inference core's types."""

from __future__ import annotations

from typing import Any

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.domain.bundle import Variant
from foundry.inference.core import PredictResult
from foundry.inference.decode import Aggregation, LabelScore, Prediction
from foundry.inference.registry import LoadedModel, ModelState
from foundry.inference.requests import LoadOptions, PredictInput, PredictOptions
from foundry.runtime.convert import task_to_pb
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Task

_VARIANTS: dict[int, Variant] = {
    model_pb2.MODEL_VARIANT_FP32: Variant.FP32,
    model_pb2.MODEL_VARIANT_INT8: Variant.INT8,
}
_VARIANTS_PB: dict[Variant, Any] = {v: k for k, v in _VARIANTS.items()}
_AGGREGATIONS = {
    pb.SUBWORD_AGGREGATION_UNSPECIFIED: Aggregation.FIRST,
    pb.SUBWORD_AGGREGATION_FIRST: Aggregation.FIRST,
    pb.SUBWORD_AGGREGATION_AVERAGE: Aggregation.AVERAGE,
    pb.SUBWORD_AGGREGATION_MAX: Aggregation.MAX,
}
_STATES = {
    ModelState.LOADING: pb.MODEL_STATE_LOADING,
    ModelState.READY: pb.MODEL_STATE_READY,
    ModelState.UNLOADING: pb.MODEL_STATE_UNLOADING,
    ModelState.FAILED: pb.MODEL_STATE_FAILED,
}


def variant_from_pb(number: int, *, default: Variant | None) -> Variant | None:
    if number == model_pb2.MODEL_VARIANT_UNSPECIFIED:
        return default
    if number not in _VARIANTS:
        raise InvalidArgumentError(
            "unknown variant", violations=[FieldViolation("variant", f"unknown value {number}")]
        )
    return _VARIANTS[number]


def load_options_from_pb(options: pb.LoadOptions) -> LoadOptions:
    return LoadOptions(
        max_batch_size=options.max_batch_size if options.HasField("max_batch_size") else None,
        max_queue_delay_ms=options.max_queue_delay_ms if options.HasField("max_queue_delay_ms") else None,
        max_queue_size=options.max_queue_size if options.HasField("max_queue_size") else None,
        intra_op_threads=options.intra_op_threads if options.HasField("intra_op_threads") else None,
    )


def predict_inputs_from_pb(request: pb.PredictRequest) -> list[PredictInput]:
    inputs = []
    for item in request.inputs:
        kind = item.WhichOneof("input")
        if kind == "text":
            inputs.append(PredictInput(item.id, text=item.text))
        elif kind == "tokens":
            inputs.append(PredictInput(item.id, tokens=tuple(item.tokens.tokens)))
        else:
            inputs.append(PredictInput(item.id))
    return inputs


def predict_options_from_pb(request: pb.PredictRequest) -> PredictOptions:
    if request.aggregation not in _AGGREGATIONS:
        raise InvalidArgumentError(
            "unknown aggregation",
            violations=[FieldViolation("aggregation", f"unknown value {request.aggregation}")],
        )
    return PredictOptions(
        top_k=request.top_k if request.HasField("top_k") else 1,
        aggregation=_AGGREGATIONS[request.aggregation],
        multilabel_threshold=request.multilabel_threshold
        if request.HasField("multilabel_threshold")
        else None,
    )


def loaded_model_to_pb(entry: LoadedModel) -> pb.LoadedModel:
    key, batch = entry.key, entry.settings.batch
    options = pb.LoadOptions(
        max_batch_size=batch.max_batch_size, intra_op_threads=entry.settings.intra_op_threads
    )
    if entry.task is not Task.CHAT:  # a chat model's engine has no request queue of this kind
        options.max_queue_delay_ms = round(batch.max_queue_delay_s * 1000)
        options.max_queue_size = batch.max_queue_size
    message = pb.LoadedModel(
        model=refs_pb2.ModelRef(name=key.name, version_id=key.version_id),
        variant=_VARIANTS_PB[key.variant],
        state=_STATES[entry.state],
        error=entry.error,
        provider=entry.provider,
        options=options,
        oip_model_name=key.oip_name,
        oip_model_version=key.version_id,
    )
    if entry.task is not None:
        message.task = task_to_pb(entry.task)
    if entry.bundle is not None:
        message.id_to_label.extend(entry.bundle.labels)
        message.max_seq_length = entry.bundle.max_seq_length
    if entry.loaded_at is not None:
        message.loaded_at.FromDatetime(entry.loaded_at)
    return message


def predict_response_to_pb(result: PredictResult) -> pb.PredictResponse:
    key = result.model.key
    return pb.PredictResponse(
        model=refs_pb2.ModelRef(name=key.name, version_id=key.version_id),
        variant=_VARIANTS_PB[key.variant],
        predictions=[_prediction_to_pb(p) for p in result.predictions],
    )


def _prediction_to_pb(prediction: Prediction) -> pb.Prediction:
    return pb.Prediction(
        id=prediction.id,
        entities=[
            pb.Entity(
                type=e.type,
                start=e.start,
                end=e.end,
                text=e.text,
                score=e.score,
                token_start=e.token_start,
                token_end=e.token_end,
            )
            for e in prediction.entities
        ],
        distribution=[_score(s) for s in prediction.distribution],
        top_k=[_score(s) for s in prediction.top_k],
        labels=list(prediction.labels),
        windows=prediction.windows,
    )


def _score(score: LabelScore) -> pb.LabelScore:
    return pb.LabelScore(label=score.label, score=score.score)


def is_token_task(entry: LoadedModel) -> bool:
    return entry.bundle is not None and entry.bundle.task is Task.TOKEN_CLASSIFICATION


__all__ = [
    "load_options_from_pb",
    "loaded_model_to_pb",
    "predict_inputs_from_pb",
    "predict_options_from_pb",
    "predict_response_to_pb",
    "variant_from_pb",
]
