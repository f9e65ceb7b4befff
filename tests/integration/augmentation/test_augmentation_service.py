"""The augmentation service end to end: a real grpc.aio server on 127.0.0.1 with every
interceptor, the real S3 server, WNUT-17 examples, a tiny masked LM imported as a base model,
and the real inference service for the consistency filter's round trip."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import torch
from google.protobuf import struct_pb2
from transformers import BertForMaskedLM

from foundry.api.augmentation.v1 import augmentation_service_pb2 as pb
from foundry.api.augmentation.v1 import augmentation_service_pb2_grpc as pb_grpc
from foundry.api.augmentation.v1 import recipe_pb2
from foundry.api.common.v1 import example_pb2, refs_pb2, task_pb2
from foundry.api.inference.v1 import inference_service_pb2 as inference_pb
from foundry.augmentation.__main__ import build
from foundry.augmentation.inference_client import agreement
from foundry.augmentation.testing import wnut
from foundry.ingestion.tags import is_valid_iob2
from foundry.runtime import datasets
from foundry.runtime.convert import example_from_pb
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.training.base_models import import_base_model
from foundry.training.testing import tiny_bert, tiny_bert_config, vocab_from_texts

Service = tuple[pb_grpc.AugmentationServiceStub, ObjectStore, Settings]


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    local = settings.model_copy(update={"grpc_port": 0, "metrics_port": 0})
    server = FoundryServer(local, build(local))
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.AugmentationServiceStub(channel), ObjectStore.from_settings(local), local
    await server.drain(0)


def store_wnut(store: ObjectStore) -> str:
    rows = [*wnut(Split.TRAIN)[:300], *wnut(Split.VALIDATION)[:50], *wnut(Split.TEST)[:50]]
    labels = sorted({t[2:] for e in rows for t in e.tags or [] if t != "O"})
    return datasets.write_dataset_version(
        store, "wnut", Task.TOKEN_CLASSIFICATION, rows, label_set=labels
    ).version_id


def step(operator: str, probability: float | None = None, **params: object) -> recipe_pb2.OperatorStep:
    struct = struct_pb2.Struct()
    struct.update(params)
    message = recipe_pb2.OperatorStep(operator=operator, params=struct)
    if probability is not None:
        message.probability = probability
    return message


def tiny_mlm(folder: Path) -> Path:
    texts = [" ".join(e.tokens or []) for e in wnut(Split.TRAIN)[:300]]
    tiny_bert(folder, vocab_from_texts(texts))  # the tokenizer files
    config = tiny_bert_config(json.loads((folder / "config.json").read_text())["vocab_size"])
    config.architectures = ["BertForMaskedLM"]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        BertForMaskedLM(config).save_pretrained(folder)
    return folder


async def test_augment_stores_a_child_version_with_counts_and_provenance(service: Service) -> None:
    stub, store, _ = service
    version_id = store_wnut(store)
    recipe = recipe_pb2.Recipe(
        operators=[step("mention_replacement", 0.8, rate=0.6), step("synonym_replacement", rate=0.2)],
        multiplier=2,
        seed=11,
    )
    request = pb.AugmentRequest(
        dataset=refs_pb2.DatasetRef(name="wnut", version_id=version_id), recipe=recipe, output_name="wnut-aug"
    )
    response = await stub.Augment(request)
    version = response.dataset_version
    assert response.created and version.name == "wnut-aug"
    assert [(p.name, p.version_id) for p in version.parents] == [("wnut", version_id)]
    assert [s.step for s in response.steps] == ["mention_replacement", "synonym_replacement", "acceptance"]
    created = response.steps[-1].rows_out
    assert 300 < created <= 600 and version.counts.train == 300 + created
    assert (version.counts.validation, version.counts.test) == (50, 50)
    manifest = datasets.get_manifest(store, "wnut-aug", version.version_id)
    assert manifest.recipe["augment"]["multiplier"] == 2 and manifest.recipe_hash == version.recipe_hash
    assert manifest.statistics["augmentation"]["created"] == created
    rows = list(datasets.iter_examples(store, manifest))
    source = {
        e.id: e for e in datasets.iter_examples(store, datasets.get_manifest(store, "wnut", version_id))
    }
    new = [e for e in rows if e.id not in source]
    assert len(new) == created
    for example in new:
        assert example.provenance.parent_ids[0] in source and example.provenance.operation.startswith(
            "augment:"
        )
        assert is_valid_iob2(example.tags or [])
    assert [e for e in rows if e.split is not Split.TRAIN] == [
        e for e in source.values() if e.split is not Split.TRAIN
    ]

    again = await stub.Augment(request)  # same recipe, same version: same output, nothing new
    assert not again.created and again.dataset_version.version_id == version.version_id


async def test_preview_stores_nothing(service: Service) -> None:
    stub, store, _ = service
    version_id = store_wnut(store)
    recipe = recipe_pb2.Recipe(
        operators=[step("context_swap"), step("segment_shuffle", rate=0.5)], multiplier=3
    )
    response = await stub.PreviewAugment(
        pb.PreviewAugmentRequest(
            dataset=refs_pb2.DatasetRef(name="wnut", version_id=version_id), recipe=recipe, limit=4
        )
    )
    assert len(response.results) == 4
    assert sum(len(r.created) for r in response.results) > 4
    assert all(r.source.split == example_pb2.SPLIT_TRAIN for r in response.results)
    assert datasets.list_datasets(store) == ["wnut"]
    inline = await stub.PreviewAugment(
        pb.PreviewAugmentRequest(
            examples=[
                example_pb2.Example(
                    id="a", split=example_pb2.SPLIT_TRAIN, text="the food was really good", label="pos"
                )
            ],
            task=task_pb2.TASK_TEXT_CLASSIFICATION,
            recipe=recipe_pb2.Recipe(operators=[step("eda_synonym_replacement", alpha=0.5)]),
        )
    )
    (only,) = inline.results
    assert (
        only.created and only.created[0].label == "pos" and only.created[0].text != "the food was really good"
    )


async def test_list_operators_with_schemas(service: Service) -> None:
    stub, _, _ = service
    everything = await stub.ListOperators(pb.ListOperatorsRequest())
    names = {o.name for o in everything.operators}
    assert {"mention_replacement", "eda_random_swap", "mlm_substitution", "instruction_evolution"} <= names
    ner = await stub.ListOperators(pb.ListOperatorsRequest(task=task_pb2.TASK_TOKEN_CLASSIFICATION))
    by_name = {o.name: o for o in ner.operators}
    assert "eda_random_swap" not in by_name
    schema = by_name["mention_replacement"].params_schema
    assert schema["properties"]["rate"]["maximum"] == 1.0 and schema["additionalProperties"] is False
    assert by_name["mention_replacement"].family == recipe_pb2.OPERATOR_FAMILY_RULE
    chat = {o.name: o for o in everything.operators}["instruction_evolution"]
    assert chat.family == recipe_pb2.OPERATOR_FAMILY_LLM and not chat.available  # no endpoint configured


async def test_errors_name_what_is_wrong(service: Service) -> None:
    stub, store, _ = service
    version_id = store_wnut(store)
    ref = refs_pb2.DatasetRef(name="wnut", version_id=version_id)
    cases = [
        (
            recipe_pb2.Recipe(operators=[step("mention_swap")]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "mention_swap",
        ),
        (
            recipe_pb2.Recipe(operators=[step("segment_shuffle", ratio=0.1)]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ratio",
        ),
        (
            recipe_pb2.Recipe(operators=[step("eda_random_swap")]),
            grpc.StatusCode.FAILED_PRECONDITION,
            "eda_random_swap",
        ),
        (
            recipe_pb2.Recipe(operators=[step("segment_shuffle")], splits=[example_pb2.SPLIT_TEST]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "allow_eval_splits",
        ),
    ]
    for recipe, code, needle in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Augment(pb.AugmentRequest(dataset=ref, recipe=recipe))
        assert err.value.code() == code and needle in (err.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Augment(
            pb.AugmentRequest(
                dataset=refs_pb2.DatasetRef(name="nope"),
                recipe=recipe_pb2.Recipe(operators=[step("segment_shuffle")]),
            )
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert datasets.list_datasets(store) == ["wnut"]  # nothing stored by a failed request


async def test_model_based_operators_use_a_base_model_from_the_store(
    service: Service, tmp_path: Path
) -> None:
    stub, store, _ = service
    version_id = store_wnut(store)
    import_base_model(store, "tiny-mlm", tiny_mlm(tmp_path / "mlm"), source="test")
    store.put_bytes("lexicons/en.json", json.dumps({"the": ["teh"], "i": ["me"]}).encode())
    ref = refs_pb2.DatasetRef(name="wnut", version_id=version_id)
    recipe = recipe_pb2.Recipe(
        operators=[
            step("mlm_substitution", 1.0, base_model="tiny-mlm", rate=0.3, top_k=5),
            step(
                "synonym_replacement",
                0.5,
                source="embedding",
                base_model="tiny-mlm",
                rate=0.3,
                min_similarity=-1.0,
            ),
            step("synonym_replacement", 0.5, source="lexicon", lexicon_key="lexicons/en.json", rate=1.0),
        ],
        seed=2,
    )
    response = await stub.PreviewAugment(pb.PreviewAugmentRequest(dataset=ref, recipe=recipe, limit=20))
    made = [example_from_pb(e) for r in response.results for e in r.created]
    assert len(made) >= 15
    steps = {s.step: s for s in response.steps}
    assert steps["mlm_substitution"].rows_modified > 0
    for example in made:
        assert is_valid_iob2(example.tags or [])
    sources = {r.source.id: example_from_pb(r.source) for r in response.results}
    for example in made:  # entity tokens are never substituted
        parent = sources[example.provenance.parent_ids[0]]
        assert [t for t, g in zip(example.tokens or [], example.tags or [], strict=True) if g != "O"] == [
            t for t, g in zip(parent.tokens or [], parent.tags or [], strict=True) if g != "O"
        ]
    headless = tiny_bert(tmp_path / "headless", ["a", "b"])
    import_base_model(store, "headless", headless)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.PreviewAugment(
            pb.PreviewAugmentRequest(
                dataset=ref,
                recipe=recipe_pb2.Recipe(operators=[step("mlm_substitution", base_model="headless")]),
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "masked-LM head" in (
        err.value.details() or ""
    )


async def test_consistency_filter_asks_the_real_inference_service(
    service: Service, settings: Settings
) -> None:
    """The consistency filter's gRPC round trip to the real inference service: a model it cannot
    load makes Augment fail with a clear FAILED_PRECONDITION naming the model, and nothing is
    stored. (Dropping examples by a served model's labels needs a trained, exported model
    version; that end-to-end case is `test_consistency_filter_drops_disagreeing_examples`.)"""
    from foundry.inference.__main__ import build as build_inference

    _, store, _ = service
    inference_settings = settings.model_copy(update={"grpc_port": 0, "metrics_port": 0})
    inference = FoundryServer(inference_settings, build_inference(inference_settings))
    await inference.start()
    try:
        local = settings.model_copy(
            update={"grpc_port": 0, "metrics_port": 0, "inference_address": f"127.0.0.1:{inference.port}"}
        )
        server = FoundryServer(local, build(local))
        await server.start()
        version_id = store_wnut(store)
        recipe = recipe_pb2.Recipe(
            operators=[step("mention_replacement", rate=1.0)],
            acceptance=recipe_pb2.AcceptanceFilters(
                consistency=recipe_pb2.ConsistencyFilter(model=refs_pb2.ModelRef(name="no-such-model"))
            ),
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await pb_grpc.AugmentationServiceStub(channel).Augment(
                    pb.AugmentRequest(
                        dataset=refs_pb2.DatasetRef(name="wnut", version_id=version_id), recipe=recipe
                    )
                )
        await server.drain(0)
    finally:
        await inference.drain(0)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no-such-model" in (err.value.details() or "")
    assert datasets.list_datasets(store) == ["wnut"]


@pytest.mark.skip(
    reason="needs a served model version: the inference service (issue 5) is landing in parallel"
)
async def test_consistency_filter_drops_disagreeing_examples() -> None:
    raise AssertionError("see the report: to be written once a served NER model version can be made in tests")


def test_agreement_of_predictions() -> None:
    example = Example(
        id="x", tokens=["Ann", "in", "New", "York"], tags=["B-person", "O", "B-location", "I-location"]
    )
    half = inference_pb.Prediction(entities=[inference_pb.Entity(type="person", token_start=0, token_end=1)])
    assert agreement(example, half) == 0.5
    text = Example(id="t", text="good", label="pos")
    assert (
        agreement(text, inference_pb.Prediction(top_k=[inference_pb.LabelScore(label="pos", score=0.9)]))
        == 1.0
    )
    assert (
        agreement(text, inference_pb.Prediction(top_k=[inference_pb.LabelScore(label="neg", score=0.9)]))
        == 0.0
    )
