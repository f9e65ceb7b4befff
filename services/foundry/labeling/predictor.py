"""What labeling needs from a model: predictions for items. `Predictor` is the port the core
uses; `InferencePredictor` is its adapter onto the inference service (LoadModel, then Predict
in batches, through `foundry.client`), its failures passed on as labeling's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as ipb
from foundry.client.errors import answered
from foundry.client.inference import InferenceClient
from foundry.runtime.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    FoundryError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from foundry.runtime.examples import Example, Task
from foundry.runtime.settings import Settings

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


#: how a failed inference call is passed on (the rest: FAILED_PRECONDITION)
_PASSED_ON: dict[type[FoundryError], type[FoundryError]] = {
    UnavailableError: UnavailableError,
    DeadlineExceededError: UnavailableError,
    NotFoundError: NotFoundError,
    InvalidArgumentError: InvalidArgumentError,
}


class InferencePredictor:
    """Predictions from the inference service the settings name, each call with `timeout_s`."""

    def __init__(self, settings: Settings, *, timeout_s: float = 300.0) -> None:
        self.settings = settings
        self.address = settings.inference_address
        self.timeout_s = timeout_s

    def predict(
        self, name: str, version_id: str, int8: bool, task: Task, examples: Sequence[Example]
    ) -> Predictions:
        variant = model_pb2.MODEL_VARIANT_INT8 if int8 else model_pb2.MODEL_VARIANT_FP32
        with InferenceClient(self.settings) as client:
            try:
                loaded = client.load_model(
                    ipb.LoadModelRequest(
                        model=refs_pb2.ModelRef(name=name, version_id=version_id), variant=variant
                    ),
                    timeout_s=self.timeout_s,
                ).loaded_model
                ref = loaded.model
                items: list[ItemPrediction] = []
                for start in range(0, len(examples), PREDICT_BATCH):
                    batch = examples[start : start + PREDICT_BATCH]
                    response = client.predict(
                        ipb.PredictRequest(
                            model=ref, variant=variant, inputs=[_input(e, task) for e in batch]
                        ),
                        timeout_s=self.timeout_s,
                    )
                    items.extend(
                        _prediction(e.id, p) for e, p in zip(batch, response.predictions, strict=True)
                    )
            except FoundryError as exc:
                status = answered(exc)
                error = _PASSED_ON.get(type(exc), FailedPreconditionError)
                raise error(
                    f"inference service at {self.address}: {status.code}: {status.details}",
                    reason="INFERENCE_" + status.code,
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
