"""Every RPC of every service with every role, through the real `FoundryServer` interceptors.

The server registers every service that the generated descriptors in `foundry.api` define, each
method with its own streaming shape, answering an empty message; so what a call gets back is the
auth interceptor's decision alone: OK when the token's role may call the RPC, PERMISSION_DENIED
naming the role needed when it may not, UNAUTHENTICATED without a known token.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from foundry.api.inference.v1 import inference_service_pb2 as ipb
from foundry.client import InferenceClient
from foundry.runtime import errors
from foundry.runtime.roles import Role, allows, required_role
from foundry.runtime.server import FoundryServer, ServiceDefinition
from foundry.runtime.settings import ServiceName, Settings
from foundry.runtime.tokens import hash_token
from helpers.rpcs import RPCS, Rpc

TOKENS = {role: f"tok-{role.value}-0123456789" for role in Role}
LEGACY = "legacy-shared-token"  # FOUNDRY_AUTH_TOKEN: admin


def _register(server: grpc.aio.Server) -> None:
    async def unary(request: bytes, context: Any) -> bytes:
        return b""

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
        async for _ in requests:
            pass
        return b""

    async def server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield b""

    by_service: dict[str, dict[str, grpc.RpcMethodHandler[Any, Any]]] = {}
    for rpc in RPCS:
        handler: grpc.RpcMethodHandler[Any, Any]
        if rpc.client_streaming:
            handler = grpc.stream_unary_rpc_method_handler(client_stream)
        elif rpc.server_streaming:
            handler = grpc.unary_stream_rpc_method_handler(server_stream)
        else:
            handler = grpc.unary_unary_rpc_method_handler(unary)
        by_service.setdefault(rpc.service, {})[rpc.method] = handler
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(name, handlers) for name, handlers in by_service.items()]
    )


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A FoundryServer with every service's methods, in a thread of its own, and a tokens file
    holding one token per role (by hash) besides FOUNDRY_AUTH_TOKEN."""
    tokens_file = tmp_path_factory.mktemp("auth") / "tokens.json"
    entries = [
        {"name": f"{r.value}-bot", "role": r.value, "sha256": hash_token(t)} for r, t in TOKENS.items()
    ]
    tokens_file.write_text(json.dumps({"tokens": entries}))
    settings = Settings(
        grpc_port=0, metrics_port=0, auth_tokens_file=tokens_file, auth_token=LEGACY, log_json=False
    )
    definition = ServiceDefinition(
        ServiceName.INGESTION, _register, tuple(sorted({rpc.service for rpc in RPCS}))
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> tuple[FoundryServer, int]:
        server = FoundryServer(settings, definition)  # made on the loop that serves it
        return server, await server.start()

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.drain(0), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@pytest.fixture(scope="module")
def channel(address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(address) as ch:
        yield ch


def call(channel: grpc.Channel, rpc: Rpc, authorization: str | None) -> tuple[grpc.StatusCode, str]:
    """The status code and details of one call of `rpc` with that authorization header (None:
    no header)."""
    metadata = () if authorization is None else (("authorization", authorization),)
    ch: Any = channel  # raw bytes both ways (no serializers)
    try:
        if rpc.client_streaming:
            ch.stream_unary(rpc.path)(iter([b"", b""]), metadata=metadata, timeout=30)
        elif rpc.server_streaming:
            list(ch.unary_stream(rpc.path)(b"", metadata=metadata, timeout=30))
        else:
            ch.unary_unary(rpc.path)(b"", metadata=metadata, timeout=30)
    except grpc.RpcError as exc:
        assert isinstance(exc, grpc.Call)
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_every_rpc_with_every_role(channel: grpc.Channel, rpc: Rpc, role: Role) -> None:
    needed = required_role(rpc.path)
    code, details = call(channel, rpc, f"Bearer {TOKENS[role]}")
    if allows(role, needed):
        assert code == grpc.StatusCode.OK
    else:
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert f"needs role {needed.value}" in details and f"has role {role.value}" in details
        assert TOKENS[role] not in details


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_every_rpc_without_a_known_token_is_unauthenticated(channel: grpc.Channel, rpc: Rpc) -> None:
    for authorization in (None, "Bearer not-a-token", f"Basic {TOKENS[Role.ADMIN]}", "Bearer"):
        code, details = call(channel, rpc, authorization)
        assert code == grpc.StatusCode.UNAUTHENTICATED, authorization
        assert "not-a-token" not in details and TOKENS[Role.ADMIN] not in details


@pytest.mark.parametrize("rpc", RPCS, ids=str)
def test_the_legacy_shared_token_is_admin(channel: grpc.Channel, rpc: Rpc) -> None:
    assert call(channel, rpc, f"Bearer {LEGACY}")[0] == grpc.StatusCode.OK


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_the_bearer_scheme_is_case_insensitive(channel: grpc.Channel, scheme: str) -> None:
    (upload,) = [r for r in RPCS if r.path == "/foundry.ingestion.v1.IngestionService/Upload"]
    assert call(channel, upload, f"{scheme} {TOKENS[Role.WRITER]}")[0] == grpc.StatusCode.OK


def test_roles_by_hand(channel: grpc.Channel) -> None:
    """A few decisions written out, not derived from the table."""
    paths = {r.path: r for r in RPCS}

    def code(path: str, role: Role) -> grpc.StatusCode:
        return call(channel, paths[path], f"Bearer {TOKENS[role]}")[0]

    ok, denied = grpc.StatusCode.OK, grpc.StatusCode.PERMISSION_DENIED
    predict = "/foundry.inference.v1.InferenceService/Predict"
    upload = "/foundry.ingestion.v1.IngestionService/Upload"
    unload = "/foundry.inference.v1.InferenceService/UnloadModel"
    base = "/foundry.training.v1.TrainingService/ImportBaseModel"
    infer = "/inference.GRPCInferenceService/ModelInfer"
    assert [code(predict, r) for r in (Role.READER, Role.WRITER, Role.SERVICE)] == [ok, ok, ok]
    assert code(infer, Role.READER) == ok
    assert [code(upload, r) for r in (Role.READER, Role.WRITER, Role.SERVICE)] == [denied, ok, ok]
    assert [code(unload, r) for r in (Role.WRITER, Role.SERVICE, Role.ADMIN)] == [denied, denied, ok]
    assert [code(base, r) for r in (Role.WRITER, Role.SERVICE, Role.ADMIN)] == [denied, denied, ok]


def test_a_service_sends_its_service_token(address: str) -> None:
    """`foundry.client` sends FOUNDRY_SERVICE_TOKEN when set, over FOUNDRY_AUTH_TOKEN: a service
    whose auth token is a reader's may still LoadModel (writer) with its service token."""
    request = ipb.LoadModelRequest()
    reader_only = Settings(auth_token=TOKENS[Role.READER], inference_address=address)
    with InferenceClient(reader_only) as client, pytest.raises(errors.PermissionDeniedError) as denied:
        client.load_model(request)
    assert "needs role writer" in str(denied.value)
    with_service = Settings(
        auth_token=TOKENS[Role.READER], service_token=TOKENS[Role.SERVICE], inference_address=address
    )
    with InferenceClient(with_service) as client:
        client.load_model(request)
