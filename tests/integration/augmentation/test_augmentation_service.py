"""The augmentation service end to end: a real grpc.aio server on 127.0.0.1 with every
interceptor, the real S3 server, WNUT-17 examples, a tiny masked LM imported as a base model,
and, for the consistency filter, the real inference service serving a NER model version that the
training worker made (the inference tests' `models` fixture, see conftest.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest
import torch
from google.protobuf import json_format, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from inference_models import Models
from served import Served, served
from transformers import BertForMaskedLM

from foundry.api.augmentation.v1 import augmentation_service_pb2 as pb
from foundry.api.augmentation.v1 import augmentation_service_pb2_grpc as pb_grpc
from foundry.api.augmentation.v1 import recipe_pb2
from foundry.api.common.v1 import example_pb2, refs_pb2, task_pb2
from foundry.api.inference.v1 import inference_service_pb2 as inference_pb
from foundry.augmentation.__main__ import build
from foundry.augmentation.inference_client import agreement
from foundry.augmentation.settings import AugmentationSettings
from foundry.domain.base_models import import_base_model
from foundry.domain.tags import is_valid_iob2
from foundry.runtime import datasets
from foundry.runtime.convert import example_from_pb
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from helpers.augmentation import ChatServer, rewriting_reply, wnut
from helpers.training_models import tiny_bert, tiny_bert_config, vocab_from_texts

if TYPE_CHECKING:
    Stub = pb_grpc.AugmentationServiceAsyncStub
else:
    Stub = pb_grpc.AugmentationServiceStub
Service = tuple[Stub, ObjectStore, Settings]


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    local = AugmentationSettings(**{**settings.model_dump(), "grpc_port": 0, "metrics_port": 0})
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


def step(operator: str, probability: float | None = None, **params: Any) -> recipe_pb2.OperatorStep:
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
    schema = json_format.MessageToDict(by_name["mention_replacement"].params_schema)
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


async def test_augment_paraphrases_through_the_configured_llm_endpoint(settings: Settings) -> None:
    """The LLM path end to end: the service configured (FOUNDRY_LLM_*) with a real local
    OpenAI-compatible server; Augment stores the server's paraphrases with their labels, provenance
    naming the operator and the parent, and the operator's counts."""
    rows = [
        Example(id=f"r{i}", split=split, text=text, label=label)
        for i, (split, text, label) in enumerate(
            [
                (Split.TRAIN, "Great food and friendly staff", "pos"),
                (Split.TRAIN, "Awful service, cold soup", "neg"),
                (Split.TRAIN, "The view alone is worth it", "pos"),
                (Split.VALIDATION, "Never again", "neg"),
            ]
        )
    ]
    with ChatServer(rewriting_reply).running() as llm:
        local = AugmentationSettings(
            **{
                **settings.model_dump(),
                "grpc_port": 0,
                "metrics_port": 0,
                "llm_base_url": llm.url,
                "llm_model": "para-7b",
            }
        )
        server = FoundryServer(local, build(local))
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = pb_grpc.AugmentationServiceStub(channel)
                store = ObjectStore.from_settings(local)
                version_id = datasets.write_dataset_version(
                    store, "reviews", Task.TEXT_CLASSIFICATION, rows, label_set=["neg", "pos"]
                ).version_id
                response = await stub.Augment(
                    pb.AugmentRequest(
                        dataset=refs_pb2.DatasetRef(name="reviews", version_id=version_id),
                        recipe=recipe_pb2.Recipe(operators=[step("paraphrase")], seed=3),
                        output_name="reviews-para",
                    )
                )
        finally:
            await server.drain(0)
    assert len(llm.requests) == 3  # one per training example; validation untouched
    assert {r["model"] for r in llm.requests} == {"para-7b"}
    assert {r["path"] for r in llm.requests} == {"/v1/chat/completions"}
    version = response.dataset_version
    assert response.created and [(p.name, p.version_id) for p in version.parents] == [("reviews", version_id)]
    assert (version.counts.train, version.counts.validation) == (6, 1)
    steps = {s.step: s for s in response.steps}
    assert list(steps) == ["paraphrase", "acceptance"]
    paraphrase = steps["paraphrase"]
    assert (paraphrase.rows_in, paraphrase.rows_modified, paraphrase.rows_created) == (3, 3, 3)
    assert dict(paraphrase.counters) == {"requests": 3, "unchanged": 0}
    assert steps["acceptance"].rows_created == 3
    manifest = datasets.get_manifest(store, "reviews-para", version.version_id)
    new = {
        e.provenance.parent_ids[0]: e
        for e in datasets.iter_examples(store, manifest)
        if e.id not in {r.id for r in rows}
    }
    assert {p: (e.text, e.label, e.split, e.provenance.operation) for p, e in new.items()} == {
        "r0": ("In other words: great food and friendly staff", "pos", Split.TRAIN, "augment:paraphrase"),
        "r1": ("In other words: awful service, cold soup", "neg", Split.TRAIN, "augment:paraphrase"),
        "r2": ("In other words: the view alone is worth it", "pos", Split.TRAIN, "augment:paraphrase"),
    }


# --- the consistency filter against a served model -----------------------------------------------


@dataclass
class Consistency:
    """The augmentation service, and the inference service it asks, serving `models.ner`."""

    augment: Stub
    inference: Served
    store: ObjectStore
    dataset: refs_pb2.DatasetRef
    model: refs_pb2.ModelRef


@pytest.fixture
async def consistency(models: Models) -> AsyncIterator[Consistency]:
    async with served(models.settings) as inference:
        # the same bucket, with the inference service's address
        local = AugmentationSettings(**inference.settings.model_dump())
        server = FoundryServer(local, build(local))
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                store = ObjectStore.from_settings(local)
                dataset = models.ner.dataset  # the version the model was trained on
                yield Consistency(
                    pb_grpc.AugmentationServiceStub(channel),
                    inference,
                    store,
                    refs_pb2.DatasetRef(name=dataset["name"], version_id=dataset["version_id"]),
                    refs_pb2.ModelRef(name=models.ner.name, version_id=models.ner.version_id),
                )
        finally:
            await server.drain(0)


def mentions(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """The (first word, end word, type) of each IOB2 mention."""
    found: list[list[Any]] = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and found and found[-1][1] == i and found[-1][2] == tag[2:]:
            found[-1][1] = i + 1
        elif tag != "O":
            found.append([i, i + 1, tag[2:]])
    return {(s, e, t) for s, e, t in found}


async def predicted(service: Consistency, examples: Sequence[Example]) -> list[set[tuple[int, int, str]]]:
    """The entities the served model finds in each example's words, asked through Predict."""
    await service.inference.stub.LoadModel(inference_pb.LoadModelRequest(model=service.model))
    response = await service.inference.stub.Predict(
        inference_pb.PredictRequest(
            model=service.model,
            inputs=[
                inference_pb.PredictInput(id=e.id, tokens=inference_pb.TokenList(tokens=e.tokens or []))
                for e in examples
            ],
        )
    )
    assert [p.id for p in response.predictions] == [e.id for e in examples]
    return [{(n.token_start, n.token_end, n.type) for n in p.entities} for p in response.predictions]


def filtered_recipe(
    service: Consistency, operators: Sequence[recipe_pb2.OperatorStep], multiplier: int, **acceptance: Any
) -> recipe_pb2.Recipe:
    """A recipe whose consistency filter asks the served model (min_agreement: default 1.0)."""
    return recipe_pb2.Recipe(
        operators=operators,
        multiplier=multiplier,
        seed=5,
        acceptance=recipe_pb2.AcceptanceFilters(
            consistency=recipe_pb2.ConsistencyFilter(model=service.model), **acceptance
        ),
    )


async def augment_with_filter(
    service: Consistency,
    dataset: refs_pb2.DatasetRef,
    operators: Sequence[recipe_pb2.OperatorStep],
    output_name: str,
    multiplier: int = 2,
    **acceptance: Any,
) -> tuple[pb.AugmentResponse, list[Example], dict[str, Example]]:
    """Augment `dataset` with the consistency filter; the response, the new examples and the
    source examples by id."""
    recipe = filtered_recipe(service, operators, multiplier, **acceptance)
    response = await service.augment.Augment(
        pb.AugmentRequest(dataset=dataset, recipe=recipe, output_name=output_name)
    )
    manifest = datasets.get_manifest(service.store, output_name, response.dataset_version.version_id)
    source = datasets.get_manifest(service.store, dataset.name, dataset.version_id)
    parents = {e.id: e for e in datasets.iter_examples(service.store, source)}
    new = [e for e in datasets.iter_examples(service.store, manifest) if e.id not in parents]
    stored = manifest.statistics["augmentation"]["rejected_by_reason"].get("inconsistent", 0)
    assert stored == response.steps[-1].drop_reasons["inconsistent"]
    return response, new, parents


async def test_consistency_filter_drops_disagreeing_examples(consistency: Consistency) -> None:
    """Label-wise token replacement at full rate puts words in contexts the model never saw: the
    filter drops the new examples whose entities the model no longer finds, and keeps only those
    whose every mention (word span and type, from the parent) it predicts, as Predict confirms.
    What it dropped (shown by PreviewAugment) the model indeed labels differently."""
    operators = [step("label_wise_token_replacement", rate=1.0)]
    response, new, parents = await augment_with_filter(
        consistency, consistency.dataset, operators, "tiny-ner-aug"
    )
    acceptance = response.steps[-1]
    dropped = acceptance.drop_reasons["inconsistent"]
    assert dropped > 0 and len(new) == acceptance.rows_created > 0
    for example, found in zip(new, await predicted(consistency, new), strict=True):
        parent = parents[example.provenance.parent_ids[0]]
        assert [t[2:] for t in example.tags or [] if t.startswith("B-")] == [
            t[2:] for t in parent.tags or [] if t.startswith("B-")
        ]
        assert mentions(example.tags or []) <= found, (example.tokens, example.tags, found)

    preview = await consistency.augment.PreviewAugment(
        pb.PreviewAugmentRequest(
            dataset=consistency.dataset, recipe=filtered_recipe(consistency, operators, 2), limit=100
        )
    )
    rejected = [
        example_from_pb(r.example) for s in preview.results for r in s.rejected if r.reason == "inconsistent"
    ]
    assert len(rejected) == dropped  # the same recipe on the same (48 train) sources
    for example, found in zip(rejected, await predicted(consistency, rejected), strict=True):
        assert not mentions(example.tags or []) <= found, (example.tokens, example.tags, found)


#: accented spellings, which the model's tokenizer (BERT's, lower-casing) normalizes away
ACCENTED = str.maketrans("aeiou", "áéíóú")


async def test_consistency_filter_keeps_what_the_model_cannot_tell_apart(consistency: Consistency) -> None:
    """The model's tokenizer lower-cases and strips accents, so replacing context words by their
    accented spellings (a lexicon "synonym") changes the examples but not what the model sees.
    On the training examples the model has learnt (all their entities predicted), Predict gives
    every new example its parent's entities, and the filter keeps them all."""
    source = datasets.get_manifest(
        consistency.store, consistency.dataset.name, consistency.dataset.version_id
    )
    train = [e for e in datasets.iter_examples(consistency.store, source) if e.split is Split.TRAIN]
    distinct: dict[tuple[str, ...], Example] = {}  # (the synthetic sentences repeat)
    for example, found in zip(train, await predicted(consistency, train), strict=True):
        if mentions(example.tags or []) <= found:
            distinct.setdefault(tuple(example.tokens or []), example)
    learnt = list(distinct.values())
    assert len(learnt) >= len(train) // 2
    written = datasets.write_dataset_version(
        consistency.store, "tiny-ner-learnt", Task.TOKEN_CLASSIFICATION, learnt, label_set=["LOC", "PER"]
    )
    words = {t for e in learnt for t, g in zip(e.tokens or [], e.tags or [], strict=True) if g == "O"}
    lexicon = {w: [w.translate(ACCENTED)] for w in words if w.translate(ACCENTED) != w}
    consistency.store.put_bytes("lexicons/accented.json", json.dumps(lexicon).encode())
    operators = [
        step("synonym_replacement", source="lexicon", lexicon_key="lexicons/accented.json", rate=1.0)
    ]
    response, new, parents = await augment_with_filter(
        consistency,
        refs_pb2.DatasetRef(name=written.name, version_id=written.version_id),
        operators,
        "tiny-ner-accented",
        multiplier=1,
        drop_near_duplicates=False,
    )
    assert response.steps[-1].drop_reasons["inconsistent"] == 0
    assert len(new) == len(learnt)  # one new example for each
    mine = await predicted(consistency, new)
    theirs = await predicted(consistency, [parents[e.provenance.parent_ids[0]] for e in new])
    for example, found, parent_found in zip(new, mine, theirs, strict=True):
        assert example.tokens != parents[example.provenance.parent_ids[0]].tokens
        assert found == parent_found and mentions(example.tags or []) <= found


async def test_consistency_filter_with_a_model_it_cannot_use(consistency: Consistency) -> None:
    """A model the inference service cannot load, or one of another task: FAILED_PRECONDITION
    naming the filter's field and the model, and nothing stored; also when the recipe would make
    no new example to judge (probability 0), as the model is checked before any work."""
    before = datasets.list_datasets(consistency.store)
    cases = [
        (model, why, probability)
        for model, why in [("no-such-model", "NOT_FOUND"), ("tiny-cls", "TEXT_CLASSIFICATION model")]
        for probability in (1.0, 0.0)
    ]
    for model, why, probability in cases:
        recipe = recipe_pb2.Recipe(
            operators=[step("mention_replacement", probability, rate=1.0)],
            acceptance=recipe_pb2.AcceptanceFilters(
                consistency=recipe_pb2.ConsistencyFilter(model=refs_pb2.ModelRef(name=model))
            ),
        )
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await consistency.augment.Augment(
                pb.AugmentRequest(dataset=consistency.dataset, recipe=recipe, output_name="never-written")
            )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        details = err.value.details() or ""
        assert model in details and why in details and "recipe.acceptance.consistency.model" in details
        status = rpc_status.from_call(err.value)
        assert status is not None
        bad = error_details_pb2.BadRequest()
        assert any(d.Unpack(bad) for d in status.details if d.Is(bad.DESCRIPTOR))
        assert [v.field for v in bad.field_violations] == ["recipe.acceptance.consistency.model"]
    assert datasets.list_datasets(consistency.store) == before


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
