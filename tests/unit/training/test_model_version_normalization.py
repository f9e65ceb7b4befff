"""A model version records the text normalization of its dataset version (JSON and proto)."""

from __future__ import annotations

import json

from foundry.domain.modelversions import ModelVersion
from foundry.domain.textnorm import NormalizationOptions
from foundry.runtime.examples import Task
from foundry.training.convert import model_version_to_pb
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec


def version(normalization: dict[str, bool] | None) -> ModelVersion:
    spec = JobSpec(
        task=Task.TOKEN_CLASSIFICATION,
        base_model=BaseModelRef("imported", "tiny-bert"),
        dataset=DatasetRef("ner", "ab" * 32),
    ).resolved()
    return ModelVersion(
        name="ner",
        version_id="cd" * 32,
        task=Task.TOKEN_CLASSIFICATION.value,
        id_to_label=["O", "B-PER", "I-PER"],
        base_model={"name": "tiny-bert", "version_id": "ef" * 32},
        dataset={"name": "ner", "version_id": "ab" * 32},
        spec=spec.to_dict(),
        job_id="job",
        metrics={},
        parity=None,
        artifacts=[],
        status="promoted",
        normalization=normalization,
    )


def test_normalization_round_trips_and_reaches_the_proto() -> None:
    nfkc = NormalizationOptions(unicode_nfkc=True).to_dict()
    recorded = version(nfkc)
    assert ModelVersion.from_dict(json.loads(json.dumps(recorded.to_dict()))) == recorded
    message = model_version_to_pb(recorded)
    assert message.HasField("normalization") and message.normalization.unicode_nfkc
    assert message.normalization.collapse_whitespace and not message.normalization.lowercase
    unrecorded = version(None)
    older = unrecorded.to_dict()
    del older["normalization"]  # a manifest written before normalization was recorded
    assert ModelVersion.from_dict(older).normalization is None
    assert not model_version_to_pb(unrecorded).HasField("normalization")
