"""The LocalExecutor against a real S3 server, with a stand-in worker command (a process that
sleeps) so that liveness, the queue and reconciliation can be seen without training."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.executor import LocalExecutor, worker_environment
from foundry.training.jobstore import EventWriter, JobRecord
from foundry.training.loop.events import JobState
from foundry.training.settings import TrainingSettings
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec

SLEEPER = (sys.executable, "-c", "import time; time.sleep(120)")


def new_job(store: ObjectStore, state: JobState | None = None) -> str:
    spec = JobSpec(Task.TOKEN_CLASSIFICATION, BaseModelRef("imported", "tiny"), DatasetRef("ner")).resolved()
    record = jobstore.create_job(store, JobRecord(jobstore.new_job_id(), "", spec, spec.model_name))
    writer = EventWriter(store, record.job_id)
    writer.state(JobState.QUEUED, "queued")
    if state is not None:
        writer.state(state, "")
    return record.job_id


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def local(settings: Settings) -> TrainingSettings:
    return TrainingSettings(
        **{**settings.model_dump(), "training_poll_interval_s": 0.05, "training_max_local_jobs": 1}
    )


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids of the process groups a test started (the executor's workers too), ended afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def worker_pid(settings: Settings, job_id: str) -> int:
    raw = json.loads((settings.home_dir / "training" / "executor" / f"{job_id}.json").read_text())
    return int(raw["pid"])


def test_jobs_queue_behind_the_limit_and_a_cancelled_one_never_starts(
    local: TrainingSettings, store: ObjectStore, started: list[int]
) -> None:
    executor = LocalExecutor(local, store, worker_command=SLEEPER, max_attempts=2)
    first, second, third = new_job(store), new_job(store), new_job(store)
    try:
        for job_id in (first, second, third):
            executor.submit(job_id)
        started.append(worker_pid(local, first))
        assert executor.alive(first) and executor.queued() == [second, third]
        assert jobstore.get_job(store, first).attempts == 1
        assert (local.home_dir / "training" / "logs" / f"{first}.log").exists()

        executor.cancel(second)
        EventWriter(store, second).state(JobState.CANCELLED, "cancelled")
        os.killpg(worker_pid(local, first), signal.SIGKILL)  # the worker dies without a final state
        wait_for(lambda: jobstore.get_job(store, first).attempts == 2 and executor.alive(first))
        started.append(worker_pid(local, first))  # started again, ahead of the queue
        assert executor.queued() == [third] and jobstore.job_state(store, first) is JobState.QUEUED
        os.killpg(worker_pid(local, first), signal.SIGKILL)  # and again: out of attempts
        wait_for(lambda: executor.alive(third))
        started.append(worker_pid(local, third))
        assert jobstore.job_state(store, first) is JobState.FAILED
        assert "exited" in jobstore.read_events(store, first)[-1].message
        assert jobstore.get_job(store, second).attempts == 0 and executor.queued() == []
    finally:
        executor.close()


def test_reconcile_reattaches_live_workers_and_restarts_dead_ones(
    local: TrainingSettings, store: ObjectStore, started: list[int], tmp_path: Path
) -> None:
    live, dead, done = new_job(store, JobState.RUNNING), new_job(store, JobState.RUNNING), new_job(store)
    EventWriter(store, done).state(JobState.SUCCEEDED, "done")
    pids_dir = local.home_dir / "training" / "executor"
    pids_dir.mkdir(parents=True)
    # a worker still running from before the restart (its command line names its job)
    survivor = subprocess.Popen([*SLEEPER, "--job-id", live], start_new_session=True)
    started.append(survivor.pid)
    (pids_dir / f"{live}.json").write_text(json.dumps({"job_id": live, "pid": survivor.pid}))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (pids_dir / f"{dead}.json").write_text(json.dumps({"job_id": dead, "pid": gone.pid}))

    two_slots = local.model_copy(update={"training_max_local_jobs": 2})
    executor = LocalExecutor(two_slots, store, worker_command=SLEEPER)
    try:
        executor.reconcile()
        assert executor.alive(live) and jobstore.get_job(store, live).attempts == 0  # re-attached
        assert executor.alive(dead) and executor.queued() == []
        started.append(worker_pid(local, dead))
        assert worker_pid(local, dead) != gone.pid
        assert jobstore.get_job(store, dead).attempts == 1  # restarted: it resumes from its checkpoint
        assert jobstore.job_state(store, done) is JobState.SUCCEEDED and not executor.alive(done)

        survivor.kill()  # the re-attached worker dies: its job is started again
        survivor.wait()
        wait_for(lambda: jobstore.get_job(store, live).attempts == 1 and executor.alive(live))
        started.append(worker_pid(local, live))
        assert jobstore.job_state(store, live) is JobState.RUNNING
    finally:
        executor.close()


def test_the_worker_gets_every_setting_as_a_foundry_variable(local: TrainingSettings) -> None:
    env = worker_environment(local)
    assert env["FOUNDRY_S3_ENDPOINT"] == local.s3_endpoint
    assert env["FOUNDRY_S3_SECRET_KEY"] == local.s3_secret_key.get_secret_value()
    assert env["FOUNDRY_HOME_DIR"] == str(local.home_dir)
    assert env["FOUNDRY_TRAINING_MAX_LOCAL_JOBS"] == "1"
