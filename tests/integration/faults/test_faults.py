"""Faults that stay in the suite, against the real S3 server and the real ingestion service:

- the S3 server killed (SIGKILL) in the middle of a dataset write: the write fails with a clean
  UNAVAILABLE, no half-written version is ever listed or read, the versions stored before are
  intact once the server is back on the same data, and garbage collection collects the shards
  the failed write left;
- SIGTERM to the ingestion service while a client reads a ReadExamples stream slowly: the stream
  ends (completely, or with UNAVAILABLE / CANCELLED, never a hang), the process exits within its
  drain grace, and nothing stored is lost.

(A client killed in the middle of an upload is tried in
tests/integration/ingestion/test_upload_completeness.py: nothing is stored, not even an orphan.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.api.common.v1 import refs_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.api.ingestion.v1 import ingestion_service_pb2_grpc as pb_grpc
from foundry.domain.retention.gc import collect_garbage
from foundry.runtime import datasets
from foundry.runtime.errors import FoundryError
from foundry.runtime.examples import Example, Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.ports import pick_free_ports
from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.settings import Settings
from helpers.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, settings_for

SERVICES = Path(__file__).resolve().parents[3] / "services"
WAIT_S = 30.0
ROWS = 1250  # of 16 kB: 20 MB, more than the HTTP/2 windows buffer for a slow reader


def rows(prefix: str, count: int, size: int = 200) -> list[Example]:
    return [
        Example(id=f"{prefix}{i}", text=f"{prefix} row {i} " + "x" * size, label="a") for i in range(count)
    ]


def test_s3_killed_during_a_write(tmp_path: Path) -> None:
    server = SeaweedS3Server(tmp_path / "s3", access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY)
    server.start(timeout_s=60)
    try:
        settings = settings_for(server, tmp_path / "home", s3_max_retries=1, s3_timeout_s=5)
        store = ObjectStore.from_settings(settings)
        store.ensure_bucket()
        before = datasets.write_dataset_version(store, "d", Task.TEXT_CLASSIFICATION, rows("old", 30))
        before_rows = [e.text for e in datasets.iter_examples(store, before)]

        def dying() -> Iterator[Example]:
            for i, example in enumerate(rows("new", 60)):
                if i == 25:  # two shards of 10 are stored; the server dies under the third
                    assert server.pid is not None
                    os.killpg(server.pid, signal.SIGKILL)
                yield example

        with pytest.raises(FoundryError) as failed:
            datasets.write_dataset_version(store, "d", Task.TEXT_CLASSIFICATION, dying(), shard_rows=10)
        assert failed.value.kind.value == "UNAVAILABLE"
        server.stop()

        back = SeaweedS3Server(
            tmp_path / "s3", access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, ports=server.ports
        )
        back.start(timeout_s=60)
        try:
            assert [m.version_id for m in datasets.list_versions(store, "d")] == [before.version_id]
            assert [e.text for e in datasets.iter_examples(store, before)] == before_rows
            orphans = collect_garbage(store, grace_s=0, apply=True)
            assert orphans.deleted_objects == 2  # the failed write's two stored shards
            assert [e.text for e in datasets.iter_examples(store, before)] == before_rows
        finally:
            back.stop()
    finally:
        server.stop()


def _serving(channel: grpc.Channel) -> None:
    grpc.channel_ready_future(channel).result(timeout=WAIT_S)
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + WAIT_S
    while health.Check(health_pb2.HealthCheckRequest()).status != health_pb2.HealthCheckResponse.SERVING:
        assert time.monotonic() < deadline, "the service never became SERVING"
        time.sleep(0.05)


def test_sigterm_during_a_read_stream(settings: Settings, store: ObjectStore) -> None:
    stored = datasets.write_dataset_version(store, "big", Task.TEXT_CLASSIFICATION, rows("big", ROWS, 16_000))
    (port,) = pick_free_ports(1)
    grace_s = 2.0
    env = {
        **os.environ,
        "PYTHONPATH": str(SERVICES),
        "FOUNDRY_GRPC_PORT": str(port),
        "FOUNDRY_METRICS_PORT": "0",
        "FOUNDRY_DRAIN_GRACE_S": str(grace_s),
        "FOUNDRY_S3_ENDPOINT": settings.s3_endpoint or "",
        "FOUNDRY_S3_ACCESS_KEY": settings.s3_access_key,
        "FOUNDRY_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "FOUNDRY_S3_BUCKET": settings.s3_bucket,
        "FOUNDRY_S3_SECURE": "false",
        "FOUNDRY_HOME_DIR": str(settings.home_dir),
    }
    env.pop("FOUNDRY_AUTH_TOKEN", None)
    service = subprocess.Popen(
        [sys.executable, "-m", "foundry.ingestion"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _serving(channel)
            request = pb.ReadExamplesRequest(
                dataset=refs_pb2.DatasetRef(name="big", version_id=stored.version_id), batch_size=1
            )
            stream = pb_grpc.IngestionServiceStub(channel).ReadExamples(request, timeout=60)
            received = len(next(stream).examples)
            service.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            code = grpc.StatusCode.OK
            try:
                for message in stream:  # a slow reader: the server's stream waits on it
                    received += len(message.examples)
                    time.sleep(0.002)
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
            assert code != grpc.StatusCode.OK or received == ROWS
            assert time.monotonic() - signalled < grace_s + 15
        assert service.wait(timeout=grace_s + 15) == 0
    finally:
        service.kill()
        stderr = service.stderr.read() if service.stderr else ""
    assert '"msg": "stopped"' in stderr, stderr[-2000:]
    assert [m.version_id for m in datasets.list_versions(store, "big")] == [stored.version_id]
    assert sum(1 for _ in datasets.iter_examples(store, stored)) == ROWS
