"""Training jobs in the object store: the job record, its progress events, cancel, checkpoints.

The layout, shared by the training service (which submits, watches and cancels) and the worker
(which runs a job), all keys in the one bucket, JSON through `ObjectStore` (sha256-verified):

- `jobs/<job_id>/job.json`: the `JobRecord` (job id, client request id, the resolved `JobSpec`
  as `to_dict()`, model name, created_at, attempts). Written once, at submit (`create_job`).
- `jobs/<job_id>/events/<seq:012d>.json`: append-only `ProgressEvent`s, seq 1, 2, 3, ... The
  job's state is the state of its last event that carries one (`job_state`); a job with a
  record and no event is queued. `EventWriter` appends (continuing after the last stored seq, so
  a replacement worker goes on where the killed one stopped); `read_events` lists them in order.
- `jobs/<job_id>/cancel`: the marker `request_cancel` writes; the worker polls it.
- `jobs/<job_id>/checkpoints/<slot>/...`: the job's checkpoints (`jobcheckpoints`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from foundry.runtime.errors import AbortedError, AlreadyExistsError, CorruptionError, NotFoundError
from foundry.runtime.manifest import utc_now_iso
from foundry.runtime.objectstore import ObjectStore
from foundry.training.loop.events import JobState
from foundry.training.spec import JobSpec

log = logging.getLogger("foundry.training.jobstore")

JOBS_PREFIX = "jobs/"
JSON_CONTENT_TYPE = "application/json"
TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class EventKind:
    """The kinds of a progress event (`foundry.common.v1.ProgressEventKind` without its prefix)."""

    STATE = "state"
    TRAIN = "train"
    EVAL = "eval"
    CHECKPOINT = "checkpoint"
    EXPORT = "export"
    LOG = "log"

    ALL = frozenset({STATE, TRAIN, EVAL, CHECKPOINT, EXPORT, LOG})


# --- keys ---------------------------------------------------------------------------------------------


def job_prefix(job_id: str) -> str:
    _check_job_id(job_id)
    return f"{JOBS_PREFIX}{job_id}/"


def job_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}job.json"


def events_prefix(job_id: str) -> str:
    return f"{job_prefix(job_id)}events/"


def event_key(job_id: str, seq: int) -> str:
    return f"{events_prefix(job_id)}{seq:012d}.json"


def cancel_key(job_id: str) -> str:
    return f"{job_prefix(job_id)}cancel"


def _check_job_id(job_id: str) -> None:
    if not job_id or "/" in job_id or job_id.strip() != job_id or job_id in (".", ".."):
        raise ValueError(f"invalid job id {job_id!r}")


# --- the job record -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRecord:
    """What the service wrote at submit."""

    job_id: str
    request_id: str
    spec: JobSpec
    model_name: str
    created_at: str = field(default_factory=utc_now_iso)
    attempts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "request_id": self.request_id,
            "spec": self.spec.to_dict(),
            "model_name": self.model_name,
            "created_at": self.created_at,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        return cls(
            job_id=str(data["job_id"]),
            request_id=str(data.get("request_id", "")),
            spec=JobSpec.from_dict(data["spec"]),
            model_name=str(data.get("model_name", "")),
            created_at=str(data.get("created_at", "")),
            attempts=int(data.get("attempts", 0)),
        )


def new_job_id() -> str:
    """A fresh job id (32 hex digits)."""
    return uuid.uuid4().hex


def create_job(store: ObjectStore, record: JobRecord) -> JobRecord:
    """Write `record` as `jobs/<job_id>/job.json`; `AlreadyExistsError` if the job exists."""
    key = job_key(record.job_id)
    if store.exists(key):
        raise AlreadyExistsError(f"job {record.job_id} already exists", reason="JOB_EXISTS")
    put_json(store, key, record.to_dict())
    return record


def get_job(store: ObjectStore, job_id: str) -> JobRecord:
    """The verified record of `job_id` (`NotFoundError` if there is none)."""
    key = job_key(job_id)
    try:
        data = get_json(store, key)
    except NotFoundError as exc:
        raise NotFoundError(f"job {job_id} not found", reason="JOB_NOT_FOUND") from exc
    try:
        return JobRecord.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptionError(f"job record {key!r} is malformed: {exc}", reason="JOB_CORRUPT") from exc


def list_job_ids(store: ObjectStore) -> list[str]:
    """The ids of every job with a record, sorted."""
    ids = [prefix[len(JOBS_PREFIX) : -1] for prefix in store.list_prefixes(JOBS_PREFIX)]
    return sorted(job_id for job_id in ids if store.exists(job_key(job_id)))


# --- progress events ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressEvent:
    """One stored event (`foundry.common.v1.ProgressEvent`, enums as lowercase strings)."""

    seq: int
    job_id: str
    time: str
    kind: str
    state: str
    step: int = 0
    total_steps: int = 0
    epoch: float = 0.0
    loss: float | None = None
    learning_rate: float | None = None
    throughput_tokens_per_s: float | None = None
    throughput_samples_per_s: float | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
    model_version_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "job_id": self.job_id,
            "time": self.time,
            "kind": self.kind,
            "state": self.state,
            "step": self.step,
            "total_steps": self.total_steps,
            "epoch": self.epoch,
            "eval_metrics": dict(self.eval_metrics),
            "message": self.message,
            "model_version_id": self.model_version_id,
        }
        for name in ("loss", "learning_rate", "throughput_tokens_per_s", "throughput_samples_per_s"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressEvent:
        def optional(name: str) -> float | None:
            value = data.get(name)
            return float(value) if value is not None else None

        return cls(
            seq=int(data["seq"]),
            job_id=str(data["job_id"]),
            time=str(data["time"]),
            kind=str(data["kind"]),
            state=str(data.get("state", "")),
            step=int(data.get("step", 0)),
            total_steps=int(data.get("total_steps", 0)),
            epoch=float(data.get("epoch", 0.0)),
            loss=optional("loss"),
            learning_rate=optional("learning_rate"),
            throughput_tokens_per_s=optional("throughput_tokens_per_s"),
            throughput_samples_per_s=optional("throughput_samples_per_s"),
            eval_metrics={str(k): float(v) for k, v in dict(data.get("eval_metrics", {})).items()},
            message=str(data.get("message", "")),
            model_version_id=str(data.get("model_version_id", "")),
        )


def _event_seqs(store: ObjectStore, job_id: str) -> list[int]:
    prefix = events_prefix(job_id)
    seqs = []
    for key in store.keys(prefix):
        name = key[len(prefix) :].removesuffix(".json")
        if name.isdigit():
            seqs.append(int(name))
    return sorted(seqs)


def read_events(store: ObjectStore, job_id: str, after_seq: int = 0) -> list[ProgressEvent]:
    """The events of `job_id` with seq > `after_seq`, in order (verified)."""
    events = []
    for seq in _event_seqs(store, job_id):
        if seq <= after_seq:
            continue
        key = event_key(job_id, seq)
        try:
            event = ProgressEvent.from_dict(get_json(store, key))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptionError(f"event {key!r} is malformed: {exc}", reason="EVENT_CORRUPT") from exc
        if event.seq != seq or event.job_id != job_id:
            raise CorruptionError(f"event {key!r} names seq {event.seq} of job {event.job_id}")
        events.append(event)
    return events


def job_state(store: ObjectStore, job_id: str) -> JobState:
    """The state of the job's last event that carries one; queued when there is none
    (`NotFoundError` when the job has no record either)."""
    for event in reversed(read_events(store, job_id)):
        if event.state:
            return JobState(event.state)
    if not store.exists(job_key(job_id)):
        raise NotFoundError(f"job {job_id} not found", reason="JOB_NOT_FOUND")
    return JobState.QUEUED


class EventWriter:
    """Appends events to a job's stream.

    It continues after the last stored seq, and remembers the job's state so that every event
    it writes carries it (a state change is `state(...)`). The worker and the service may both
    write to one stream (the service writes CANCELLING while the worker runs): before writing
    seq n the writer checks that n is free and, after writing, that the stored event is its own;
    otherwise it catches up with the stream (taking over its state unless the event sets one)
    and writes at the next free seq. (S3 has no create-if-absent here, so two writers racing
    within one round trip could still collide; the stream's writers write seldom enough.)"""

    def __init__(self, store: ObjectStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.seq = 0
        self.current_state = JobState.QUEUED
        self._catch_up()

    def _catch_up(self) -> None:
        for event in read_events(self.store, self.job_id, after_seq=self.seq):
            self.seq = event.seq
            if event.state:
                self.current_state = JobState(event.state)

    def append(self, kind: str, *, state: JobState | None = None, **fields: Any) -> ProgressEvent:
        """Write the next event (`fields` are `ProgressEvent` fields); return it."""
        if kind not in EventKind.ALL:
            raise ValueError(f"unknown event kind {kind!r}")
        for _ in range(100):
            key = event_key(self.job_id, self.seq + 1)
            if self.store.exists(key):
                self._catch_up()
                continue
            event = ProgressEvent(
                seq=self.seq + 1,
                job_id=self.job_id,
                time=utc_now_iso(),
                kind=kind,
                state=(state or self.current_state).value,
                **fields,
            )
            data = _json_bytes(event.to_dict())
            self.store.put_bytes(key, data, content_type=JSON_CONTENT_TYPE)
            if self.store.get_bytes(key) != data:  # another writer took this seq
                self._catch_up()
                continue
            self.seq = event.seq
            if state is not None:
                self.current_state = state
            return event
        raise AbortedError(f"could not append an event to job {self.job_id}: the stream keeps moving")

    def state(self, state: JobState, message: str = "", **fields: Any) -> ProgressEvent:
        return self.append(EventKind.STATE, state=state, message=message, **fields)

    def log(self, message: str, **fields: Any) -> ProgressEvent:
        return self.append(EventKind.LOG, message=message, **fields)


class FollowerWriter(EventWriter):
    """The writer of a worker rank other than 0 under DDP: it reads the job's stream like an
    `EventWriter` (seq, state), but stores nothing. Only rank 0 writes a job's events, state,
    checkpoints and model version; what another rank is asked to write goes to its local log,
    and its state is tracked as if written."""

    def __init__(self, store: ObjectStore, job_id: str, rank: int) -> None:
        super().__init__(store, job_id)
        self.rank = rank

    def append(self, kind: str, *, state: JobState | None = None, **fields: Any) -> ProgressEvent:
        if kind not in EventKind.ALL:
            raise ValueError(f"unknown event kind {kind!r}")
        event = ProgressEvent(
            seq=self.seq,
            job_id=self.job_id,
            time=utc_now_iso(),
            kind=kind,
            state=(state or self.current_state).value,
            **fields,
        )
        log.info("job %s rank %d (not stored): %s %s", self.job_id, self.rank, kind, event.message)
        if state is not None:
            self.current_state = state
        return event


# --- cancel ------------------------------------------------------------------------------------------


def request_cancel(store: ObjectStore, job_id: str) -> None:
    """Write the cancel marker (idempotent)."""
    put_json(store, cancel_key(job_id), {"job_id": job_id, "requested_at": utc_now_iso()})


def cancel_requested(store: ObjectStore, job_id: str) -> bool:
    return store.exists(cancel_key(job_id))


# --- JSON helpers ------------------------------------------------------------------------------------


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")


def put_json(store: ObjectStore, key: str, value: Any) -> None:
    store.put_bytes(key, _json_bytes(value), content_type=JSON_CONTENT_TYPE)


def get_json(store: ObjectStore, key: str) -> Any:
    data = store.get_bytes(key)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise CorruptionError(f"{key!r} is not JSON: {exc}", reason="OBJECT_CORRUPT") from exc


__all__ = [
    "JOBS_PREFIX",
    "TERMINAL_STATES",
    "EventKind",
    "EventWriter",
    "JobRecord",
    "ProgressEvent",
    "cancel_key",
    "cancel_requested",
    "create_job",
    "event_key",
    "events_prefix",
    "get_job",
    "get_json",
    "job_key",
    "job_state",
    "list_job_ids",
    "new_job_id",
    "put_json",
    "read_events",
    "request_cancel",
]
