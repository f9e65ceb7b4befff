"""JobSpec ⇄ proto: a spec survives the round trip, the oneof base model included."""

from __future__ import annotations

import pytest

from foundry.api.common.v1 import task_pb2, training_spec_pb2
from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Split, Task
from foundry.training.convert import jobspec_from_pb, jobspec_to_pb
from foundry.training.spec import (
    BaseModelRef,
    DatasetRef,
    EarlyStopping,
    Freeze,
    JobSpec,
    LoraConfig,
    LrScheduler,
    MetricGoal,
    MetricObjective,
    Precision,
    TrainingMethod,
)


@pytest.mark.parametrize("kind", ["imported", "model_version"])
def test_a_spec_survives_the_round_trip(kind: str) -> None:
    spec = JobSpec(
        task=Task.TOKEN_CLASSIFICATION,
        base_model=BaseModelRef(kind, "tiny", "a" * 64),  # type: ignore[arg-type]
        dataset=DatasetRef("ner", "b" * 64),
        model_name="m",
        eval_split=Split.TEST,
        learning_rate=1e-3,
        batch_size=4,
        max_steps=10,
        lr_scheduler=LrScheduler.COSINE,
        precision=Precision.BF16,
        freeze=Freeze(embeddings=True, first_n_layers=1),
        method=TrainingMethod.LORA,
        lora=LoraConfig(r=4, alpha=8.0, target_modules=("query", "value")),
        objective=MetricObjective("eval_f1", MetricGoal.MAXIMIZE),
        early_stopping=EarlyStopping(patience=2, min_delta=0.01),
    ).resolved()
    message = jobspec_to_pb(spec)
    assert message.base_model.WhichOneof("source") == kind
    assert message.precision == training_spec_pb2.PRECISION_BF16
    assert jobspec_from_pb(message) == spec


def test_unset_fields_take_the_defaults_and_missing_ones_are_named() -> None:
    message = training_spec_pb2.JobSpec(task=task_pb2.TASK_TOKEN_CLASSIFICATION)
    message.dataset.name = "ner"
    message.base_model.imported.name = "tiny"
    spec = jobspec_from_pb(message)
    assert spec == JobSpec(Task.TOKEN_CLASSIFICATION, BaseModelRef("imported", "tiny"), DatasetRef("ner"))
    with pytest.raises(InvalidArgumentError) as caught:
        jobspec_from_pb(training_spec_pb2.JobSpec())
    assert {v.field for v in caught.value.violations} == {"spec.task", "spec.base_model", "spec.dataset.name"}
