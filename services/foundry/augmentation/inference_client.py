"""The consistency filter's judge: a model served by the inference service, asked through
`foundry.client` (`LoadModel`, then `Predict` in chunks). The core calls `check()` before any work (the model must
load and be a model of the dataset's task); the engine sees only `agreements(examples)`.

Agreement of a new example with its parent's labels: classification, 1.0 when the predicted top
label is the label (multi-label: the predicted label set is the labels), else 0.0; token
classification, the share of the example's own entity mentions (whose types come from the
parent) that the model predicts exactly (same words, same type); 1.0 when it has none and the
model predicts none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from foundry.api.common.v1 import model_pb2, refs_pb2, task_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.augmentation.recipe import ConsistencyFilter
from foundry.client.errors import answered
from foundry.client.inference import InferenceClient
from foundry.domain.tags import segments
from foundry.runtime.convert import task_to_pb
from foundry.runtime.errors import (
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    FoundryError,
    UnavailableError,
)
from foundry.runtime.examples import Example, Task
from foundry.runtime.settings import Settings

PREDICT_CHUNK = 64
TIMEOUT_S = 120.0
#: the recipe field that names the model, in errors
MODEL_FIELD = "recipe.acceptance.consistency.model"
JUDGED_TASKS = frozenset(
    {Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION, Task.TOKEN_CLASSIFICATION}
)
_VARIANTS = {"fp32": model_pb2.MODEL_VARIANT_FP32, "int8": model_pb2.MODEL_VARIANT_INT8}
R = TypeVar("R")


class InferenceJudge:
    """Judges the new examples of a dataset of `task`. Each `check` or `agreements` call opens a
    client of the inference service and closes it when done."""

    def __init__(self, settings: Settings, spec: ConsistencyFilter, task: Task) -> None:
        self.spec = spec
        self.task = task
        self.settings = settings
        self.address = settings.inference_address
        self.model = refs_pb2.ModelRef(name=spec.model_name, version_id=spec.model_version_id)
        self.variant = _VARIANTS.get(spec.variant, model_pb2.MODEL_VARIANT_FP32)

    def _unusable(self, why: str) -> FailedPreconditionError:
        return FailedPreconditionError(
            f"the consistency model {self.spec.model_name} cannot be used",
            reason="CONSISTENCY_MODEL_UNUSABLE",
            violations=[FieldViolation(MODEL_FIELD, why)],
            metadata={"model": self.spec.model_name},
        )

    def _call(self, call: Callable[..., R], request: object) -> R:
        try:
            return call(request, timeout_s=TIMEOUT_S)
        except (UnavailableError, DeadlineExceededError) as exc:
            raise UnavailableError(
                f"the inference service at {self.address} is unavailable ({answered(exc).details})",
                reason="INFERENCE_UNAVAILABLE",
            ) from exc
        except FoundryError as exc:
            status = answered(exc)
            raise self._unusable(f"{status.code}: {status.details}") from exc

    def _load(self, client: InferenceClient) -> None:
        """Load the model (a no-op when it is loaded); it must be a model for the dataset's task."""
        if self.task not in JUDGED_TASKS:
            raise self._unusable(f"the consistency filter does not judge {self.task.value} datasets")
        request = pb.LoadModelRequest(model=self.model, variant=self.variant)
        response = self._call(client.load_model, request)
        task = response.loaded_model.task
        if task != task_to_pb(self.task):
            raise self._unusable(
                f"a {task_pb2.Task.Name(task)} model cannot judge a {self.task.value} dataset"
            )

    def check(self) -> None:
        """Fail before any work when the model cannot be loaded or does not fit the task."""
        with InferenceClient(self.settings) as client:
            self._load(client)

    def agreements(self, examples: Sequence[Example]) -> list[float]:
        """The agreement of each example's prediction with its own (parent-derived) labels."""
        if not examples:
            return []
        out: list[float] = []
        with InferenceClient(self.settings) as client:
            self._load(client)  # again: it may have been unloaded while the operators ran
            for start in range(0, len(examples), PREDICT_CHUNK):
                chunk = examples[start : start + PREDICT_CHUNK]
                inputs = [
                    pb.PredictInput(id=str(i), tokens=pb.TokenList(tokens=e.tokens or []))
                    if e.tags is not None
                    else pb.PredictInput(id=str(i), text=e.text or "")
                    for i, e in enumerate(chunk)
                ]
                request = pb.PredictRequest(model=self.model, variant=self.variant, inputs=inputs)
                predictions = self._call(client.predict, request).predictions
                out.extend(agreement(e, p) for e, p in zip(chunk, predictions, strict=True))
        return out


def agreement(example: Example, prediction: pb.Prediction) -> float:
    if example.tags is not None:
        gold = {(s, e, t) for s, e, t in segments(example.tags) if t}
        found = {(en.token_start, en.token_end, en.type) for en in prediction.entities}
        if not gold:
            return 1.0 if not found else 0.0
        return len(gold & found) / len(gold)
    if example.labels is not None:
        return 1.0 if set(prediction.labels) == set(example.labels) else 0.0
    top = prediction.top_k[0].label if prediction.top_k else ""
    return 1.0 if top == example.label else 0.0
