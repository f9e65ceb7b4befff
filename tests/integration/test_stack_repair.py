"""`foundry stack up` on a stack with parts down starts those parts again (real processes): the
embedded S3 server killed and one service killed come back, on the same endpoint and ports, and
the services that kept running are left alone and turn SERVING again by themselves."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from foundry.cli import stack
from foundry.runtime import s3server
from foundry.runtime.ports import pick_free_ports
from foundry.runtime.settings import ServiceName, Settings

pytestmark = pytest.mark.timeout(600)
START_TIMEOUT_S = 240.0


@pytest.fixture
def stack_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [k for k in os.environ if k.startswith("FOUNDRY_")]:
        monkeypatch.delenv(key)
    ports = pick_free_ports(len(ServiceName), host="127.0.0.1")
    for name, port in zip(ServiceName, ports, strict=True):
        monkeypatch.setenv(f"FOUNDRY_{name.value.upper()}_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv("FOUNDRY_HOME_DIR", str(tmp_path / "home"))
    monkeypatch.setenv("FOUNDRY_METRICS_PORT", "0")
    monkeypatch.setenv("FOUNDRY_READINESS_INTERVAL_S", "0.5")
    return Settings()


def test_up_restarts_a_killed_s3_server_and_a_killed_service(stack_settings: Settings) -> None:
    try:
        first = stack.up(stack_settings, timeout_s=START_TIMEOUT_S)
        assert first.s3 is not None
        pids = {p.name: p.pid for p in first.services}
        os.killpg(first.s3.pid, signal.SIGKILL)
        victim = ServiceName.LABELING.value
        os.killpg(pids[victim], signal.SIGKILL)
        for pid in (first.s3.pid, pids[victim]):
            deadline = time.monotonic() + 30
            while s3server.pid_alive(pid):  # a killed child stays until it is reaped
                assert time.monotonic() < deadline
                time.sleep(0.05)

        second = stack.up(stack_settings, timeout_s=START_TIMEOUT_S)
        assert second.s3 is not None
        assert second.s3.pid != first.s3.pid and s3server.weed_alive(second.s3.pid)
        assert second.s3_endpoint == first.s3_endpoint and second.s3.ports == first.s3.ports
        again = {p.name: p.pid for p in second.services}
        assert again[victim] != pids[victim]
        assert {n: p for n, p in again.items() if n != victim} == {
            n: p for n, p in pids.items() if n != victim
        }
        assert all(h.status == "SERVING" for h in stack.status(stack_settings))
        assert stack.StackState.load(stack.state_path(stack_settings)) == second

        # nothing down: up changes nothing
        third = stack.up(stack_settings, timeout_s=START_TIMEOUT_S)
        assert third == second
    finally:
        stack.down(stack_settings)
