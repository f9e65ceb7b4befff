"""A model version's headline F1 is the F1 of what `Predict` serves: a tiny, undertrained NER
model is trained and exported by the real worker, served by the real inference service, asked
for every test sentence, and its answers scored with seqeval must give the version's F1, in
both seqeval modes, to 1e-9, and its per-type scores."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from inference_models import Models, ner_examples, train
from seqeval.metrics import classification_report, f1_score  # type: ignore[import-untyped]
from seqeval.scheme import IOB2  # type: ignore[import-untyped]
from served import served

from foundry.api.common.v1 import refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.domain.tags import tags_at
from foundry.runtime.examples import Span, Split, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings


async def test_headline_f1_equals_the_f1_of_predict_responses(models: Models, tmp_path: Path) -> None:
    store = ObjectStore.from_settings(models.settings)
    settings = Settings.model_validate(models.settings.model_dump())
    # two epochs: a model that still makes mistakes, so the scores are not trivially 0 or 1
    version = train(store, settings, tmp_path, Task.TOKEN_CLASSIFICATION, "tiny-ner-raw", epochs=2)
    test = [e for e in ner_examples() if e.split is Split.TEST]
    async with served(models.settings) as service:
        await service.stub.LoadModel(pb.LoadModelRequest(model=refs_pb2.ModelRef(name="tiny-ner-raw")))
        response = await service.stub.Predict(
            pb.PredictRequest(
                model=refs_pb2.ModelRef(name="tiny-ner-raw"),
                inputs=[pb.PredictInput(id=e.id, tokens=pb.TokenList(tokens=e.tokens)) for e in test],
            )
        )
    gold, served_tags = [], []
    for example, prediction in zip(test, response.predictions, strict=True):
        words = list(example.tokens or ())
        offsets, start = [], 0
        for word in words:
            offsets.append((start, start + len(word)))
            start += len(word) + 1
        spans = [Span(e.start, e.end, e.type) for e in prediction.entities]
        served_tags.append(tags_at(offsets, " ".join(words), spans))
        gold.append(list(example.tags or ()))
    recorded = version.metrics["splits"]["test"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval's UndefinedMetricWarning
        default = f1_score(gold, served_tags)
        strict = f1_score(gold, served_tags, mode="strict", scheme=IOB2)
        report = classification_report(gold, served_tags, output_dict=True)
    assert recorded["eval_f1"] == pytest.approx(default, abs=1e-9)
    assert recorded["eval_f1_default"] == pytest.approx(default, abs=1e-9)
    assert recorded["eval_f1_strict"] == pytest.approx(strict, abs=1e-9)
    per_type = version.metrics["per_type"]["test"]
    for name, scores in per_type.items():
        assert scores["f1"] == pytest.approx(report[name]["f1-score"], abs=1e-9)
        assert scores["support"] == report[name]["support"]
    assert version.metrics["decoding"]["test"] == {
        "aggregation": "first",
        "bio_repair": True,
        "as_served": True,
    }
    assert 0 < default < 1  # neither an empty nor a perfect model: the comparison means something
