"""The inference service over gRPC on real model versions: load, list, Predict (raw and
pre-tokenized, CJK and emoji offsets, long inputs), batching, deadlines, a full queue, bad input,
unload, and the Open Inference Protocol through the real `tritonclient`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from inference_models import Models
from served import Served, served

from foundry.api.common.v1 import model_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.api.inference.v2 import grpc_predict_v2_pb2 as oip_pb
from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc as oip_grpc
from foundry.domain.bundle import Variant
from foundry.inference.core import InferenceCore
from foundry.inference.registry import ModelKey
from foundry.runtime.objectstore import ObjectStore

Service = Served


@pytest.fixture
async def service(models: Models) -> AsyncIterator[Service]:
    """The running service (`__main__.wire`) with no model loaded."""
    async with served(models.settings) as service:
        yield service


def ref(name: str, version_id: str = "") -> refs_pb2.ModelRef:
    return refs_pb2.ModelRef(name=name, version_id=version_id)


async def load(
    service: Service,
    name: str,
    variant: model_pb2.ModelVariant.ValueType = model_pb2.MODEL_VARIANT_FP32,
    **options: int,
) -> pb.LoadedModel:
    response = await service.stub.LoadModel(
        pb.LoadModelRequest(model=ref(name), variant=variant, options=pb.LoadOptions(**options))
    )
    return response.loaded_model


def text_input(text: str, id: str = "") -> pb.PredictInput:
    return pb.PredictInput(id=id, text=text)


def words_input(words: list[str], id: str = "") -> pb.PredictInput:
    return pb.PredictInput(id=id, tokens=pb.TokenList(tokens=words))


def violations(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    return fields


async def test_load_list_and_predict_entities_with_offsets_into_the_callers_text(
    service: Service, models: Models
) -> None:
    fp32 = await load(service, "tiny-ner")
    int8 = await load(service, "tiny-ner", model_pb2.MODEL_VARIANT_INT8)
    cls = await load(service, "tiny-cls")
    assert fp32.state == int8.state == cls.state == pb.MODEL_STATE_READY
    assert fp32.model.version_id == models.ner.version_id and fp32.provider == "CPUExecutionProvider"
    assert list(fp32.id_to_label) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert (fp32.oip_model_name, int8.oip_model_name) == ("tiny-ner", "tiny-ner:int8")
    again = await load(service, "tiny-ner")  # already loaded: same entry
    assert again.loaded_at == fp32.loaded_at
    listed = (await service.stub.ListModels(pb.ListModelsRequest())).loaded_models
    assert sorted((m.model.name, m.variant) for m in listed) == [
        ("tiny-cls", model_pb2.MODEL_VARIANT_FP32),
        ("tiny-ner", model_pb2.MODEL_VARIANT_FP32),
        ("tiny-ner", model_pb2.MODEL_VARIANT_INT8),
    ]

    texts = [
        "Alice lives in Paris",
        "😀 Alice flew to Rome yesterday 🎉",
        "we met  Carol\tin New York",
        "北京 is where Dave works 🎉",
    ]
    words = [["grace", "lives", "in", "san", "diego"], ["😀", "erin", "flew", "to", "北京"]]
    response = await service.stub.Predict(
        pb.PredictRequest(
            model=ref("tiny-ner"),
            inputs=[text_input(t, f"t{i}") for i, t in enumerate(texts)]
            + [words_input(w, f"w{i}") for i, w in enumerate(words)],
        )
    )
    assert response.model.version_id == models.ner.version_id
    assert response.variant == model_pb2.MODEL_VARIANT_FP32
    assert [p.id for p in response.predictions] == ["t0", "t1", "t2", "t3", "w0", "w1"]
    originals = texts + [" ".join(w) for w in words]  # pre-tokenized: the words, one space apart
    spans = [{(e.type, e.text, e.start, e.end) for e in p.entities} for p in response.predictions]
    for prediction, text in zip(response.predictions, originals, strict=True):
        assert prediction.windows == 1
        for entity in prediction.entities:  # offsets are code points into the caller's text
            assert text[entity.start : entity.end] == entity.text and entity.text.strip() == entity.text
            assert entity.type in ("LOC", "PER") and 0 < entity.score <= 1
    for prediction, w in zip(response.predictions[4:], words, strict=True):
        for entity in prediction.entities:  # and word indices into the caller's words
            assert " ".join(w[entity.token_start : entity.token_end]) == entity.text
    # For each input, an entity the model finds, at its exact code-point span: after CJK characters
    # or an emoji (one code point each, though 3 or 4 UTF-8 bytes; an emoji is 2 UTF-16 units),
    # after two spaces and a tab, and a CJK entity itself.
    assert ("PER", "Alice", 0, 5) in spans[0] and ("LOC", "Paris", 15, 20) in spans[0]
    assert ("LOC", "Rome", 16, 20) in spans[1]  # "😀 Alice flew to Rome yesterday 🎉"
    assert ("PER", "Carol", 8, 13) in spans[2]  # "we met  Carol\tin New York"
    assert ("PER", "Dave", 12, 16) in spans[3]  # "北京 is where Dave works 🎉"
    per_word = response.predictions[4]
    assert ("LOC", "san diego", 3, 5) in {
        (e.type, e.text, e.token_start, e.token_end) for e in per_word.entities
    }
    assert ("LOC", "北京", 15, 17) in spans[5]  # "😀 erin flew to 北京"
    assert {(e.text, e.token_start, e.token_end) for e in response.predictions[5].entities} >= {
        ("北京", 4, 5)
    }


async def test_long_inputs_are_read_in_windows_never_cut(service: Service) -> None:
    await load(service, "tiny-ner")
    await load(service, "tiny-cls")
    sentence = ["alice", "lives", "in", "paris", "and", "bob", "flew", "to", "rome"]
    long_words = sentence * 8  # 72 words, the model reads 32 tokens at a time
    text = " ".join(long_words)
    ner = await service.stub.Predict(
        pb.PredictRequest(model=ref("tiny-ner"), inputs=[text_input(text), words_input(long_words)])
    )
    for prediction in ner.predictions:
        assert prediction.windows > 2
        assert [e.token_start for e in prediction.entities] == sorted(
            e.token_start for e in prediction.entities
        )
        for entity in prediction.entities:
            assert text[entity.start : entity.end] == entity.text
        # entities are found all along the text, up to its last words
        assert max(e.end for e in prediction.entities) > len(text) - 10
    cls = await service.stub.Predict(
        pb.PredictRequest(model=ref("tiny-cls"), inputs=[text_input("great movie loved it " * 20)], top_k=2)
    )
    (prediction,) = cls.predictions
    assert prediction.windows > 1
    assert [s.label for s in prediction.distribution] == ["neg", "pos"]
    assert sum(s.score for s in prediction.distribution) == pytest.approx(1.0, abs=1e-5)
    assert [s.label for s in prediction.top_k] == ["pos", "neg"]


async def test_concurrent_requests_batch_and_match_one_by_one_calls(service: Service) -> None:
    await load(service, "tiny-ner", max_batch_size=16, max_queue_delay_ms=20)
    texts = [
        f"{p} flew to {place} yesterday"
        for p in ("alice", "bob", "carol", "dave")
        for place in ("paris", "new york", "北京 😀", "oslo")
    ]

    def request(text: str) -> pb.PredictRequest:
        return pb.PredictRequest(
            model=ref("tiny-ner"), inputs=[text_input(text)], aggregation=pb.SUBWORD_AGGREGATION_AVERAGE
        )

    alone = [await service.stub.Predict(request(t)) for t in texts]
    batcher = service.core.registry.ready("tiny-ner").serving()[3]  # type: ignore[union-attr]
    before = batcher.stats.batches
    together = await asyncio.gather(*(service.stub.Predict(request(t)) for t in texts))
    assert batcher.stats.largest_batch > 1 and batcher.stats.batches - before < len(texts)
    for a, b in zip(alone, together, strict=True):
        ea, eb = a.predictions[0].entities, b.predictions[0].entities
        assert [(e.type, e.start, e.end) for e in ea] == [(e.type, e.start, e.end) for e in eb]
        assert [e.score for e in ea] == pytest.approx([e.score for e in eb], abs=1e-5)


async def test_a_deadline_passed_in_the_queue_fails_alone_and_a_full_queue_is_refused(
    service: Service,
) -> None:
    await load(service, "tiny-cls", max_batch_size=64, max_queue_delay_ms=1500, max_queue_size=2)
    request = pb.PredictRequest(model=ref("tiny-cls"), inputs=[text_input("great movie")])
    patient = asyncio.ensure_future(service.stub.Predict(request))
    hasty = asyncio.ensure_future(service.stub.Predict(request, timeout=0.3))
    await asyncio.sleep(0.1)
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await service.stub.Predict(request)  # two requests wait: the third is refused
    assert full.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await hasty
    assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    served = await patient  # the batch it waited in was not poisoned
    assert [s.label for s in served.predictions[0].distribution] == ["neg", "pos"]


async def test_bad_input_gets_clear_codes_while_others_are_served(service: Service, models: Models) -> None:
    await load(service, "tiny-ner", max_queue_delay_ms=200)
    good = asyncio.ensure_future(
        service.stub.Predict(
            pb.PredictRequest(model=ref("tiny-ner"), inputs=[text_input("alice lives in rome")])
        )
    )

    async def refused(request: pb.PredictRequest) -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await service.stub.Predict(request)
        return err.value

    empty = await refused(
        pb.PredictRequest(model=ref("tiny-ner"), inputs=[text_input("ok"), text_input("  ")])
    )
    assert empty.code() is grpc.StatusCode.INVALID_ARGUMENT and violations(empty) == ["inputs[1].text"]
    huge = await refused(pb.PredictRequest(model=ref("tiny-ner"), inputs=[text_input("a" * 100_001)]))
    assert huge.code() is grpc.StatusCode.INVALID_ARGUMENT and violations(huge) == ["inputs[0].text"]
    word = await refused(pb.PredictRequest(model=ref("tiny-ner"), inputs=[words_input(["a", ""])]))
    assert violations(word) == ["inputs[0].tokens.tokens[1]"]
    unknown = await refused(pb.PredictRequest(model=ref("no-such-model"), inputs=[text_input("x")]))
    assert unknown.code() is grpc.StatusCode.NOT_FOUND
    not_loaded = await refused(pb.PredictRequest(model=ref("tiny-cls"), inputs=[text_input("x")]))
    assert not_loaded.code() is grpc.StatusCode.FAILED_PRECONDITION
    bad_version = await refused(pb.PredictRequest(model=ref("tiny-ner", "abc"), inputs=[text_input("x")]))
    assert violations(bad_version) == ["model.version_id"]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await service.stub.LoadModel(pb.LoadModelRequest(model=ref("tiny-ner", "0" * 64)))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND

    # invalid UTF-8 in a text and in a word, sent as raw bytes (protobuf clients refuse to)
    raw = pb.PredictRequest(
        model=ref("tiny-ner"), inputs=[text_input("fine"), text_input("bad XX"), words_input(["ok", "YY"])]
    ).SerializeToString()
    raw = raw.replace(b"XX", b"\xff\xfe").replace(b"YY", b"\xc3(")
    predict: grpc.aio.UnaryUnaryMultiCallable[bytes, pb.PredictResponse] = service.channel.unary_unary(
        "/foundry.inference.v1.InferenceService/Predict", response_deserializer=pb.PredictResponse.FromString
    )
    with pytest.raises(grpc.aio.AioRpcError) as utf8:
        await predict(raw)
    assert utf8.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(utf8.value) == ["inputs[1].text", "inputs[2].tokens.tokens[1]"]

    served = await good
    assert served.predictions[0].entities


async def test_unload_then_predict_is_refused_and_generate_refuses_an_encoder_model(
    service: Service, models: Models
) -> None:
    await load(service, "tiny-ner")
    await load(service, "tiny-ner", model_pb2.MODEL_VARIANT_INT8)
    with pytest.raises(grpc.aio.AioRpcError) as gen:
        async for _ in service.stub.Generate(pb.GenerateRequest(model=ref("tiny-ner"), prompt="hi")):
            pass
    assert gen.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "Generate serves chat models" in (gen.value.details() or "")
    response = await service.stub.Predict(
        pb.PredictRequest(
            model=ref("tiny-ner"), variant=model_pb2.MODEL_VARIANT_INT8, inputs=[text_input("bob in oslo")]
        )
    )
    assert response.variant == model_pb2.MODEL_VARIANT_INT8
    unloaded = await service.stub.UnloadModel(
        pb.UnloadModelRequest(model=ref("tiny-ner", models.ner.version_id))
    )
    assert len(unloaded.unloaded_models) == 2
    assert not (await service.stub.ListModels(pb.ListModelsRequest())).loaded_models
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await service.stub.Predict(pb.PredictRequest(model=ref("tiny-ner"), inputs=[text_input("x")]))
    assert gone.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_tritonclient_model_infer_returns_the_logits_of_predicts_model(
    service: Service, models: Models
) -> None:
    await load(service, "tiny-ner")
    entry = service.core.registry.ready("tiny-ner")
    assert entry is not None
    _, model, encoder, batcher = entry.serving()
    encoded = encoder.text("alice flew to 北京 yesterday")
    ids = encoded.windows[0].ids[None, :]
    mask = np.ones_like(ids)
    # what Predict's path computes for this sentence
    (predict_logits,) = await batcher.submit([encoded.windows[0].ids])

    def call_triton() -> tuple[np.ndarray, bool, bool, dict[str, object]]:
        client = triton.InferenceServerClient(f"127.0.0.1:{service.port}")
        try:
            inputs = [
                triton.InferInput("input_ids", list(ids.shape), "INT64"),
                triton.InferInput("attention_mask", list(ids.shape), "INT64"),
            ]
            inputs[0].set_data_from_numpy(ids)
            inputs[1].set_data_from_numpy(mask)
            result = client.infer("tiny-ner", inputs, outputs=[triton.InferRequestedOutput("logits")])
            metadata = client.get_model_metadata("tiny-ner", as_json=True)
            return (
                result.as_numpy("logits"),
                client.is_server_live(),
                client.is_model_ready("tiny-ner"),
                metadata,
            )
        finally:
            client.close()

    logits, live, ready, metadata = await asyncio.to_thread(call_triton)
    assert live and ready
    assert metadata["versions"] == [models.ner.version_id]
    assert logits.shape == (1, ids.shape[1], 5) and logits.dtype == np.float32
    np.testing.assert_array_equal(logits, model.run(ids, mask))
    np.testing.assert_allclose(logits[0], predict_logits, atol=1e-5)

    def bad_call(dtype: str, shape: list[int]) -> str:
        client = triton.InferenceServerClient(f"127.0.0.1:{service.port}")
        try:
            wrong = triton.InferInput("input_ids", shape, dtype)
            wrong.set_data_from_numpy(np.ones(shape, np.int32 if dtype == "INT32" else np.int64))
            good = triton.InferInput("attention_mask", list(ids.shape), "INT64")
            good.set_data_from_numpy(mask)
            with pytest.raises(triton.InferenceServerException) as err:
                client.infer("tiny-ner", [wrong, good])
            return str(err.value.status())
        finally:
            client.close()

    assert "INVALID_ARGUMENT" in await asyncio.to_thread(bad_call, "INT32", list(ids.shape))
    assert "INVALID_ARGUMENT" in await asyncio.to_thread(bad_call, "INT64", [1, 2, 3])
    assert "NOT_FOUND" in await asyncio.to_thread(lambda: _status_of_unknown(service.port))


T = TypeVar("T")


class AnnouncingExecutor(ThreadPoolExecutor):
    """A thread pool that sets `submitted` (an asyncio event) when work is handed to it."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers)
        self.submitted = asyncio.Event()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        self.submitted.set()  # (called on the event loop's thread, by run_in_executor)
        return super().submit(fn, *args, **kwargs)


def model_infer_request(ids: np.ndarray) -> oip_pb.ModelInferRequest:
    tensors = [
        oip_pb.ModelInferRequest.InferInputTensor(name=name, datatype="INT64", shape=list(ids.shape))
        for name in ("input_ids", "attention_mask")
    ]
    raw = [ids.astype("<i8").tobytes(), np.ones_like(ids).astype("<i8").tobytes()]
    return oip_pb.ModelInferRequest(model_name="tiny-cls", inputs=tensors, raw_input_contents=raw)


async def test_model_infer_beyond_the_models_queue_size_is_refused(service: Service) -> None:
    """ModelInfer is bounded by the model's max_queue_size like Predict: with one request in
    flight (held waiting for the only worker thread) and max_queue_size 1, the next is
    RESOURCE_EXHAUSTED at once; the held one is then answered, and so is the next one."""
    await load(service, "tiny-cls", max_queue_size=1)
    entry = service.core.registry.ready("tiny-cls")
    assert entry is not None
    limit = service.core.tensor_limits[entry.key]
    _, model, encoder, _ = entry.serving()
    ids = encoder.sequence("great movie loved it").windows[0].ids[None, :]
    stub = oip_grpc.GRPCInferenceServiceStub(service.channel)
    loop = asyncio.get_running_loop()
    executor = AnnouncingExecutor(max_workers=1)
    loop.set_default_executor(executor)  # this test's loop only
    gate = threading.Event()
    blocker = loop.run_in_executor(None, gate.wait)  # the only worker thread is busy
    try:
        executor.submitted.clear()
        held = asyncio.ensure_future(stub.ModelInfer(model_infer_request(ids)))
        # (the timeouts guard against a hang; nothing depends on them)
        await asyncio.wait_for(executor.submitted.wait(), 60)  # the held one waits for the thread
        assert limit.in_flight == 1
        with pytest.raises(grpc.aio.AioRpcError) as full:
            await stub.ModelInfer(model_infer_request(ids), timeout=60)
        assert full.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "queue is full" in (full.value.details() or "") and limit.rejected == 1
    finally:
        gate.set()
        await blocker
    expected = model.run(ids, np.ones_like(ids))
    for response in (await held, await stub.ModelInfer(model_infer_request(ids))):
        logits = np.frombuffer(response.raw_output_contents[0], "<f4").reshape(expected.shape)
        np.testing.assert_array_equal(logits, expected)
    assert limit.in_flight == 0 and limit.rejected == 1


def _status_of_unknown(port: int) -> str:
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        with pytest.raises(triton.InferenceServerException) as err:
            client.get_model_metadata("no-such-model")
        return str(err.value.status())
    finally:
        client.close()


async def test_readiness_of_each_model_is_reported(models: Models) -> None:
    seen: dict[str, bool] = {}

    async def record(name: str, ready: bool) -> None:
        seen[name] = ready

    core = InferenceCore(models.settings, ObjectStore.from_settings(models.settings), record)
    entry = await core.load_model("tiny-ner", variant=Variant.INT8)
    key = ModelKey("tiny-ner", models.ner.version_id, Variant.INT8)
    assert entry.key == key and seen == {key.health_name: True, "model/tiny-ner": True}
    await core.unload_model("tiny-ner", models.ner.version_id, None)
    assert seen == {key.health_name: False, "model/tiny-ner": False}


async def test_each_models_readiness_is_on_the_health_service(service: Service, models: Models) -> None:
    version = models.cls.version_id
    assert await service.health_of("model/tiny-cls") == "NOT_FOUND"
    assert await service.health_of("") == "SERVING"  # the service itself
    await load(service, "tiny-cls")
    assert await service.health_of("model/tiny-cls") == "SERVING"
    assert await service.health_of(f"model/tiny-cls@{version}:fp32") == "SERVING"
    await load(service, "tiny-cls", model_pb2.MODEL_VARIANT_INT8)
    await service.stub.UnloadModel(
        pb.UnloadModelRequest(model=ref("tiny-cls", version), variant=model_pb2.MODEL_VARIANT_FP32)
    )
    assert await service.health_of(f"model/tiny-cls@{version}:fp32") == "NOT_SERVING"
    assert await service.health_of(f"model/tiny-cls@{version}:int8") == "SERVING"
    assert await service.health_of("model/tiny-cls") == "SERVING"  # the int8 variant still serves
    await service.stub.UnloadModel(pb.UnloadModelRequest(model=ref("tiny-cls", version)))
    assert await service.health_of("model/tiny-cls") == "NOT_SERVING"
    assert await service.health_of(f"model/tiny-cls@{version}:int8") == "NOT_SERVING"


@pytest.mark.usefixtures("wide_console")
async def test_cli_predict_models_load_and_the_demo_stage(
    service: Service, models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from foundry.cli import main
    from foundry.cli.infer import run_demo_stage

    app = main.app
    address = f"127.0.0.1:{service.port}"
    monkeypatch.setenv("FOUNDRY_INFERENCE_ADDRESS", address)
    runner = CliRunner()
    loaded = await asyncio.to_thread(runner.invoke, app, ["models", "load", "tiny-ner", "--int8"])
    assert loaded.exit_code == 0, loaded.output
    assert "tiny-ner" in loaded.output and "int8" in loaded.output
    predicted = await asyncio.to_thread(runner.invoke, app, ["predict", "tiny-ner", "alice lives in paris"])
    assert predicted.exit_code == 0, predicted.output
    assert "PER" in predicted.output and "'alice' [0:5]" in predicted.output

    console = Console(record=True, width=160)
    settings = models.settings.model_copy(update={"inference_address": address})
    await asyncio.to_thread(run_demo_stage, settings, console, "tiny-ner", models.ner.version_id)
    text = console.export_text()
    assert f"loaded tiny-ner@{models.ner.version_id[:12]} (fp32)" in text
    assert "Predict latency over 30 calls" in text and "p99" in text


async def test_a_corrupted_cache_file_is_fetched_again(models: Models) -> None:
    core = InferenceCore(models.settings, ObjectStore.from_settings(models.settings))
    await core.load_model("tiny-ner", models.ner.version_id, Variant.INT8)
    cached = core.cache_dir / "tiny-ner" / models.ner.version_id / "hf" / "tokenizer.json"
    original = cached.read_bytes()
    cached.write_bytes(b'{"tampered": true}')
    await core.unload_model("tiny-ner", models.ner.version_id, None)
    entry = await core.load_model("tiny-ner", models.ner.version_id, Variant.INT8)
    assert cached.read_bytes() == original and entry.encoder is not None
    await core.close()
