"""`Generate` over gRPC on a chat model version stored in a real S3 server: streamed tokens,
the chat template applied server-side, stop sequences, deadlines, errors with their fields."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from rich.console import Console
from transformers import AutoModelForCausalLM

from foundry.api.common.v1 import example_pb2, refs_pb2
from foundry.api.inference.v1 import inference_service_pb2 as pb
from foundry.api.inference.v1 import inference_service_pb2_grpc as pb_grpc
from foundry.cli import generate as cli_generate
from foundry.inference.core import InferenceCore
from foundry.inference.generation import CausalSession, ChatTokenizer, GenerationBackend
from foundry.inference.servicer import InferenceServicer, add_to_server
from foundry.runtime.examples import ChatMessage
from foundry.runtime.hashing import file_sha256
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer, ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings
from foundry.training.export.causal import export_causal_lm
from foundry.training.modelversions import (
    PROMOTED,
    ModelArtifact,
    ModelVersion,
    artifact_key,
    compute_model_version_id,
    write_model_version,
)
from foundry.training.testing import tiny_causal_lm

if TYPE_CHECKING:
    Stub = pb_grpc.InferenceServiceAsyncStub
else:
    Stub = pb_grpc.InferenceServiceStub

CHAT = Path(__file__).parents[2] / "fixtures" / "chat" / "wnut17_chat.jsonl"
ROWS = [json.loads(line) for line in CHAT.read_text("utf-8").splitlines()]
HF_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "generation_config.json",
    "config.json",
)


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [m["content"] for row in ROWS for m in row["messages"]]
    folder = tiny_causal_lm(tmp_path_factory.mktemp("chat") / "hf", texts, arch="gpt2", seed=2)
    export_causal_lm(AutoModelForCausalLM.from_pretrained(folder), folder / "onnx", int8=False)
    return folder


def store_chat_version(store: ObjectStore, folder: Path, name: str) -> ModelVersion:
    files = {f"hf/{f}": folder / f for f in HF_FILES} | {"onnx/model.onnx": folder / "onnx" / "model.onnx"}
    hashed = {path: (file_sha256(local), local.stat().st_size) for path, local in files.items()}
    dataset = {"name": "chat", "version_id": "0" * 64}
    provisional = [ModelArtifact("", p, "", sha, size) for p, (sha, size) in hashed.items()]
    version_id = compute_model_version_id(provisional, {}, dataset)
    artifacts = []
    for path, local in files.items():
        key = artifact_key(name, version_id, path)
        store.put_file(key, local)
        artifacts.append(ModelArtifact("other", path, key, *hashed[path]))
    version = ModelVersion(
        name, version_id, "chat", [], {}, dataset, {}, "job", {}, None, artifacts, PROMOTED
    )
    return write_model_version(store, version)


@dataclass
class Service:
    stub: Stub
    settings: Settings
    backend: GenerationBackend
    version: ModelVersion
    tokenizer: ChatTokenizer
    session: CausalSession


@pytest.fixture
async def service(settings: Settings, store: ObjectStore, chat_model: Path) -> AsyncIterator[Service]:
    settings = settings.model_copy(update={"grpc_port": 0, "metrics_port": 0, "log_json": False})
    version = store_chat_version(store, chat_model, "tiny-chat")
    core = InferenceCore(settings, store)
    backend = GenerationBackend(store, settings.home_dir / "models", max_batch_size=4)
    await backend.load("tiny-chat")  # fetched from the store, every file sha256-verified

    def register(server: grpc.aio.Server) -> None:
        add_to_server(InferenceServicer(core, backend), server)

    async def shutdown() -> None:
        await backend.close()
        await core.close()

    server = FoundryServer(
        settings, ServiceDefinition(ServiceName.INFERENCE, register, (), shutdown=shutdown)
    )
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield Service(
            pb_grpc.InferenceServiceStub(channel),
            settings.model_copy(update={"inference_address": f"127.0.0.1:{server.port}"}),
            backend,
            version,
            ChatTokenizer.from_folder(chat_model),
            CausalSession(chat_model / "onnx" / "model.onnx"),
        )
    await server.drain(0)


def request(messages: list[dict[str, str]], **config: object) -> pb.GenerateRequest:
    return pb.GenerateRequest(
        model=refs_pb2.ModelRef(name="tiny-chat"),
        messages=[example_pb2.ChatMessage(role=m["role"], content=m["content"]) for m in messages],
        config=pb.GenerationConfig(**config),  # type: ignore[arg-type]
    )


async def test_generate_streams_the_greedy_reply_to_a_conversation(service: Service) -> None:
    messages = ROWS[3]["messages"][:-1]
    responses = [r async for r in service.stub.Generate(request(messages, max_new_tokens=20))]
    prompt = service.tokenizer.encode_messages([ChatMessage(m["role"], m["content"]) for m in messages])
    expected, _ = service.session.greedy(prompt, 20, sorted(service.tokenizer.eos_ids))
    assert [t for r in responses for t in r.token_ids] == expected
    assert len(responses) == len(expected) > 1
    first, last = responses[0], responses[-1]
    assert first.model.version_id == last.model.version_id == service.version.version_id
    assert all(r.finish_reason == pb.FINISH_REASON_UNSPECIFIED for r in responses[:-1])
    assert last.finish_reason in (pb.FINISH_REASON_MAX_NEW_TOKENS, pb.FINISH_REASON_END_OF_SEQUENCE)
    assert last.usage.prompt_tokens == len(prompt) and last.usage.completion_tokens == len(expected)
    text = "".join(r.text_delta for r in responses)
    assert text == service.tokenizer.tokenizer.decode(expected, skip_special_tokens=True)


async def test_generate_stops_before_a_stop_sequence(service: Service) -> None:
    messages = ROWS[0]["messages"][:-1]
    full = "".join([r.text_delta async for r in service.stub.Generate(request(messages, max_new_tokens=30))])
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    responses = [r async for r in service.stub.Generate(request(messages, max_new_tokens=30, stop=[stop]))]
    assert "".join(r.text_delta for r in responses) == full[: full.index(stop)]
    assert responses[-1].finish_reason == pb.FINISH_REASON_STOP_SEQUENCE
    assert responses[-1].stop_sequence == stop


async def test_deadline_and_errors_get_their_status_codes(service: Service) -> None:
    messages = ROWS[1]["messages"][:-1]
    with pytest.raises(grpc.aio.AioRpcError) as late:
        async for _ in service.stub.Generate(request(messages, max_new_tokens=200), timeout=0.001):
            pass
    assert late.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED

    with pytest.raises(grpc.aio.AioRpcError) as bad:
        async for _ in service.stub.Generate(request(messages, do_sample=True, temperature=0.0)):
            pass
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(bad.value)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            info = error_details_pb2.BadRequest()
            detail.Unpack(info)
            fields += [v.field for v in info.field_violations]
    assert fields == ["config.temperature"]

    unknown = pb.GenerateRequest(model=refs_pb2.ModelRef(name="not-loaded"), prompt="hi")
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        async for _ in service.stub.Generate(unknown):
            pass
    assert missing.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    # the service still answers
    ok = [r async for r in service.stub.Generate(request(messages, max_new_tokens=3))]
    assert ok[-1].usage.completion_tokens >= 1


async def test_cli_streams_a_reply_and_keeps_the_conversation(service: Service) -> None:
    out = io.StringIO()
    console = Console(file=out, width=200)
    decoding = cli_generate.Decoding(max_new_tokens=8, temperature=0.8, seed=5)
    question = ROWS[2]["messages"][0]["content"]

    def ask() -> str:
        return cli_generate.print_stream(
            console,
            cli_generate.stream(service.settings, "tiny-chat", decoding, messages=[("user", question)]),
        )

    reply = await asyncio.to_thread(ask)
    assert reply == await asyncio.to_thread(ask)  # same seed, same reply
    assert reply and reply in out.getvalue() and "8 tokens (max new tokens)" in out.getvalue()
