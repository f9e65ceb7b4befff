"""Train and serve see the same text: a model version trained on NFKC-normalized data records
that normalization, and the inference service applies it to raw input before tokenization, with
offsets still pointing into the caller's raw text (even where normalization changed lengths)."""

from __future__ import annotations

from inference_models import Models, train
from served import served

from foundry.api.common.v1 import refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.domain.modelversions import ModelVersion
from foundry.domain.textnorm import NormalizationOptions
from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore


def fullwidth(text: str) -> str:
    """`text` (printable ASCII) in full-width forms."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


NFKC = NormalizationOptions(unicode_nfkc=True).to_dict()
#: full-width letters, comma and digits, "ﬂ" (one code point that NFKC makes two: "fl") before
#: the place, so its raw offsets differ from those in the normalized text, and "℃" ("°C")
RAW = f"{fullwidth('alice')} \ufb02ew to {fullwidth('paris')} yesterday\uff0c{fullwidth('25')}℃"
NORMALIZED = "alice flew to paris yesterday,25°C"


def nfkc_model(models: Models) -> ModelVersion:
    store = ObjectStore.from_settings(models.settings)
    work = models.settings.home_dir / "work"
    return train(store, models.settings, work, Task.TOKEN_CLASSIFICATION, "tiny-ner-nfkc", 4, NFKC)


async def test_raw_input_is_normalized_like_the_training_data_and_offsets_index_it(models: Models) -> None:
    version = nfkc_model(models)
    assert version.normalization == NFKC  # carried from the dataset version into the model version
    assert NormalizationOptions.from_dict(NFKC).unicode_form == "NFKC"
    async with served(models.settings) as service:
        await service.stub.LoadModel(pb.LoadModelRequest(model=refs_pb2.ModelRef(name="tiny-ner-nfkc")))
        response = await service.stub.Predict(
            pb.PredictRequest(
                model=refs_pb2.ModelRef(name="tiny-ner-nfkc"),
                inputs=[pb.PredictInput(id="raw", text=RAW), pb.PredictInput(id="ascii", text=NORMALIZED)],
            )
        )
    raw, ascii_ = response.predictions
    found = {(e.type, e.text, e.start, e.end) for e in raw.entities}
    assert ("PER", fullwidth("alice"), 0, 5) in found and ("LOC", fullwidth("paris"), 13, 18) in found
    for entity in raw.entities:  # offsets are code points into the caller's raw text
        assert RAW[entity.start : entity.end] == entity.text
    # the model saw the same text for both inputs: the same entities with the same scores
    assert [(e.type, e.token_start, e.token_end) for e in raw.entities] == [
        (e.type, e.token_start, e.token_end) for e in ascii_.entities
    ]
    for a, b in zip(raw.entities, ascii_.entities, strict=True):
        assert abs(a.score - b.score) < 1e-6
        assert NORMALIZED[b.start : b.end] == b.text
