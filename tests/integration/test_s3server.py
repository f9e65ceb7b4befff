"""The SeaweedFS launcher: readiness, stop, detached mode with its state file, clear failures."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from minio import Minio

from foundry.runtime.errors import FailedPreconditionError, UnavailableError
from foundry.runtime.s3server import SeaweedS3Server, pid_alive, read_state, stop_detached, write_state
from foundry.runtime.seaweed import GRPC_PORT_OFFSET, S3ServerPorts, find_weed_binary


def test_context_manager_serves_s3_on_localhost_and_stops(tmp_path: Path) -> None:
    with SeaweedS3Server(tmp_path / "d", access_key="ak", secret_key="sk-secret") as server:
        assert server.endpoint.startswith("127.0.0.1:")
        assert server.start_duration_s is not None and server.start_duration_s < 60
        client = Minio(server.endpoint, access_key="ak", secret_key="sk-secret", secure=False)
        client.make_bucket("probe")
        assert [b.name for b in client.list_buckets()] == ["probe"]
        command = " ".join(server.command())
        for flag in ("-ip.bind=127.0.0.1", "-master.telemetry=false", "-webdav=false", "-admin.ui=false"):
            assert flag in command
        assert f"-s3.port.grpc={server.ports.s3 + GRPC_PORT_OFFSET}" in command
        pid = server.pid
        assert pid is not None
    assert not server.running and not pid_alive(pid)
    assert not any(path.exists() for path in server.ports.grpc_socket_paths())
    assert (tmp_path / "d" / "weed.log").exists()


def test_detached_server_outlives_its_handle_and_stops_by_pid(tmp_path: Path) -> None:
    server = SeaweedS3Server(tmp_path / "d", access_key="ak", secret_key="sk-secret")
    state = server.start(detached=True)
    try:
        write_state(tmp_path / "state.json", state)
        loaded = read_state(tmp_path / "state.json")
        assert loaded == state
        assert "sk-secret" not in (tmp_path / "state.json").read_text()
        del server
        client = Minio(loaded.endpoint, access_key="ak", secret_key="sk-secret", secure=False)
        assert client.list_buckets() == []
    finally:
        assert stop_detached(state.pid, grace_s=10, ports=state.ports)
    assert not pid_alive(state.pid)
    assert not any(path.exists() for path in state.ports.grpc_socket_paths())
    assert not stop_detached(state.pid)
    assert read_state(tmp_path / "missing.json") is None


def test_a_taken_port_fails_fast_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        ports = dataclasses.replace(S3ServerPorts.pick(), s3=taken)
        server = SeaweedS3Server(tmp_path / "d", access_key="ak", secret_key="sk", ports=ports)
        started = time.monotonic()
        with pytest.raises(UnavailableError) as caught:
            server.start(timeout_s=30)
        assert time.monotonic() - started < 30
    assert caught.value.reason == "S3_SERVER_START_FAILED"
    assert "exited with status" in caught.value.message
    assert "weed.log" in caught.value.message and f"port {taken} for S3" in caught.value.message


def test_missing_binary_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FailedPreconditionError, match=r"sft-foundry\[stack\]"):
        find_weed_binary()


def test_module_runs_in_the_foreground_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "foundry.runtime.s3server", "--dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("S3 ready at http://127.0.0.1:"), line
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
