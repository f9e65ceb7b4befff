"""What labeling needs from a model: predictions for items. `Predictor` is the port the core
uses; `InferencePredictor` is its adapter onto the inference service's gRPC API (LoadModel,
then Predict in batches), with gRPC errors turned into domain errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as ipb
from foundry.api.inference.v1 import inference_service_pb2_grpc as ipb_grpc
from foundry.runtime.errors import (
    FailedPreconditionError,
    FoundryError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from foundry.runtime.examples import Example, Task

PREDICT_BATCH = 128


@dataclass(frozen=True)
class Entity:
    token_start: int
    token_end: int
    type: str
    score: float


@dataclass(frozen=True)
class ItemPrediction:
    item_id: str
    distribution: dict[str, float] = field(default_factory=dict)  # classification, label-map order
    labels: tuple[str, ...] = ()  # multi-label
    entities: tuple[Entity, ...] = ()  # token classification


@dataclass(frozen=True)
class Predictions:
    name: str
    version_id: str
    id_to_label: tuple[str, ...]
    items: list[ItemPrediction]


class Predictor(Protocol):
    def predict(
        self, name: str, version_id: str, int8: bool, task: Task, examples: Sequence[Example]
    ) -> Predictions: ...


_CODES: dict[grpc.StatusCode, type[FoundryError]] = {
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: UnavailableError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
}


class InferencePredictor:
    """Predictions from the inference service at `address`."""

    def __init__(self, address: str, *, timeout_s: float = 300.0, auth_token: str | None = None) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.metadata = (("authorization", f"Bearer {auth_token}"),) if auth_token else ()

    def predict(
        self, name: str, version_id: str, int8: bool, task: Task, examples: Sequence[Example]
    ) -> Predictions:
        variant = model_pb2.MODEL_VARIANT_INT8 if int8 else model_pb2.MODEL_VARIANT_FP32
        with grpc.insecure_channel(self.address) as channel:
            stub = ipb_grpc.InferenceServiceStub(channel)
            try:
                loaded = stub.LoadModel(
                    ipb.LoadModelRequest(
                        model=refs_pb2.ModelRef(name=name, version_id=version_id), variant=variant
                    ),
                    timeout=self.timeout_s,
                    metadata=self.metadata,
                ).loaded_model
                ref = loaded.model
                items: list[ItemPrediction] = []
                for start in range(0, len(examples), PREDICT_BATCH):
                    batch = examples[start : start + PREDICT_BATCH]
                    response = stub.Predict(
                        ipb.PredictRequest(
                            model=ref, variant=variant, inputs=[_input(e, task) for e in batch]
                        ),
                        timeout=self.timeout_s,
                        metadata=self.metadata,
                    )
                    items.extend(
                        _prediction(e.id, p) for e, p in zip(batch, response.predictions, strict=True)
                    )
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                error = _CODES.get(code, FailedPreconditionError)
                raise error(
                    f"inference service at {self.address}: {code.name}: {details}",
                    reason="INFERENCE_" + code.name,
                ) from exc
        return Predictions(ref.name, ref.version_id, tuple(loaded.id_to_label), items)


def _input(example: Example, task: Task) -> ipb.PredictInput:
    if task is Task.TOKEN_CLASSIFICATION:
        return ipb.PredictInput(id=example.id, tokens=ipb.TokenList(tokens=list(example.tokens or [])))
    return ipb.PredictInput(id=example.id, text=example.text or "")


def _prediction(item_id: str, p: ipb.Prediction) -> ItemPrediction:
    return ItemPrediction(
        item_id,
        distribution={s.label: s.score for s in p.distribution},
        labels=tuple(p.labels),
        entities=tuple(Entity(e.token_start, e.token_end, e.type, e.score) for e in p.entities),
    )
