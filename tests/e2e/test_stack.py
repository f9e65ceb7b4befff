"""`foundry stack up` → a plain grpc health client gets SERVING from all five services → down."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from foundry.runtime.settings import ServiceName

pytestmark = pytest.mark.timeout(240)


def _free_port_pair() -> int:
    """A port P whose P+10000 is free too (not needed by services, but keeps the range clean)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 55000:
            return port


def _conll_slice(tmp_path: Path, name: str, sentences: int) -> Path:
    text = (Path(__file__).resolve().parents[2] / "examples" / "data" / "wnut17" / name).read_text()
    out = tmp_path / name
    out.write_text("\n\n".join(re.split(r"\n\s*\n", text.strip())[:sentences]) + "\n")
    return out


def _foundry(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foundry.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_stack_up_status_down(tmp_path: Path) -> None:
    ports = {name: _free_port_pair() for name in ServiceName}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    env.update({f"FOUNDRY_{name.value.upper()}_ADDRESS": f"127.0.0.1:{p}" for name, p in ports.items()})
    env.update(
        {"FOUNDRY_HOME_DIR": str(tmp_path / "home"), "FOUNDRY_METRICS_PORT": "0", "FOUNDRY_AUTH_TOKEN": "t0k"}
    )
    env["COLUMNS"] = "200"  # rich wraps tables at 80 columns when not on a terminal
    up = _foundry(["stack", "up"], env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        for name, port in ports.items():
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = health_pb2_grpc.HealthStub(ch)  # no token: health is exempt from auth
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
        status = _foundry(["stack", "status"], env)
        assert status.returncode == 0, status.stdout
        assert status.stdout.count("SERVING") == 5
        # auth is on: the services were given a service token of their own, kept owner-only
        service_token = tmp_path / "home" / "stack" / "service.token"
        assert service_token.stat().st_mode & 0o777 == 0o600

        # the CLI against the running stack: ingest two files as splits, list, show with a plot
        train, dev = (
            _conll_slice(tmp_path, "wnut17train.conll", 120),
            _conll_slice(tmp_path, "emerging.dev.conll", 40),
        )
        plot = tmp_path / "labels.png"
        ingest = _foundry(
            [
                "ingest",
                f"{train}:train",
                f"{dev}:dev",
                "--format",
                "conll",
                "--task",
                "ner",
                "--name",
                "wnut-mini",
                "--plot",
                str(plot),
            ],
            env,
        )
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        assert "new version wnut-mini@" in ingest.stdout and "labels per split" in ingest.stdout
        assert plot.stat().st_size > 10_000
        listed = _foundry(["datasets", "ls"], env)
        assert listed.returncode == 0 and "wnut-mini" in listed.stdout, listed.stdout
        shown = _foundry(["datasets", "show", "wnut-mini", "--json"], env)
        assert shown.returncode == 0 and '"train": "' in shown.stdout, shown.stdout
        missing = _foundry(["datasets", "show", "no-such-dataset"], env)
        assert missing.returncode == 1 and "NOT_FOUND" in missing.stdout
    finally:
        down = _foundry(["stack", "down"], env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "s3" in down.stdout
    for port in ports.values():
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch, pytest.raises(grpc.FutureTimeoutError):
            grpc.channel_ready_future(ch).result(timeout=0.5)


def test_stack_up_tls_serves_mutual_tls_and_the_cli_follows(tmp_path: Path) -> None:
    ports = {name: _free_port_pair() for name in ServiceName}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    env.update({f"FOUNDRY_{name.value.upper()}_ADDRESS": f"127.0.0.1:{p}" for name, p in ports.items()})
    env.update({"FOUNDRY_HOME_DIR": str(tmp_path / "home"), "FOUNDRY_METRICS_PORT": "0"})
    env["COLUMNS"] = "200"
    up = _foundry(["stack", "up", "--tls"], env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "mutual TLS" in up.stdout
        tls = tmp_path / "home" / "tls"
        assert (tls / "client.key").stat().st_mode & 0o077 == 0
        client = grpc.ssl_channel_credentials(
            (tls / "ca.pem").read_bytes(),
            (tls / "client.key").read_bytes(),
            (tls / "client.pem").read_bytes(),
        )
        no_cert = grpc.ssl_channel_credentials((tls / "ca.pem").read_bytes())
        request = health_pb2.HealthCheckRequest(service="")
        for name, port in ports.items():
            with grpc.secure_channel(f"127.0.0.1:{port}", client) as ch:
                reply = health_pb2_grpc.HealthStub(ch).Check(request, timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
            for refused in (
                grpc.insecure_channel(f"127.0.0.1:{port}"),
                grpc.secure_channel(f"127.0.0.1:{port}", no_cert),
            ):
                with refused as ch, pytest.raises(grpc.RpcError) as info:
                    health_pb2_grpc.HealthStub(ch).Check(request, timeout=5)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE, name  # type: ignore[attr-defined]
        # later CLI calls use the stack's certificates without being told
        status = _foundry(["stack", "status"], env)
        assert status.returncode == 0 and status.stdout.count("SERVING") == 5, status.stdout
        listed = _foundry(["datasets", "ls"], env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        # `stack up` without --tls leaves the running TLS stack as it is
        again = _foundry(["stack", "up"], env)
        assert again.returncode == 0 and "mutual TLS" in again.stdout, again.stdout
    finally:
        down = _foundry(["stack", "down"], env)
    assert down.returncode == 0, down.stdout + down.stderr
