"""Where training jobs run: the `JobExecutor` interface and the `LocalExecutor`.

A job runs as a worker process, `python -m foundry.training.worker --job-id ID`, that reads the
job from the object store and writes its events and checkpoints there; the executor only starts,
watches and restarts workers. The Kubernetes executor (the deployment issue) implements the same
interface and runs the same worker.

`LocalExecutor`: each worker in its own session (a signal to the service does not reach it),
with the service's settings as `FOUNDRY_*` variables, its output in
`<home_dir>/training/logs/<job_id>.log`, its pid in `<home_dir>/training/executor/<job_id>.json`.
At most `training_max_local_jobs` run at once; the rest wait in a queue, first in first out.
`reconcile()` (at service start) looks at every job that is not finished: a live worker is
re-attached, a dead one is started again (attempts + 1) and resumes from its checkpoint. A recipe
search job has no worker of its own (the core runs it; its trials are jobs like any other).
"""

from __future__ import annotations

import abc
import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from foundry.runtime.manifest import utc_now_iso
from foundry.runtime.objectstore import ObjectStore
from foundry.training import jobstore
from foundry.training.jobstore import TERMINAL_STATES, EventWriter
from foundry.training.loop.events import JobState
from foundry.training.search.runner import is_search
from foundry.training.settings import TrainingSettings

log = logging.getLogger("foundry.training.executor")

WORKER_MODULE = "foundry.training.worker"
#: worker starts of one job before a worker that keeps dying fails the job
MAX_ATTEMPTS = 3
#: states in which a worker is (or should be) at work
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})


class JobExecutor(abc.ABC):
    """Runs jobs' workers. Every method is quick (no waiting for the job)."""

    name: str = ""

    @abc.abstractmethod
    def submit(self, job_id: str) -> None:
        """Run the job (now, or when a slot frees up)."""

    @abc.abstractmethod
    def cancel(self, job_id: str) -> None:
        """The job was cancelled: drop it from the queue (a running worker sees the marker)."""

    @abc.abstractmethod
    def alive(self, job_id: str) -> bool:
        """Whether a worker of the job is running."""

    @abc.abstractmethod
    def reconcile(self) -> None:
        """At start: re-attach live workers, restart dead ones of unfinished jobs."""

    def close(self) -> None:  # noqa: B027  # optional hook
        """Stop watching (workers keep running)."""


class PollingMonitor:
    """A daemon thread that calls `poll` every `interval_s` until `stop`; a failed poll is logged
    and the next one runs. `ensure` (re)starts the thread when it is not running."""

    def __init__(self, name: str, poll: Callable[[], None], interval_s: float) -> None:
        self.name, self.poll, self.interval_s = name, poll, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:
                log.exception("executor poll failed", extra={"monitor": self.name})


def worker_environment(settings: TrainingSettings) -> dict[str, str]:
    """The service's environment plus every setting as a `FOUNDRY_*` variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"FOUNDRY_{name.upper()}"] = str(value)
    return env


@dataclass
class _Running:
    job_id: str
    pid: int
    process: subprocess.Popen[bytes] | None = None  # None: re-attached (not our child)

    def exit_code(self) -> int | None:
        """None while running; the exit code (or -1 when unknown) once it ended."""
        if self.process is not None:
            return self.process.poll()
        return None if _pid_alive(self.pid, self.job_id) else -1


def _pid_alive(pid: int, job_id: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a reused pid runs something else
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            return False
        return job_id in text
    return True


class LocalExecutor(JobExecutor):
    name = "local"

    def __init__(
        self,
        settings: TrainingSettings,
        store: ObjectStore,
        *,
        worker_command: Sequence[str] = (sys.executable, "-m", WORKER_MODULE),
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """`worker_command` runs a worker (`--job-id ID` is appended); a job whose worker dies
        without a final state is started again until it has had `max_attempts` starts."""
        self.max_attempts = max_attempts
        self.settings = settings
        self.worker_command = tuple(worker_command)
        self.store = store
        self.root = settings.home_dir / "training"
        self.logs_dir = self.root / "logs"
        self.pids_dir = self.root / "executor"
        self.max_jobs = settings.training_max_local_jobs
        self._lock = threading.Lock()
        self._queue: deque[str] = deque()
        self._running: dict[str, _Running] = {}
        self._monitor = PollingMonitor("local-executor", self.poll, settings.training_poll_interval_s)

    # --- the interface ------------------------------------------------------------------------

    def submit(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._queue and job_id not in self._running:
                self._queue.append(job_id)
            self._fill_slots()
        self._monitor.ensure()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._queue:
                self._queue.remove(job_id)

    def alive(self, job_id: str) -> bool:
        with self._lock:
            running = self._running.get(job_id)
            return running is not None and running.exit_code() is None

    def queued(self) -> list[str]:
        with self._lock:
            return list(self._queue)

    def reconcile(self) -> None:
        for job_id in jobstore.list_job_ids(self.store):
            try:
                state = jobstore.job_state(self.store, job_id)
            except Exception:  # a broken job must not stop the service from starting
                log.exception("cannot read job events", extra={"job_id": job_id})
                continue
            if state not in ACTIVE_STATES or is_search(jobstore.get_job(self.store, job_id).spec):
                continue  # finished, or a search (the core runs those; their trials are jobs here)
            pid = self._read_pid(job_id)
            if pid is not None and _pid_alive(pid, job_id):
                log.info("re-attached worker", extra={"job_id": job_id, "pid": pid})
                with self._lock:
                    self._running[job_id] = _Running(job_id, pid)
            elif state is JobState.CANCELLING and pid is None:
                EventWriter(self.store, job_id).state(JobState.CANCELLED, "cancelled before it started")
            else:
                log.info("restarting job", extra={"job_id": job_id, "state": str(state)})
                with self._lock:
                    if job_id not in self._queue:
                        self._queue.append(job_id)
        with self._lock:
            self._fill_slots()
        self._monitor.ensure()

    def close(self) -> None:
        self._monitor.stop()

    # --- workers ------------------------------------------------------------------------------

    def _fill_slots(self) -> None:
        """Start queued jobs while there is room (the lock is held)."""
        while self._queue and len(self._running) < self.max_jobs:
            job_id = self._queue.popleft()
            try:
                self._running[job_id] = self._start(job_id)
            except _AlreadyCancelled:
                continue
            except Exception as exc:
                log.exception("could not start worker", extra={"job_id": job_id})
                EventWriter(self.store, job_id).state(
                    JobState.FAILED, f"the worker could not be started: {exc}"
                )

    def _start(self, job_id: str) -> _Running:
        if jobstore.job_state(self.store, job_id) in TERMINAL_STATES:  # cancelled while it waited
            raise _AlreadyCancelled(job_id)
        attempts = self._bump_attempts(job_id)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.pids_dir.mkdir(parents=True, exist_ok=True)
        with (self.logs_dir / f"{job_id}.log").open("ab") as out:
            process = subprocess.Popen(
                [*self.worker_command, "--job-id", job_id],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=worker_environment(self.settings),
                start_new_session=True,
            )
        self._write_pid(job_id, process.pid, attempts)
        log.info("started worker", extra={"job_id": job_id, "pid": process.pid, "attempt": attempts})
        return _Running(job_id, process.pid, process)

    def _bump_attempts(self, job_id: str) -> int:
        """Count one more worker start in the job record (the only rewrite of job.json)."""
        record = jobstore.get_job(self.store, job_id)
        bumped = replace(record, attempts=record.attempts + 1)
        data = json.dumps(bumped.to_dict(), sort_keys=True).encode("utf-8")
        self.store.put_bytes(jobstore.job_key(job_id), data, content_type=jobstore.JSON_CONTENT_TYPE)
        return bumped.attempts

    def _pid_file(self, job_id: str) -> Path:
        return self.pids_dir / f"{job_id}.json"

    def _write_pid(self, job_id: str, pid: int, attempt: int) -> None:
        data = {"job_id": job_id, "pid": pid, "attempt": attempt, "started_at": utc_now_iso()}
        self._pid_file(job_id).write_text(json.dumps(data))

    def _read_pid(self, job_id: str) -> int | None:
        try:
            raw: Any = json.loads(self._pid_file(job_id).read_text())
            return int(raw["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # --- polling -----------------------------------------------------------------------------------

    def poll(self) -> None:
        """Reap finished workers, mark jobs whose worker died without a final state, fill slots."""
        with self._lock:
            codes = {j: r.exit_code() for j, r in self._running.items()}
            ended = {j: code for j, code in codes.items() if code is not None}
            for job_id in ended:
                del self._running[job_id]
        for job_id, code in ended.items():
            self._settle(job_id, code)
        with self._lock:
            self._fill_slots()

    def _settle(self, job_id: str, code: int) -> None:
        """A worker ended. Its job has a final state (the usual case), or the worker died: a
        cancelling job is then cancelled, any other is started again (it resumes from its last
        checkpoint) until it has had `max_attempts` starts, then failed."""
        self._pid_file(job_id).unlink(missing_ok=True)
        state = jobstore.job_state(self.store, job_id)
        log.info("worker ended", extra={"job_id": job_id, "exit_code": code, "state": str(state)})
        if state in TERMINAL_STATES:
            return
        died = f"the worker exited with code {code} before the job finished"
        if state is JobState.CANCELLING:
            EventWriter(self.store, job_id).state(JobState.CANCELLED, died)
        elif jobstore.get_job(self.store, job_id).attempts < self.max_attempts:
            EventWriter(self.store, job_id).log(f"{died}; starting it again")
            with self._lock:
                if job_id not in self._queue:
                    self._queue.appendleft(job_id)
        else:
            EventWriter(self.store, job_id).state(JobState.FAILED, f"{died} ({self.max_attempts} attempts)")


class _AlreadyCancelled(Exception):
    pass
