"""The shared runtime on a real grpc.aio server on 127.0.0.1, port 0, with every interceptor."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

import probe_service
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings

TOKEN = "s3cr3t-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(channel: grpc.aio.Channel, method: str, stream: bool = False) -> grpc.aio.UnaryUnaryMultiCallable:
    kind = channel.unary_stream if stream else channel.unary_unary
    return kind(f"/{probe_service.SERVICE}/{method}")  # type: ignore[no-any-return]


@pytest.fixture
async def server() -> AsyncIterator[FoundryServer]:
    settings = Settings(grpc_port=0, metrics_port=free_port(), auth_token=TOKEN, drain_grace_s=2)
    srv = FoundryServer(settings, probe_service.definition())
    await srv.start()
    yield srv
    await srv.drain(0)


@pytest.fixture
async def channel(server: FoundryServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


async def test_health_serving_for_every_registered_service(channel: grpc.aio.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", probe_service.SERVICE):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_not_serving_until_startup_work_is_done() -> None:
    release, entered = asyncio.Event(), asyncio.Event()

    async def startup() -> None:
        entered.set()
        await release.wait()

    settings = Settings(grpc_port=0, metrics_port=0)
    srv = FoundryServer(settings, probe_service.definition(startup=startup))
    starting = asyncio.create_task(srv.start())
    await entered.wait()  # bound and serving health, start-up work not done
    async with grpc.aio.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        release.set()
        await starting
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await srv.drain(0)


async def test_reflection_lists_services_without_a_token(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    await call.done_writing()
    response = await call.read()
    names = {s.name for s in response.list_services_response.service}
    assert {probe_service.SERVICE, "grpc.health.v1.Health"} <= names


@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)])
async def test_missing_or_wrong_token_is_unauthenticated(channel: grpc.aio.Channel, metadata: tuple) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await probe(channel, "Echo")(b"hi", metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await anext(aiter(probe(channel, "Count", stream=True)(b"", metadata=metadata)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_right_token_passes(channel: grpc.aio.Channel) -> None:
    assert await probe(channel, "Echo")(b"hi", metadata=AUTH) == b"hi"


def _details(
    err: grpc.aio.AioRpcError,
) -> tuple[error_details_pb2.ErrorInfo, error_details_pb2.BadRequest | None]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None and status.code == err.code().value[0]
    info, bad = error_details_pb2.ErrorInfo(), None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
    return info, bad


async def test_domain_error_gets_its_code_and_rich_details(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await probe(channel, "Fail")(b"invalid", metadata=(*AUTH, ("x-request-id", "req-42")))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "line[12].tags: I-PER follows O" in (err.value.details() or "")
    info, bad = _details(err.value)
    assert info.reason == "INVALID_ARGUMENT" and info.metadata["request_id"] == "req-42"
    assert bad is not None
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("line[12].tags", "I-PER follows O"),
        ("line[40].text", "empty"),
    ]
    assert ("x-request-id", "req-42") in tuple(err.value.trailing_metadata() or ())

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await probe(channel, "Fail")(b"not_found", metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert _details(err.value)[0].reason == "DATASET_VERSION_NOT_FOUND"

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await probe(channel, "Fail")(b"unavailable", metadata=AUTH)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_streaming_error_after_messages(channel: grpc.aio.Channel) -> None:
    call = probe(channel, "Count", stream=True)(b"then-fail", metadata=AUTH)
    got = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for item in call:
            got.append(item)
    assert got == [b"0", b"1", b"2"]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in _details(err.value)[1].field_violations] == ["line[3].x"]  # type: ignore[union-attr]


async def test_a_bug_is_internal_and_names_the_request(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await probe(channel, "Boom")(b"", metadata=(*AUTH, ("x-request-id", "req-7")))
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert err.value.details() == "internal error (request id req-7)"


async def test_metrics_per_rpc(server: FoundryServer, channel: grpc.aio.Channel) -> None:
    await probe(channel, "Echo")(b"x", metadata=AUTH)
    with pytest.raises(grpc.aio.AioRpcError):
        await probe(channel, "Fail")(b"not_found", metadata=AUTH)
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    body = (await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())).decode()
    method = f"/{probe_service.SERVICE}"
    assert re.search(
        rf'foundry_rpc_requests_total{{code="OK",method="{method}/Echo",service="ingestion"}} [1-9]', body
    )
    assert re.search(
        rf'foundry_rpc_requests_total{{code="NOT_FOUND",method="{method}/Fail",service="ingestion"}} [1-9]',
        body,
    )
    assert re.search(
        rf'foundry_rpc_duration_seconds_count{{method="{method}/Echo",service="ingestion"}} [1-9]', body
    )


def test_sigterm_drains_in_flight_and_refuses_new(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "FOUNDRY_GRPC_PORT": str(port),
        "FOUNDRY_METRICS_PORT": "0",
        "FOUNDRY_DRAIN_GRACE_S": "10",
        "FOUNDRY_AUTH_TOKEN": "",
    }
    env.pop("FOUNDRY_AUTH_TOKEN")
    script = Path(probe_service.__file__)
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
            grpc.channel_ready_future(ch).result(timeout=30)
            health = health_pb2_grpc.HealthStub(ch)
            deadline = time.monotonic() + 30
            while (
                health.Check(health_pb2.HealthCheckRequest()).status != health_pb2.HealthCheckResponse.SERVING
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            slow = ch.unary_unary(f"/{probe_service.SERVICE}/Slow").future(b"1.5", timeout=20)
            time.sleep(0.3)  # the slow call is in flight
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the server is draining
            with pytest.raises(grpc.RpcError) as refused:
                ch.unary_unary(f"/{probe_service.SERVICE}/Echo")(b"late", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            assert slow.result() == b"done"
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
    assert '"msg": "draining"' in stderr and '"msg": "stopped"' in stderr
    # on loopback it started, with one warning naming each insecure default in effect
    (warning,) = [line for line in stderr.splitlines() if "insecure defaults" in line]
    assert "auth is off" in warning and "FOUNDRY_S3_SECRET_KEY" in warning and "TLS is off" in warning


@pytest.mark.parametrize(
    ("command", "reasons"),
    [
        ([str(Path(probe_service.__file__))], ("auth is off", "FOUNDRY_S3_SECRET_KEY", "TLS is off")),
        (
            ["-m", "foundry.ingestion"],
            ("auth is off", "FOUNDRY_S3_SECRET_KEY", "FOUNDRY_PII_SECRET", "TLS is off"),
        ),
    ],
)
def test_outside_loopback_insecure_defaults_refuse_to_start(
    command: list[str], reasons: tuple[str, ...]
) -> None:
    """Refused before binding anything: exit 2, one line naming every reason."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    env.update(
        {"FOUNDRY_GRPC_HOST": "0.0.0.0", "FOUNDRY_GRPC_PORT": str(free_port()), "FOUNDRY_METRICS_PORT": "0"}
    )
    done = subprocess.run([sys.executable, *command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "refusing to serve on 0.0.0.0" in line and "FOUNDRY_INSECURE=1" in line
    for reason in reasons:
        assert reason in line
