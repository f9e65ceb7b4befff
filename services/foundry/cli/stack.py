"""The local stack: the embedded S3 server (unless FOUNDRY_S3_ENDPOINT names one) and one process
per service on its fixed local port. State lives in `<home_dir>/stack/state.json`.

With `tls`, the stack makes a local CA and certificates under `<home_dir>/tls/`, serves every
service with mutual TLS, and records the CLI's certificate in its state: later CLI calls
(`client_settings`) pick it up, as they pick up the fixed local addresses."""

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
from foundry.runtime.settings import load_settings as load_env_settings
from foundry.runtime.tls import client_tls_enabled
from foundry.runtime.tlscerts import write_local_tls
from foundry.runtime.tokens import auth_enabled, mint_token

SERVICES: tuple[ServiceName, ...] = tuple(ServiceName)


@dataclass
class ServiceProcess:
    name: str
    pid: int
    address: str
    log: str


@dataclass
class StackTls:
    """The files of a stack started with `tls`: the CA, the services' pair and the CLI's pair."""

    ca_file: str
    server_cert_file: str
    server_key_file: str
    client_cert_file: str
    client_key_file: str


@dataclass
class StackState:
    s3_endpoint: str
    s3: s3server.S3ServerState | None = None  # None: an external S3 server, not ours to stop
    services: list[ServiceProcess] = field(default_factory=list)
    tls: StackTls | None = None  # None: plaintext

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        s3 = s3server.S3ServerState.from_json(json.dumps(raw["s3"])) if raw.get("s3") else None
        services = [ServiceProcess(**s) for s in raw.get("services", [])]
        tls = StackTls(**raw["tls"]) if raw.get("tls") else None
        return cls(s3_endpoint=raw["s3_endpoint"], s3=s3, services=services, tls=tls)

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


def service_token(settings: Settings) -> str:
    """The token the stack's services send one another: FOUNDRY_SERVICE_TOKEN when set, else one
    minted once per home dir and kept (mode 0600) in `<home>/stack/service.token`, so that a
    service restarted alone still shares it with the others."""
    if settings.service_token is not None:
        return settings.service_token.get_secret_value()
    path = stack_dir(settings) / "service.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(mint_token())
    return path.read_text().strip()


def tls_dir(settings: Settings) -> Path:
    return settings.home_dir.resolve() / "tls"


def client_settings(settings: Settings, state: StackState | None = None) -> Settings:
    """`settings`, plus the CLI's certificate when the stack runs TLS and no TLS setting is given."""
    if state is None:
        state = StackState.load(state_path(settings))
    if state is None or state.tls is None or client_tls_enabled(settings):
        return settings
    tls = state.tls
    update = {
        "tls_ca_file": Path(tls.ca_file),
        "tls_cert_file": Path(tls.client_cert_file),
        "tls_key_file": Path(tls.client_key_file),
    }
    return settings.model_copy(update=update)


def load_settings() -> Settings:
    """The CLI's settings: the environment's, plus the running stack's TLS files (`client_settings`)."""
    return client_settings(load_env_settings())


def _make_tls(settings: Settings) -> StackTls:
    files = write_local_tls(tls_dir(settings))
    return StackTls(**{name: str(path) for name, path in asdict(files).items()})


def _service_env(settings: Settings, state: StackState, service: ServiceName) -> dict[str, str]:
    """The CLI's environment for a service process: the stack's S3 endpoint and ports; with TLS,
    the service certificate; with auth on, the stack's service token (the CLI keeps sending
    FOUNDRY_AUTH_TOKEN, an admin token)."""
    env = dict(os.environ)
    s3_endpoint = state.s3_endpoint
    if state.tls is not None:  # mutual TLS; each service presents its certificate to its peers
        env["FOUNDRY_TLS_CERT_FILE"] = state.tls.server_cert_file
        env["FOUNDRY_TLS_KEY_FILE"] = state.tls.server_key_file
        env["FOUNDRY_TLS_CA_FILE"] = state.tls.ca_file
        env["FOUNDRY_TLS_CLIENT_AUTH"] = "true"
    if auth_enabled(settings):
        env["FOUNDRY_SERVICE_TOKEN"] = service_token(settings)
    env["FOUNDRY_S3_ENDPOINT"] = s3_endpoint
    env["FOUNDRY_GRPC_PORT"] = settings.address_of(service).rsplit(":", 1)[1]
    if env.get("FOUNDRY_METRICS_PORT") != "0":  # 0 turns metrics off; anything else: per-service defaults
        env.pop("FOUNDRY_METRICS_PORT", None)
    env["FOUNDRY_HOME_DIR"] = str(settings.home_dir.resolve())
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _start_service(settings: Settings, state: StackState, service: ServiceName, logs: Path) -> ServiceProcess:
    log_path = logs / f"{service.value}.log"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"foundry.{service.value}"],
            env=_service_env(settings, state, service),
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


def up(settings: Settings, timeout_s: float = 90.0, tls: bool = False) -> StackState:
    """Start whatever part of the stack is not running, then wait until every service answers
    SERVING. A stack that was never started (or was stopped) is started whole; in a started one,
    an embedded S3 server that died is started again on its ports with its data, and each service
    whose process is gone is started again; what runs is left alone (a service that is
    NOT_SERVING only because the object store was down turns SERVING by itself). With `tls`, a
    plaintext stack is stopped and started whole with fresh certificates, every service on mutual
    TLS; without it, a running TLS stack stays as it is."""
    path = state_path(settings)
    root = stack_dir(settings)
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    state = StackState.load(path)
    if state is not None and tls and state.tls is None:
        down(settings)
        state = None
    if state is None:
        state = _start_object_store(settings, root, None)
        state.tls = _make_tls(settings) if tls else None
    elif state.s3 is not None and not s3server.weed_alive(state.s3.pid):
        state.s3 = _start_object_store(settings, root, state.s3.ports).s3
    state.save(path)
    running = {p.name: p for p in state.services if _service_alive(p)}
    state.services = []
    for service in SERVICES:
        proc = running.get(service.value) or _start_service(settings, state, service, logs)
        state.services.append(proc)
        state.save(path)
    _wait_serving(client_settings(settings, state), state, timeout_s)
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
    settings = client_settings(settings, state)
    result = []
    for service in SERVICES:
        address = settings.address_of(service)
        result.append(
            ServiceHealth(service.value, address, pids.get(service.value), health_status(address, settings))
        )
    return result
