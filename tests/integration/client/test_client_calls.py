"""`foundry.client` against real gRPC servers on 127.0.0.1 (the runtime's `FoundryServer` with
its auth and error interceptors, serving small servicers of the suite's own interfaces):
retries on UNAVAILABLE only and within bounds, deadlines, the bearer token, and every status
with its rich details mapped back to the domain error the service raised."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from client_servers import (
    ERROR_CLASSES,
    VIOLATIONS,
    FakeInference,
    FakeTraining,
    free_port,
    inference_server,
    training_server,
)

from foundry.api.common.v1 import refs_pb2, training_spec_pb2
from foundry.api.inference.v1 import inference_service_pb2 as ipb
from foundry.api.training.v1 import training_service_pb2 as tpb
from foundry.client import InferenceClient, RetryPolicy, ServiceError, TrainingClient, call_status
from foundry.runtime import errors
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.runtime.status import STATUS_CODES

TOKEN = "client-test-token"


def server_settings(port: int = 0) -> Settings:
    return Settings(grpc_port=port, metrics_port=0, auth_token=TOKEN, log_json=False)


def client_settings(address: str, token: str | None = TOKEN) -> Settings:
    return Settings(auth_token=token, inference_address=address, training_address=address)


def predict(name: str) -> ipb.PredictRequest:
    return ipb.PredictRequest(model=refs_pb2.ModelRef(name=name))


@dataclass
class Sleeps:
    """A client's `sleep`: records each wait, sleeps it, and runs `before` ahead of the first."""

    before: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        if not self.waits and self.before is not None:
            self.before()
        self.waits.append(seconds)
        time.sleep(seconds)


@dataclass
class Served:
    servicer: FakeInference
    server: FoundryServer

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def client(
        self, *, attempts: int = 4, token: str | None = TOKEN, sleep: Sleeps | None = None
    ) -> InferenceClient:
        return InferenceClient(
            client_settings(self.address, token),
            retry=RetryPolicy(max_attempts=attempts, initial_backoff_s=0.01),
            sleep=sleep or Sleeps(),
        )


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    servicer = FakeInference(unavailable_first=getattr(request, "param", 0))
    server = inference_server(server_settings(), servicer)
    await server.start()
    yield Served(servicer, server)
    servicer.never.set()
    await server.drain(0)


@pytest.mark.parametrize("served", [2], indirect=True)
async def test_unavailable_is_retried_with_backoff_until_the_service_answers(served: Served) -> None:
    sleeps = Sleeps()
    with served.client(attempts=4, sleep=sleeps) as client:
        response = await asyncio.to_thread(client.predict, predict("ok"))
    assert response.model.name == "ok"
    assert served.servicer.calls.count == 3
    assert len(sleeps.waits) == 2
    # jittered within [half, all] of a ceiling doubled per retry, never under the service's RetryInfo
    assert 0.01 <= sleeps.waits[0] <= 0.01 and 0.01 <= sleeps.waits[1] <= 0.02


@pytest.mark.parametrize("served", [100], indirect=True)
async def test_retries_are_bounded(served: Served) -> None:
    with served.client(attempts=3) as client, pytest.raises(errors.UnavailableError) as caught:
        await asyncio.to_thread(client.predict, predict("ok"))
    assert served.servicer.calls.count == 3
    assert caught.value.message == "object store down" and caught.value.retry_after_s == pytest.approx(0.01)


async def test_other_codes_are_not_retried(served: Served) -> None:
    with served.client(attempts=4) as client:
        for name in ("NotFoundError", "ResourceExhaustedError", "DeadlineExceededError", "Boom"):
            with pytest.raises(errors.FoundryError):
                await asyncio.to_thread(client.predict, predict(name))
    assert served.servicer.calls.count == 4


async def test_a_service_that_is_down_then_up_is_reached_by_retries() -> None:
    loop = asyncio.get_running_loop()
    port = free_port()
    servicer = FakeInference()
    server = inference_server(server_settings(port), servicer)

    def start_server() -> None:  # while the client waits for its first retry
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=60)

    sleeps = Sleeps(before=start_server)
    client = InferenceClient(
        client_settings(f"127.0.0.1:{port}"),
        retry=RetryPolicy(max_attempts=100, initial_backoff_s=0.05, max_backoff_s=0.2),
        sleep=sleeps,
    )
    try:
        response = await asyncio.to_thread(client.predict, predict("ok"))
        assert response.model.name == "ok"
        assert len(sleeps.waits) >= 1 and servicer.calls.count == 1
    finally:
        client.close()
        await server.drain(0)


async def test_an_upload_is_retried_only_before_a_chunk_was_taken(tmp_path: Path) -> None:
    """Down: the first try takes only the header, so it is made again once the service is up;
    that try sends every chunk and fails UNAVAILABLE, which is then final."""
    loop = asyncio.get_running_loop()
    port = free_port()
    servicer = FakeTraining()
    server = training_server(server_settings(port), servicer)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"w" * (2 * 1024 * 1024 + 5))  # three chunks
    sleeps = Sleeps(before=lambda: asyncio.run_coroutine_threadsafe(server.start(), loop).result(60))
    client = TrainingClient(
        client_settings(f"127.0.0.1:{port}"),
        retry=RetryPolicy(max_attempts=100, initial_backoff_s=0.05, max_backoff_s=0.2),
        sleep=sleeps,
    )
    header = tpb.ImportBaseModelHeader(name="m")
    try:
        with pytest.raises(errors.UnavailableError, match="object store down"):
            await asyncio.to_thread(client.import_files, header, folder, [folder / "weights.bin"])
        assert servicer.calls.count == 1 and servicer.calls.chunks == 1 + 3
        assert len(sleeps.waits) >= 1
    finally:
        client.close()
        await server.drain(0)


async def test_submit_job_is_retried_only_with_a_request_id() -> None:
    servicer = FakeTraining()
    server = training_server(server_settings(), servicer)
    await server.start()
    client = TrainingClient(
        client_settings(f"127.0.0.1:{server.port}"),
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.01),
        sleep=Sleeps(),
    )
    spec = training_spec_pb2.JobSpec()
    try:
        with pytest.raises(errors.UnavailableError):
            await asyncio.to_thread(client.submit_job, tpb.SubmitJobRequest(spec=spec))
        assert servicer.calls.count == 1
        with pytest.raises(errors.UnavailableError):
            await asyncio.to_thread(client.submit_job, tpb.SubmitJobRequest(request_id="r1", spec=spec))
        assert servicer.calls.count == 1 + 3
    finally:
        client.close()
        await server.drain(0)


async def test_a_deadline_that_passes_is_deadline_exceeded(served: Served) -> None:
    with served.client() as client, pytest.raises(errors.DeadlineExceededError) as caught:
        await asyncio.to_thread(client.predict, predict("wait"), timeout_s=0.2)
    status = call_status(caught.value)
    assert status is not None and status.code == "DEADLINE_EXCEEDED"
    assert served.servicer.calls.count == 1


async def test_the_bearer_token_from_settings_is_sent(served: Served) -> None:
    with served.client() as client:
        await asyncio.to_thread(client.predict, predict("ok"))
    assert served.servicer.calls.metadata["authorization"] == f"Bearer {TOKEN}"
    for token, why in ((None, "missing bearer token"), ("wrong", "invalid bearer token")):
        with served.client(token=token) as client, pytest.raises(errors.UnauthenticatedError) as caught:
            await asyncio.to_thread(client.predict, predict("ok"))
        assert caught.value.message == why
    assert served.servicer.calls.count == 1


def test_the_client_knows_every_domain_error_class() -> None:
    """The classes the round trip below runs over: every error class runtime.errors defines."""
    defined = {
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, errors.FoundryError)
        and value is not errors.FoundryError
    }
    assert set(ERROR_CLASSES.values()) == defined and len(defined) == 13


@pytest.mark.parametrize("name", sorted(ERROR_CLASSES))
async def test_every_domain_error_comes_back_as_itself(served: Served, name: str) -> None:
    cls = ERROR_CLASSES[name]
    with served.client(attempts=1) as client, pytest.raises(errors.FoundryError) as caught:
        await asyncio.to_thread(client.predict, predict(name))
    error = caught.value
    assert type(error) is cls
    assert error.message == f"{name} happened" and error.reason == "SOMETHING_" + name.upper()
    assert error.violations == tuple(VIOLATIONS)  # line numbers parsed back from line[N].field
    assert error.metadata["model"] == "m1" and error.metadata["where"] == "test"
    assert error.metadata["request_id"]  # the service's request id, for its logs
    assert error.retry_after_s == pytest.approx(1.5)
    status = call_status(error)
    assert status is not None and status.code == STATUS_CODES[cls.kind].name
    assert str(error) == status.details  # the message the service sent, "(+2 more)" included


async def test_codes_no_domain_error_stands_for(served: Served) -> None:
    with served.client() as client:
        with pytest.raises(ServiceError) as bug:
            await asyncio.to_thread(client.predict, predict("Boom"))
        assert bug.value.code == "INTERNAL" and "internal error (request id" in bug.value.message
        with pytest.raises(ServiceError) as out_of_range:
            await asyncio.to_thread(client.predict, predict("Abort:OUT_OF_RANGE"))
        assert out_of_range.value.code == "OUT_OF_RANGE" and out_of_range.value.message == "set by hand"
        with pytest.raises(errors.NotFoundError) as plain:  # a status without details
            await asyncio.to_thread(client.predict, predict("Abort:NOT_FOUND"))
        assert plain.value.message == "set by hand" and plain.value.violations == ()


@pytest.mark.parametrize("served", [1], indirect=True)
async def test_a_stream_is_retried_before_its_first_message_only(served: Served) -> None:
    with served.client() as client:
        deltas = await asyncio.to_thread(
            lambda: [r.text_delta for r in client.generate(ipb.GenerateRequest())]
        )
        assert deltas == ["a", "b"] and served.servicer.calls.count == 2
        got: list[str] = []

        def broken() -> None:
            for response in client.generate(ipb.GenerateRequest(prompt="break")):
                got.append(response.text_delta)

        with pytest.raises(errors.UnavailableError, match="cut mid-stream"):
            await asyncio.to_thread(broken)
    assert got == ["a"] and served.servicer.calls.count == 3
