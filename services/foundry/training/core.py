"""The training service's core: jobs are validated, recorded and handed to the executor; their
events are read back and watched; model versions and base models are looked up. It knows
nothing of gRPC (the servicer converts).

Everything a job needs is checked before it is recorded (no compute starts on a bad spec): the
spec itself (`JobSpec.check`), the dataset version (exists, same task), the base model (exists,
can be trained for the task).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from foundry.domain import base_models, modelversions
from foundry.domain.modelversions import ModelVersion
from foundry.domain.retention import deletion
from foundry.domain.retention.tombstones import Tombstone
from foundry.runtime import datasets
from foundry.runtime.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
)
from foundry.runtime.examples import Task
from foundry.runtime.listing import CorruptEntry
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.training import jobstore
from foundry.training.baseimport import ImportHeader, ImportSession
from foundry.training.executor import JobExecutor
from foundry.training.jobstore import TERMINAL_STATES, EventWriter, JobRecord, ProgressEvent
from foundry.training.loop.events import JobState
from foundry.training.search.report import SearchReport, read_report
from foundry.training.search.runner import SearchRunner, is_search
from foundry.training.settings import TrainingSettings
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec

log = logging.getLogger("foundry.training.core")

BY_REQUEST_PREFIX = "jobs/by-request/"


def request_key(request_id: str) -> str:
    """The index object of a client request id: it names the job that the id created."""
    return BY_REQUEST_PREFIX + hashlib.sha256(request_id.encode("utf-8")).hexdigest()


def state_of(events: Sequence[ProgressEvent]) -> JobState:
    """The state of the last event that carries one (queued when none does)."""
    for event in reversed(events):
        if event.state:
            return JobState(event.state)
    return JobState.QUEUED


@dataclass(frozen=True)
class JobView:
    """A job as reported: its record and what its events say."""

    record: JobRecord
    state: JobState
    last_event: ProgressEvent | None
    error: str
    executor: str
    started_at: str
    finished_at: str
    model_version_id: str
    #: a search job's trials (None for other jobs, or before the search wrote its report)
    search: SearchReport | None = None


@dataclass(frozen=True)
class SubmitOutcome:
    #: None for validate_only
    job: JobView | None
    spec: JobSpec
    created: bool


class TrainingCore:
    def __init__(self, store: ObjectStore, settings: TrainingSettings, executor: JobExecutor) -> None:
        self.store = store
        self.settings = settings
        self.executor = executor
        self._searches: dict[str, SearchRunner] = {}

    # --- submit ---------------------------------------------------------------------------------

    def submit_job(self, request_id: str, spec: JobSpec, *, validate_only: bool = False) -> SubmitOutcome:
        spec.check()
        fingerprint = hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()
        if request_id and not validate_only:
            existing = self._by_request(request_id)
            if existing is not None:
                job_id, known_fingerprint = existing
                if known_fingerprint != fingerprint:
                    raise AlreadyExistsError(
                        f"request id {request_id!r} was used for job {job_id} with another spec",
                        reason="REQUEST_ID_REUSED",
                        violations=[FieldViolation("request_id", "already used with another spec")],
                        metadata={"job_id": job_id},
                    )
                view = self.get_job(job_id)
                return SubmitOutcome(view, view.record.spec, False)
        resolved = self.resolve(spec)
        if validate_only:
            return SubmitOutcome(None, resolved, False)
        job_id = jobstore.new_job_id()
        jobstore.create_job(self.store, JobRecord(job_id, request_id, resolved, resolved.model_name))
        EventWriter(self.store, job_id).state(JobState.QUEUED, "queued")
        if request_id:
            index = {"job_id": job_id, "spec_sha256": fingerprint}
            self.store.put_bytes(
                request_key(request_id), json.dumps(index).encode(), content_type="application/json"
            )
        if is_search(resolved):
            self._start_search(job_id)
        else:
            self.executor.submit(job_id)
        return SubmitOutcome(self.get_job(job_id), resolved, True)

    # --- searches -------------------------------------------------------------------------------

    def _start_search(self, job_id: str) -> None:
        """Run the search job in a thread of this service (its trials go to the executor)."""
        running = self._searches.get(job_id)
        if running is not None and running.thread.is_alive():
            return
        runner = SearchRunner(
            self.store,
            job_id,
            submit=lambda request_id, spec: self._submit_child(request_id, spec),
            cancel=self.cancel,
            poll_interval_s=self.settings.training_poll_interval_s,
        )
        self._searches[job_id] = runner
        runner.start()

    def _submit_child(self, request_id: str, spec: JobSpec) -> str:
        outcome = self.submit_job(request_id, spec)
        assert outcome.job is not None
        return outcome.job.record.job_id

    def close(self) -> None:
        """Stop the search threads (their children keep running; the next start resumes them)."""
        for runner in list(self._searches.values()):
            runner.stop()

    def resume_searches(self) -> None:
        """At start: run again every search job that had not finished (the executors leave them
        alone; their children are jobs like any other)."""
        for job_id in jobstore.list_job_ids(self.store):
            try:
                record = jobstore.get_job(self.store, job_id)
                if is_search(record.spec) and jobstore.job_state(self.store, job_id) not in TERMINAL_STATES:
                    self._start_search(job_id)
            except Exception:  # a broken job must not stop the service from starting
                log.exception("cannot resume search", extra={"job_id": job_id})

    def _by_request(self, request_id: str) -> tuple[str, str] | None:
        key = request_key(request_id)
        if not self.store.exists(key):
            return None
        raw = json.loads(self.store.get_bytes(key))
        return str(raw["job_id"]), str(raw.get("spec_sha256", ""))

    def resolve(self, spec: JobSpec) -> JobSpec:
        """The spec with every default filled in and its dataset and base model pinned to
        versions that exist and fit the task; FAILED_PRECONDITION or NOT_FOUND naming the field."""
        resolved = spec.resolved()
        dataset = self._dataset(resolved.dataset)
        if dataset.task is not resolved.task:
            raise FailedPreconditionError(
                f"dataset {dataset.name}@{dataset.version_id} is a {dataset.task.value} dataset, "
                f"the job's task is {resolved.task.value}",
                reason="DATASET_TASK_MISMATCH",
                violations=[FieldViolation("dataset", f"task {dataset.task.value} != {resolved.task.value}")],
            )
        if is_search(resolved) and not dataset.split_counts.get(resolved.eval_split.value, 0):
            raise FailedPreconditionError(
                f"a search scores its trials on the {resolved.eval_split.value} split, and dataset "
                f"{dataset.name}@{dataset.version_id[:12]} has none",
                reason="SEARCH_NEEDS_EVAL_SPLIT",
                violations=[FieldViolation("search.budget", f"needs a {resolved.eval_split.value} split")],
            )
        base = self._base_model(resolved.base_model, resolved.task)
        return replace(resolved, dataset=DatasetRef(dataset.name, dataset.version_id), base_model=base)

    def _dataset(self, ref: DatasetRef) -> DatasetManifest:
        if ref.version_id:
            try:
                return datasets.get_manifest(self.store, ref.name, ref.version_id)
            except NotFoundError as exc:
                raise NotFoundError(
                    exc.message,
                    reason=exc.reason,
                    violations=[FieldViolation("dataset.version_id", "not found")],
                ) from exc
        versions = datasets.list_versions(self.store, ref.name)
        if not versions:
            raise NotFoundError(
                f"no dataset named {ref.name!r}",
                reason="DATASET_NOT_FOUND",
                violations=[FieldViolation("dataset.name", "no such dataset")],
            )
        return versions[0]

    def _base_model(self, ref: BaseModelRef, task: Task) -> BaseModelRef:
        if ref.kind == "model_version":
            try:
                version = self.get_model(ref.name, ref.version_id)
            except (NotFoundError, InvalidArgumentError) as exc:
                raise NotFoundError(
                    exc.message,
                    reason=exc.reason,
                    violations=[FieldViolation("base_model", "no such model version")],
                ) from exc
            if version.task != task.value:
                raise FailedPreconditionError(
                    f"model {ref.name} was trained for {version.task}, not {task.value}",
                    reason="BASE_MODEL_TASK_MISMATCH",
                    violations=[FieldViolation("base_model", "trained for another task")],
                )
            return BaseModelRef("model_version", ref.name, version.version_id)
        try:
            manifest = base_models.get_base_model(self.store, ref.name, ref.version_id)
        except NotFoundError as exc:
            raise NotFoundError(
                exc.message,
                reason=exc.reason,
                violations=[FieldViolation("base_model", "no such base model")],
                metadata=exc.metadata,
            ) from exc
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                exc.message, reason=exc.reason, violations=[FieldViolation("base_model", str(exc))]
            ) from exc
        if manifest.tasks and task not in manifest.tasks:
            raise FailedPreconditionError(
                f"base model {ref.name} cannot be trained for {task.value}",
                reason="BASE_MODEL_TASK_MISMATCH",
                violations=[
                    FieldViolation("base_model", f"supports {', '.join(t.value for t in manifest.tasks)}")
                ],
            )
        return BaseModelRef("imported", manifest.name, manifest.version_id)

    # --- jobs -----------------------------------------------------------------------------------

    def _record(self, job_id: str) -> JobRecord:
        try:
            return jobstore.get_job(self.store, job_id)
        except ValueError as exc:  # not a job id at all
            raise NotFoundError(
                f"job {job_id!r} not found",
                reason="JOB_NOT_FOUND",
                violations=[FieldViolation("job_id", str(exc))],
            ) from exc

    def get_job(self, job_id: str) -> JobView:
        record = self._record(job_id)
        return self._view(record, jobstore.read_events(self.store, job_id))

    def _view(self, record: JobRecord, events: Sequence[ProgressEvent]) -> JobView:
        state = state_of(events)
        started = next((e.time for e in events if e.state == JobState.RUNNING), "")
        finished = next((e.time for e in events if e.state in TERMINAL_STATES), "")
        final = next((e for e in reversed(events) if e.state in TERMINAL_STATES), None)
        error = final.message if final is not None and final.state != JobState.SUCCEEDED else ""
        model_version_id = next((e.model_version_id for e in reversed(events) if e.model_version_id), "")
        return JobView(
            record=record,
            state=state,
            last_event=events[-1] if events else None,
            error=error,
            executor=self.executor.name,
            started_at=started,
            finished_at=finished,
            model_version_id=model_version_id,
            search=read_report(self.store, record.job_id) if is_search(record.spec) else None,
        )

    def list_jobs(self, states: Sequence[JobState] = (), model_name: str = "") -> list[JobView]:
        """Every job (filtered), newest first."""
        views = []
        for job_id in jobstore.list_job_ids(self.store):
            try:
                record = self._record(job_id)
            except NotFoundError:
                continue  # a job being created
            if model_name and record.model_name != model_name:
                continue
            view = self._view(record, jobstore.read_events(self.store, job_id))
            if states and view.state not in states:
                continue
            views.append(view)
        return sorted(views, key=lambda v: (v.record.created_at, v.record.job_id), reverse=True)

    async def watch(self, job_id: str, after_seq: int = 0) -> AsyncIterator[list[ProgressEvent]]:
        """Batches of events with seq > after_seq, as they are written, until the one that
        carries a final state. Polls the store with one short read per poll in a worker thread
        and waits on the event loop, so a watcher holds no thread while its job is quiet."""
        await asyncio.to_thread(self._record, job_id)
        seen = after_seq
        state = await asyncio.to_thread(jobstore.job_state, self.store, job_id)
        while True:
            new = await asyncio.to_thread(jobstore.read_events, self.store, job_id, seen)
            if new:
                seen = new[-1].seq
                state = state_of(new) if any(e.state for e in new) else state
                yield new
            if state in TERMINAL_STATES:
                return
            if not new:
                await asyncio.sleep(self.settings.training_poll_interval_s)

    def cancel(self, job_id: str, reason: str = "") -> JobView:
        view = self.get_job(job_id)
        if view.state in TERMINAL_STATES or view.state is JobState.CANCELLING:
            return view
        message = reason or "cancel requested"
        jobstore.request_cancel(self.store, job_id)
        if view.state is JobState.QUEUED and not self.executor.alive(job_id):
            self.executor.cancel(job_id)
            EventWriter(self.store, job_id).state(
                JobState.CANCELLED, f"cancelled before it started: {message}"
            )
        else:
            EventWriter(self.store, job_id).state(JobState.CANCELLING, message)
        return self.get_job(job_id)

    # --- model versions ---------------------------------------------------------------------------

    def list_models(
        self,
        name: str = "",
        task: Task | None = None,
        *,
        include_rejected: bool = False,
        corrupt: list[CorruptEntry] | None = None,
    ) -> list[ModelVersion]:
        """Model versions (of `name`, or all), newest first; corrupt ones go to `corrupt` if given."""
        try:
            versions = modelversions.list_model_versions(
                self.store, name, include_rejected=include_rejected, corrupt=corrupt
            )
        except ValueError as exc:
            raise InvalidArgumentError(str(exc), violations=[FieldViolation("name", str(exc))]) from exc
        return [v for v in versions if task is None or v.task == task.value]

    def delete_model(
        self, name: str, version_id: str, *, force: bool, deleted_by: str, reason: str
    ) -> Tombstone:
        """Delete `name@version_id` (see `foundry.domain.retention.deletion`)."""
        if not version_id:
            raise InvalidArgumentError(
                "name the version to delete", violations=[FieldViolation("model.version_id", "required")]
            )
        return deletion.delete_model_version(
            self.store, name, version_id, force=force, deleted_by=deleted_by, reason=reason
        ).tombstone

    def get_model(self, name: str, version_id: str = "") -> ModelVersion:
        """`name@version_id`; the latest promoted version when `version_id` is empty."""
        try:
            return modelversions.get_model_version(self.store, name, version_id)
        except ValueError as exc:
            raise InvalidArgumentError(str(exc), violations=[FieldViolation("model", str(exc))]) from exc
        except NotFoundError as exc:
            raise NotFoundError(
                exc.message, reason=exc.reason, violations=[FieldViolation("model", "not found")]
            ) from exc

    # --- base models ------------------------------------------------------------------------------

    def begin_import(self, header: ImportHeader) -> ImportSession:
        header.check()
        work = self.settings.home_dir / "training" / "imports"
        work.mkdir(parents=True, exist_ok=True)
        return ImportSession(self.store, header, Path(tempfile.mkdtemp(prefix="import-", dir=work)))

    def list_base_models(
        self, name: str = "", *, corrupt: list[CorruptEntry] | None = None
    ) -> list[base_models.BaseModelManifest]:
        """Newest first; corrupt ones go to `corrupt` if given."""
        manifests = base_models.list_base_models(self.store, name or None, corrupt=corrupt)
        return sorted(manifests, key=lambda m: (m.created_at, m.name), reverse=True)
