"""No request can hang the labeling service (issue 15, item 6), against the real service and S3:

- the attack (many Aggregate calls with max_iterations=2**31-1, tolerance=0) is refused with
  INVALID_ARGUMENT naming the field and its maximum, before any work;
- at the maximum, a short deadline ends the call with DEADLINE_EXCEEDED and frees its worker:
  the next call on a one-worker pool succeeds;
- a full work pool answers RESOURCE_EXHAUSTED with a RetryInfo, health still answers SERVING,
  and the service serves again once the pool drains.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from labeling_helpers import Stub, start_labeling, violations
from test_classification import create, label_all, write_dataset

from foundry.api.labeling.v1 import labeling_service_pb2 as pb
from foundry.labeling.aggregating import MAX_ITERATIONS
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings

INT32_MAX = 2**31 - 1
SERVING = health_pb2.HealthCheckResponse.SERVING


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def one_worker(settings: Settings) -> AsyncIterator[tuple[Stub, FoundryServer, str]]:
    """A labeling service with one worker thread and no queue, and a labelled project."""
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    write_dataset(store, 300)
    server = await start_labeling(settings.model_copy(update={"work_threads": 1, "work_queue": 0}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = Stub(channel)
            project = await create(stub, overlap=3)
            await label_all(stub, project.project_id, {"ann": 2, "bob": 3, "cho": 2})
            yield stub, server, project.project_id
    finally:
        await server.drain(0)


async def until_idle(server: FoundryServer, timeout_s: float = 20.0) -> None:
    """Wait until the service's work pool has no call left running (the test fails otherwise)."""
    pool = server.definition.workpool
    assert pool is not None
    for _ in range(int(timeout_s / 0.05)):
        if pool.admitted == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{pool.admitted} calls still hold the work pool after {timeout_s} s")


def retry_delay_s(err: grpc.aio.AioRpcError) -> float | None:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return info.retry_delay.ToNanoseconds() / 1e9
    return None


async def test_the_aggregate_attack_is_refused_before_any_work(
    one_worker: tuple[Stub, FoundryServer, str],
) -> None:
    stub, _server, pid = one_worker
    attack = pb.AggregateRequest(project_id=pid, max_iterations=INT32_MAX, tolerance=0)
    calls = [stub.Aggregate(attack, timeout=60) for _ in range(8)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for err in results:
        assert isinstance(err, grpc.aio.AioRpcError), err
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert violations(err) == ["max_iterations"]
        assert str(MAX_ITERATIONS) in (err.details() or "")
    # negative values and the other fields too
    for request, field in (
        (pb.AggregateRequest(project_id=pid, max_iterations=-1), "max_iterations"),
        (pb.AggregateRequest(project_id=pid, min_votes=-3), "min_votes"),
        (pb.AggregateRequest(project_id=pid, page_size=-1), "page_size"),
        (pb.AggregateRequest(project_id=pid, tolerance=float("nan")), "tolerance"),
        (pb.NextTasksRequest(project_id=pid, annotator="ann", limit=-5), "limit"),
    ):
        method = stub.Aggregate if isinstance(request, pb.AggregateRequest) else stub.NextTasks
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await method(request, timeout=30)  # type: ignore[operator]
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in [v.split(".")[-1] for v in violations(refused.value)] or field in (
            refused.value.details() or ""
        )
    # nothing ran: the service answers at once
    assert (await stub.GetProject(pb.GetProjectRequest(project_id=pid), timeout=30)).project.project_id == pid


async def test_at_the_limit_a_deadline_stops_the_work_and_frees_the_worker(
    one_worker: tuple[Stub, FoundryServer, str],
) -> None:
    stub, server, pid = one_worker
    at_limit = pb.AggregateRequest(project_id=pid, max_iterations=MAX_ITERATIONS, tolerance=0)
    for _ in range(3):  # each time the worker notices its token and is free again
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.Aggregate(at_limit, timeout=0.3)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await until_idle(server)
    normal = await stub.Aggregate(pb.AggregateRequest(project_id=pid, page_size=10), timeout=60)
    assert normal.items == 300 and normal.converged


async def test_a_full_pool_is_resource_exhausted_with_retry_info_and_health_answers(
    one_worker: tuple[Stub, FoundryServer, str], settings: Settings
) -> None:
    stub, server, pid = one_worker
    at_limit = pb.AggregateRequest(project_id=pid, max_iterations=MAX_ITERATIONS, tolerance=0)
    busy = asyncio.ensure_future(stub.Aggregate(at_limit, timeout=30))
    pool = server.definition.workpool
    assert pool is not None
    for _ in range(200):
        if pool.admitted == 1:
            break
        await asyncio.sleep(0.02)
    with pytest.raises(grpc.aio.AioRpcError) as full:
        await stub.GetProject(pb.GetProjectRequest(project_id=pid), timeout=30)
    assert full.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay_s(full.value) == settings.work_retry_after_s
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    busy.cancel()  # the client gives up: the worker stops at its next check
    await until_idle(server)
    assert (await stub.GetProject(pb.GetProjectRequest(project_id=pid), timeout=30)).project.project_id == pid


async def test_sigterm_ends_the_process_with_a_long_aggregate_in_flight(
    settings: Settings, tmp_path: Path
) -> None:
    """`python -m foundry.labeling` with Aggregate calls at the iteration limit in flight exits
    within the drain grace plus a small slack, by the normal path (exit code 0, not the
    watchdog's), after logging "stopped"."""
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    write_dataset(store, 300)
    port = free_port()
    grace_s = 1.0
    env = {
        **os.environ,
        "FOUNDRY_GRPC_PORT": str(port),
        "FOUNDRY_METRICS_PORT": "0",
        "FOUNDRY_DRAIN_GRACE_S": str(grace_s),
        "FOUNDRY_HOME_DIR": str(tmp_path / "home"),
        "FOUNDRY_S3_ENDPOINT": str(settings.s3_endpoint),
        "FOUNDRY_S3_ACCESS_KEY": settings.s3_access_key,
        "FOUNDRY_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "FOUNDRY_S3_BUCKET": settings.s3_bucket,
        "FOUNDRY_S3_SECURE": "false",
    }
    env.pop("FOUNDRY_AUTH_TOKEN", None)
    command = [sys.executable, "-m", "foundry.labeling"]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)  # noqa: ASYNC220
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), 60)
            health = health_pb2_grpc.HealthStub(channel)
            ready = time.monotonic() + 60
            while (await health.Check(health_pb2.HealthCheckRequest())).status != SERVING:
                assert time.monotonic() < ready
                await asyncio.sleep(0.05)
            stub = Stub(channel)
            project = await create(stub, overlap=3)
            await label_all(stub, project.project_id, {"ann": 2, "bob": 3, "cho": 2})
            at_limit = pb.AggregateRequest(
                project_id=project.project_id, max_iterations=MAX_ITERATIONS, tolerance=0
            )
            long_calls = [asyncio.ensure_future(stub.Aggregate(at_limit, timeout=120)) for _ in range(4)]
            await asyncio.sleep(0.5)  # the calls are in flight
            assert not [call.result() for call in long_calls if call.done()]
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, grace_s + 30)
            took = time.monotonic() - sent
            await asyncio.gather(*long_calls, return_exceptions=True)
    finally:
        proc.kill()
        stderr = proc.stderr.read() if proc.stderr else ""
    assert code == 0, stderr[-2000:]
    assert took < grace_s + 4, f"exit took {took:.1f} s"
    assert '"msg": "stopped"' in stderr
