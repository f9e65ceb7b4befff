"""The local stack: the embedded S3 server (unless FOUNDRY_S3_ENDPOINT names one) and one process
per service on its fixed local port. State lives in `<home_dir>/stack/state.json`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from foundry.client.channel import health_status
from foundry.runtime import s3server
from foundry.runtime.errors import FailedPreconditionError, UnavailableError
from foundry.runtime.seaweed import S3ServerPorts
from foundry.runtime.settings import ServiceName, Settings

SERVICES: tuple[ServiceName, ...] = tuple(ServiceName)


@dataclass
class ServiceProcess:
    name: str
    pid: int
    address: str
    log: str


@dataclass
class StackState:
    s3_endpoint: str
    s3: s3server.S3ServerState | None = None  # None: an external S3 server, not ours to stop
    services: list[ServiceProcess] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        s3 = s3server.S3ServerState.from_json(json.dumps(raw["s3"])) if raw.get("s3") else None
        services = [ServiceProcess(**s) for s in raw.get("services", [])]
        return cls(s3_endpoint=raw["s3_endpoint"], s3=s3, services=services)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


@dataclass(frozen=True)
class ServiceHealth:
    name: str
    address: str
    pid: int | None
    status: str


def stack_dir(settings: Settings) -> Path:
    return settings.home_dir.resolve() / "stack"


def state_path(settings: Settings) -> Path:
    return stack_dir(settings) / "state.json"


def _service_env(settings: Settings, s3_endpoint: str, service: ServiceName) -> dict[str, str]:
    env = dict(os.environ)
    env["FOUNDRY_S3_ENDPOINT"] = s3_endpoint
    env["FOUNDRY_GRPC_PORT"] = settings.address_of(service).rsplit(":", 1)[1]
    if env.get("FOUNDRY_METRICS_PORT") != "0":  # 0 turns metrics off; anything else: per-service defaults
        env.pop("FOUNDRY_METRICS_PORT", None)
    env["FOUNDRY_HOME_DIR"] = str(settings.home_dir.resolve())
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start_service(settings: Settings, s3_endpoint: str, service: ServiceName, logs: Path) -> ServiceProcess:
    log_path = logs / f"{service.value}.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"foundry.{service.value}"],
            env=_service_env(settings, s3_endpoint, service),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives `foundry stack up`
        )
    return ServiceProcess(service.value, proc.pid, settings.address_of(service), str(log_path))


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _service_alive(proc: ServiceProcess) -> bool:
    """Whether the process recorded for a service still runs that service (not a reused pid)."""
    if not s3server.pid_alive(proc.pid):
        return False
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    try:
        return f"foundry.{proc.name}".encode() in cmdline.read_bytes()
    except OSError:
        return not Path("/proc/self").exists()


def up(settings: Settings, timeout_s: float = 90.0) -> StackState:
    """Start whatever part of the stack is not running, then wait until every service answers
    SERVING. A stack that was never started (or was stopped) is started whole; in a started one,
    an embedded S3 server that died is started again on its ports with its data, and each service
    whose process is gone is started again; what runs is left alone (a service that is
    NOT_SERVING only because the object store was down turns SERVING by itself)."""
    path = state_path(settings)
    root = stack_dir(settings)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    state = StackState.load(path)
    if state is None:
        state = _start_object_store(settings, root, None)
    elif state.s3 is not None and not s3server.weed_alive(state.s3.pid):
        state.s3 = _start_object_store(settings, root, state.s3.ports).s3
    state.save(path)
    running = {p.name: p for p in state.services if _service_alive(p)}
    state.services = []
    for service in SERVICES:
        proc = running.get(service.value) or _start_service(settings, state.s3_endpoint, service, logs)
        state.services.append(proc)
        state.save(path)
    _wait_serving(settings, state, timeout_s)
    return state


def _start_object_store(settings: Settings, root: Path, ports: S3ServerPorts | None) -> StackState:
    """A new stack state with its object store: FOUNDRY_S3_ENDPOINT's, or the embedded server
    started detached (on `ports` when given: a restart keeps the endpoint the services use)."""
    if settings.s3_endpoint:
        return StackState(s3_endpoint=settings.s3_endpoint)
    server = s3server.SeaweedS3Server(
        root / "s3",
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        ports=ports,
    )
    return StackState(s3_endpoint=server.endpoint, s3=server.start(detached=True))


def _wait_serving(settings: Settings, state: StackState, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = {s.name: s for s in state.services}
    while pending and time.monotonic() < deadline:
        for name, proc in list(pending.items()):
            if not s3server.pid_alive(proc.pid):
                raise FailedPreconditionError(
                    f"service {name} exited during start-up; the end of {proc.log}:\n{_tail(proc.log)}"
                )
            if health_status(proc.address, settings, timeout_s=1.0) == "SERVING":
                del pending[name]
        if pending:
            time.sleep(0.3)
    if pending:
        details = "\n".join(
            f"- {n} at {p.address} (log {p.log}):\n{_tail(p.log, 5)}" for n, p in pending.items()
        )
        raise UnavailableError(f"not SERVING after {timeout_s:.0f}s:\n{details}")


def down(settings: Settings, grace_s: float = 15.0) -> list[str]:
    """SIGTERM every service (they drain), then stop the embedded S3 server. Returns what stopped."""
    path = state_path(settings)
    state = StackState.load(path)
    if state is None:
        return []
    stopped = []
    for proc in state.services:
        if s3server.pid_alive(proc.pid):
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in state.services:
        while s3server.pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if s3server.pid_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        stopped.append(proc.name)
    if state.s3 is not None and s3server.stop_detached(state.s3.pid, ports=state.s3.ports):
        stopped.append("s3")
    path.unlink(missing_ok=True)
    return stopped


def status(settings: Settings) -> list[ServiceHealth]:
    """Each service's health as a plain grpc health client sees it."""
    state = StackState.load(state_path(settings))
    pids = {s.name: s.pid for s in state.services} if state else {}
    result = []
    for service in SERVICES:
        address = settings.address_of(service)
        result.append(
            ServiceHealth(service.value, address, pids.get(service.value), health_status(address, settings))
        )
    return result
