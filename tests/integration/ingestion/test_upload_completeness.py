"""An upload is stored only once the client has said it is complete (a final commit message, or a
header declaring size and sha256) and the server has verified it: a client killed mid-stream
(a real subprocess, SIGKILL), a request iterator that raises, a deadline, or a stream that just
ends without a commit store nothing, and leave nothing behind. The real ingestion service on
127.0.0.1, the real S3 server.

The trials synchronize on what the server shows, not on time: the bytes it has spooled into its
scratch directory (each chunk is written through as it is received), and that directory emptying
once the server has dropped an upload."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from foundry.api.common.v1 import task_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2 as recipe_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.client.ingestion import IngestionClient
from foundry.runtime.errors import FoundryError, InvalidArgumentError
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from helpers.servers import ingestion_server
from helpers.uploads import Clients

TRIALS = 50
CHUNK = 32 * 1024
ROWS = 3000
LINE = 128  # bytes a JSONL line takes, its newline included: CHUNK holds whole lines
WAIT_S = 30.0  # the most any event is waited for (a hung server fails instead of hanging)


@dataclass
class Service:
    stub: pb_grpc.IngestionServiceStub
    store: ObjectStore
    address: str
    work_dir: Path
    settings: Settings

    def spooled(self) -> int:
        """Bytes the server holds for uploads in flight."""
        return sum(p.stat().st_size for p in self.work_dir.rglob("*") if p.is_file())

    async def until(self, condition: str, *, at_least: int = 0) -> None:
        """Wait until the server has spooled `at_least` bytes, or (`condition` "empty") dropped
        every upload's scratch."""
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                done = (
                    self.spooled() >= at_least if condition == "spooled" else not any(self.work_dir.iterdir())
                )
            except FileNotFoundError:  # a scratch file went away while it was looked at
                done = False
            if done:
                return
            assert time.monotonic() < deadline, f"the server never got {condition} ({self.spooled()} bytes)"
            await asyncio.sleep(0.005)

    async def assert_nothing_stored(self) -> None:
        await self.until("empty")
        listed = await self.stub.ListDatasets(pb.ListDatasetsRequest())
        assert list(listed.dataset_versions) == []
        assert self.store.count() == 0  # no version, and no orphan object either


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Service]:
    async with ingestion_server(settings) as (server, local):
        assert local.ingest_work_dir is not None
        address = f"127.0.0.1:{server.port}"
        async with grpc.aio.insecure_channel(address) as channel:
            yield Service(
                pb_grpc.IngestionServiceStub(channel),
                ObjectStore.from_settings(local),
                address,
                local.ingest_work_dir,
                local,
            )


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    """A JSONL file of several chunks, each of whole lines (LINE bytes each): a stream cut after
    any chunk is still valid JSONL, so only the protocol can tell it is incomplete."""
    path = tmp_path / "reviews.jsonl"
    lines = []
    for i in range(ROWS):
        text = f"review {i}: the {'good' if i % 2 else 'bad'} thing number {i} "
        line = json.dumps({"text": text, "label": "pos" if i % 2 else "neg"})
        lines.append(line[:-1] + " " * (LINE - 1 - len(line)) + "}")
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size == ROWS * LINE and path.stat().st_size > 6 * CHUNK
    return path


def header(
    name: str, path: Path | None = None, *, size: bool = False, sha256: bool = False
) -> pb.UploadHeader:
    out = pb.UploadHeader(
        dataset_name=name,
        task=task_pb2.TASK_TEXT_CLASSIFICATION,
        source=recipe_pb2.SourceSpec(format=recipe_pb2.FORMAT_JSONL, file_name="reviews.jsonl"),
    )
    if path is not None and size:
        out.size_bytes = path.stat().st_size
    if path is not None and sha256:
        out.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def chunks(path: Path) -> Iterator[pb.UploadRequest]:
    data = path.read_bytes()
    for start in range(0, len(data), CHUNK):
        yield pb.UploadRequest(chunk=data[start : start + CHUNK])


COMMIT = pb.UploadRequest(commit=pb.UploadCommit())


async def test_a_client_killed_mid_stream_stores_nothing(service: Service, reviews: Path) -> None:
    clients = await Clients.start(service.address, header("killed"), reviews, CHUNK)
    for trial in range(TRIALS):
        stall = 1 + trial % 5  # killed after 1 to 5 chunks
        pid = await clients.client(stall)
        await service.until("spooled", at_least=stall * CHUNK)  # the server has received that many
        await clients.kill(pid)
        await service.assert_nothing_stored()
    await clients.close()


async def test_a_request_iterator_that_raises_stores_nothing(service: Service, reviews: Path) -> None:
    loop = asyncio.get_running_loop()

    class Broken(Exception):
        pass

    def requests(stall: int) -> Iterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header("broken"))
        for i, request in enumerate(chunks(reviews)):
            if i == stall:  # wait (in the client's sending thread) until the server has them all
                asyncio.run_coroutine_threadsafe(
                    service.until("spooled", at_least=stall * CHUNK), loop
                ).result()
                raise Broken("the source went away")
            yield request

    with IngestionClient(service.settings, address=service.address) as client:
        for trial in range(TRIALS):
            with pytest.raises(FoundryError):
                await asyncio.to_thread(client.upload, requests(1 + trial % 5))
            await service.assert_nothing_stored()


async def test_a_stream_past_its_deadline_stores_nothing(service: Service, reviews: Path) -> None:
    stalled = asyncio.Event()  # never set: the client stalls until its deadline

    async def requests() -> AsyncIterator[pb.UploadRequest]:
        yield pb.UploadRequest(header=header("late"))
        for i, request in enumerate(chunks(reviews)):
            if i == 2:
                await stalled.wait()
            yield request

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await service.stub.Upload(requests(), timeout=1.0)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await service.assert_nothing_stored()


async def test_a_stream_that_ends_without_a_commit_is_refused(service: Service, reviews: Path) -> None:
    with IngestionClient(service.settings, address=service.address) as client:
        # no size or sha256 declared, or only one of them: the client must commit
        for declared in [
            header("open"),
            header("open", reviews, size=True),
            header("open", reviews, sha256=True),
        ]:
            whole = [pb.UploadRequest(header=declared), *chunks(reviews)]
            with pytest.raises(InvalidArgumentError) as info:
                await asyncio.to_thread(client.upload, whole)
            assert info.value.reason == "UPLOAD_NOT_COMMITTED"
            assert (
                "without a commit message" in info.value.message
                and "nothing was stored" in info.value.message
            )
            await service.assert_nothing_stored()
        # a commit must be last
        after = [pb.UploadRequest(header=header("open")), *chunks(reviews), COMMIT, *chunks(reviews)]
        with pytest.raises(InvalidArgumentError) as info:
            await asyncio.to_thread(client.upload, after)
        assert info.value.message.startswith("nothing follows the commit message")
        await service.assert_nothing_stored()


async def test_a_committed_or_declared_upload_is_stored_whole(
    service: Service, reviews: Path, tmp_path: Path
) -> None:
    with IngestionClient(service.settings, address=service.address) as client:
        committed = await asyncio.to_thread(
            client.upload, [pb.UploadRequest(header=header("reviews")), *chunks(reviews), COMMIT]
        )
        read = next(s for s in committed.report.steps if s.step == "read")
        assert read.rows_out == ROWS and committed.report.created
        # size and sha256 declared: the bytes are verified, and no commit is needed
        declared = header("reviews", reviews, size=True, sha256=True)
        again = await asyncio.to_thread(client.upload, [pb.UploadRequest(header=declared), *chunks(reviews)])
        assert again.dataset_version.version_id == committed.dataset_version.version_id
        # the typed client commits: a header with nothing declared goes through
        files = header("reviews")
        files.files.add(file_name="reviews.jsonl")
        sent = await asyncio.to_thread(client.upload_files, files, [reviews])
        assert sent.dataset_version.version_id == committed.dataset_version.version_id
    await service.until("empty")
