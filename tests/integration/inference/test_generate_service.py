"""Chat models in the running inference service (`__main__.wire`, served by `FoundryServer`) on
a real chat model version made by the training worker: LoadModel / ListModels / UnloadModel,
`Generate` streaming tokens with the chat template applied server-side, stop sequences,
deadlines, errors with their fields, and Predict / ModelInfer refusing a chat model."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from chat_models import CHAT, NAME, ChatModels
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.console import Console
from served import Served, served
from transformers import AutoTokenizer

from foundry.api.common.v1 import example_pb2, model_pb2, refs_pb2, task_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.api.inference.v2 import grpc_predict_v2_pb2 as oip_pb
from foundry.api.inference.v2 import grpc_predict_v2_pb2_grpc as oip_grpc
from foundry.cli import generate as cli_generate
from foundry.domain.bundle import Variant
from foundry.domain.causallm import CausalSession
from foundry.inference.core import InferenceCore
from foundry.inference.generation import ChatTokenizer, GenerationRequest, ModelSelector
from foundry.inference.generation.bundle import fetch_chat_bundle
from foundry.runtime.errors import FailedPreconditionError, UnimplementedError
from foundry.runtime.examples import ChatMessage
from foundry.runtime.objectstore import ObjectStore

ROWS = [json.loads(line) for line in CHAT.read_text("utf-8").splitlines()]


@dataclass(frozen=True)
class Reference:
    """The version's ONNX graph and tokenizer, fetched apart from the service: what it must match."""

    folder: Path
    tokenizer: ChatTokenizer
    session: CausalSession

    def greedy(self, messages: list[dict[str, str]], max_new_tokens: int) -> tuple[list[int], list[int]]:
        prompt = self.tokenizer.encode_messages([ChatMessage(m["role"], m["content"]) for m in messages])
        tokens, _ = self.session.greedy(prompt, max_new_tokens, sorted(self.tokenizer.eos_ids))
        return prompt, tokens


@pytest.fixture(scope="module")
def reference(chat_models: ChatModels, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    store = ObjectStore.from_settings(chat_models.settings)
    bundle = fetch_chat_bundle(
        store, NAME, chat_models.version.version_id, Variant.FP32, tmp_path_factory.mktemp("reference")
    )
    return Reference(bundle.folder, ChatTokenizer.from_folder(bundle.folder), CausalSession(bundle.onnx_path))


@pytest.fixture
async def service(chat_models: ChatModels) -> AsyncIterator[Served]:
    """The running service with the chat version loaded through LoadModel."""
    async with served(chat_models.settings) as service:
        await service.stub.LoadModel(pb.LoadModelRequest(model=ref()))
        yield service


def ref(version_id: str = "") -> refs_pb2.ModelRef:
    return refs_pb2.ModelRef(name=NAME, version_id=version_id)


def request(messages: list[dict[str, str]], **config: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        model=ref(),
        messages=[example_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in messages],
        config=pb.GenerationConfig(**config),  # type: ignore[arg-type]
    )


def violations(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            info = error_details_pb2.BadRequest()
            detail.Unpack(info)
            fields += [v.field for v in info.field_violations]
    return fields


def reason(err: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(err)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return str(info.reason)
    return ""


async def test_a_worker_made_chat_version_loads_generates_and_unloads(
    chat_models: ChatModels, reference: Reference
) -> None:
    version_id = chat_models.version.version_id
    async with served(chat_models.settings) as service:
        assert await service.health_of(f"model/{NAME}") == "NOT_FOUND"
        with pytest.raises(grpc.aio.AioRpcError) as bad_options:
            await service.stub.LoadModel(
                pb.LoadModelRequest(model=ref(), options=pb.LoadOptions(max_queue_size=4))
            )
        assert bad_options.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert violations(bad_options.value) == ["options.max_queue_size"]
        loaded = (await service.stub.LoadModel(pb.LoadModelRequest(model=ref()))).loaded_model
        assert loaded.state == pb.MODEL_STATE_READY and loaded.task == task_pb2.TASK_CHAT
        assert loaded.model.version_id == version_id and loaded.provider == "CPUExecutionProvider"
        assert loaded.variant == model_pb2.MODEL_VARIANT_FP32 and loaded.loaded_at.seconds > 0
        assert loaded.options.max_batch_size == chat_models.settings.generate_max_batch_size
        assert not loaded.options.HasField("max_queue_size") and not loaded.id_to_label
        assert await service.health_of(f"model/{NAME}") == "SERVING"
        assert await service.health_of(f"model/{NAME}@{version_id}:fp32") == "SERVING"
        (listed,) = (await service.stub.ListModels(pb.ListModelsRequest())).loaded_models
        assert (listed.model.name, listed.task, listed.state) == (
            NAME,
            task_pb2.TASK_CHAT,
            pb.MODEL_STATE_READY,
        )

        messages = ROWS[3]["messages"][:-1]
        responses = [r async for r in service.stub.Generate(request(messages, max_new_tokens=12))]
        _, expected = reference.greedy(messages, 12)
        assert [t for r in responses for t in r.token_ids] == expected
        assert responses[0].model.version_id == responses[-1].model.version_id == version_id

        with pytest.raises(grpc.aio.AioRpcError) as predict:
            await service.stub.Predict(pb.PredictRequest(model=ref(), inputs=[pb.PredictInput(text="hello")]))
        assert predict.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert reason(predict.value) == "TASK_NOT_SERVED" and "Generate" in (predict.value.details() or "")
        oip = oip_grpc.GRPCInferenceServiceStub(service.channel)
        assert not (await oip.ModelReady(oip_pb.ModelReadyRequest(name=NAME))).ready
        tensor = oip_pb.ModelInferRequest.InferInputTensor
        infer = oip_pb.ModelInferRequest(
            model_name=NAME,
            inputs=[
                tensor(
                    name=n,
                    datatype="INT64",
                    shape=[1, 2],
                    contents=oip_pb.InferTensorContents(int64_contents=[1, 2]),
                )
                for n in ("input_ids", "attention_mask")
            ],
        )
        with pytest.raises(grpc.aio.AioRpcError) as model_infer:
            await oip.ModelInfer(infer)
        assert model_infer.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert reason(model_infer.value) == "TASK_NOT_SERVED"

        unloaded = await service.stub.UnloadModel(pb.UnloadModelRequest(model=ref(version_id)))
        assert [m.task for m in unloaded.unloaded_models] == [task_pb2.TASK_CHAT]
        assert not (await service.stub.ListModels(pb.ListModelsRequest())).loaded_models
        assert await service.health_of(f"model/{NAME}") == "NOT_SERVING"
        assert not service.core.generation.loaded()  # type: ignore[union-attr]
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            async for _ in service.stub.Generate(request(messages, max_new_tokens=3)):
                pass
        assert gone.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_without_a_generation_backend_chat_versions_are_refused(chat_models: ChatModels) -> None:
    core = InferenceCore(chat_models.settings, ObjectStore.from_settings(chat_models.settings))
    with pytest.raises(FailedPreconditionError) as refused:
        await core.load_model(NAME)
    assert refused.value.reason == "NO_GENERATION_BACKEND" and not core.list_models()
    with pytest.raises(UnimplementedError):
        core.generate(ModelSelector(NAME), GenerationRequest(prompt="hi"))


async def test_generate_streams_the_greedy_reply_to_a_conversation(
    service: Served, chat_models: ChatModels, reference: Reference
) -> None:
    messages = ROWS[3]["messages"][:-1]
    responses = [r async for r in service.stub.Generate(request(messages, max_new_tokens=20))]
    prompt, expected = reference.greedy(messages, 20)
    assert [t for r in responses for t in r.token_ids] == expected
    # the server's chat template is the one the model was trained with, as transformers renders it
    trained = AutoTokenizer.from_pretrained(reference.folder, local_files_only=True)
    rendered = trained.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == trained(rendered, add_special_tokens=False)["input_ids"]
    assert len(responses) == len(expected) > 1
    first, last = responses[0], responses[-1]
    assert first.model.version_id == last.model.version_id == chat_models.version.version_id
    assert all(r.finish_reason == pb.FINISH_REASON_UNSPECIFIED for r in responses[:-1])
    assert last.finish_reason in (pb.FINISH_REASON_MAX_NEW_TOKENS, pb.FINISH_REASON_END_OF_SEQUENCE)
    assert last.usage.prompt_tokens == len(prompt) and last.usage.completion_tokens == len(expected)
    text = "".join(r.text_delta for r in responses)
    assert text == reference.tokenizer.tokenizer.decode(expected, skip_special_tokens=True)


async def test_generate_stops_before_a_stop_sequence(service: Served) -> None:
    messages = ROWS[0]["messages"][:-1]
    full = "".join([r.text_delta async for r in service.stub.Generate(request(messages, max_new_tokens=30))])
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    responses = [r async for r in service.stub.Generate(request(messages, max_new_tokens=30, stop=[stop]))]
    assert "".join(r.text_delta for r in responses) == full[: full.index(stop)]
    assert responses[-1].finish_reason == pb.FINISH_REASON_STOP_SEQUENCE
    assert responses[-1].stop_sequence == stop


async def test_deadline_and_errors_get_their_status_codes(service: Served) -> None:
    messages = ROWS[1]["messages"][:-1]
    with pytest.raises(grpc.aio.AioRpcError) as late:
        async for _ in service.stub.Generate(request(messages, max_new_tokens=200), timeout=0.001):
            pass
    assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        async for _ in service.stub.Generate(request(messages, do_sample=True, temperature=0.0)):
            pass
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(bad.value) == ["config.temperature"]

    unknown = pb.GenerateRequest(model=refs_pb2.ModelRef(name="not-loaded"), prompt="hi")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        async for _ in service.stub.Generate(unknown):
            pass
    assert missing.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    # the service still answers
    ok = [r async for r in service.stub.Generate(request(messages, max_new_tokens=3))]
    assert ok[-1].usage.completion_tokens >= 1


async def test_cli_streams_a_reply_and_keeps_the_conversation(service: Served) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200)
    decoding = cli_generate.Decoding(max_new_tokens=8, temperature=0.8, seed=5)
    question = ROWS[2]["messages"][0]["content"]

    def ask() -> str:
        return cli_generate.print_stream(
            console,
            cli_generate.stream(service.settings, NAME, decoding, messages=[("user", question)]),
        )

    reply = await asyncio.to_thread(ask)
    assert reply == await asyncio.to_thread(ask)  # same seed, same reply
    assert reply and reply in out.getvalue() and "8 tokens (max new tokens)" in out.getvalue()
