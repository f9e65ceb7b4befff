"""`KubernetesExecutor`: each training job runs as Kubernetes workloads (see `jobs`), watched
and settled like the `LocalExecutor`'s worker processes (see `lifecycle`).

- `submit`: count an attempt in the job record, create the attempt's Job (with its rendezvous
  Service across nodes) or PyTorchJob. Kubernetes is the queue (a cluster with Kueue or quotas
  decides when it starts).
- `cancel` (a queued job whose workload is not running yet): delete its workloads. A running
  worker sees the cancel marker by itself; the monitor deletes its workload when it has not
  stopped `k8s_cancel_grace_s` after the cancel, and records CANCELLED.
- `alive`: the job's latest workload exists and has not finished.
- `reconcile` (service start): list the workloads by label; re-attach those of unfinished jobs,
  settle those that ended while the service was away, start jobs that have none.
- the monitor (every `k8s_poll_interval_s`): one list call, then `lifecycle.decide` per job.

Only the API calls live in `KubeApi`; the objects and decisions are plain functions.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3

from foundry.runtime.errors import UnavailableError
from foundry.runtime.objectstore import ObjectStore
from foundry.training import jobstore
from foundry.training.executor import ACTIVE_STATES, MAX_ATTEMPTS, JobExecutor, PollingMonitor
from foundry.training.jobstore import EventWriter
from foundry.training.k8s import jobs
from foundry.training.k8s.config import TrainerConfig
from foundry.training.k8s.lifecycle import Action, Observed, Phase, decide, describe, phase_of
from foundry.training.loop.events import JobState
from foundry.training.search.runner import is_search
from foundry.training.settings import TrainingSettings

log = logging.getLogger("foundry.training.k8s")

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
PYTORCHJOB = ("kubeflow.org", "v1", "pytorchjobs")


def current_namespace(settings: TrainingSettings) -> str:
    """The setting, else the pod's own namespace (in a cluster), else `default`."""
    if settings.k8s_namespace:
        return settings.k8s_namespace
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


class KubeApi:
    """The few API calls the executor makes, on dicts, through the official client."""

    def __init__(self, namespace: str, backend: str, client_api: Any | None = None) -> None:
        from kubernetes import client, config

        if client_api is None:
            if os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            else:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            client_api = client.ApiClient()
        self.api_client = client_api
        self.namespace = namespace
        self.backend = backend
        self.batch = client.BatchV1Api(client_api)
        self.core = client.CoreV1Api(client_api)
        self.custom = client.CustomObjectsApi(client_api)
        self._api_exception: type[Exception] = client.ApiException

    def _call(self, what: str, fn: Any, *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._api_exception as exc:
            status = getattr(exc, "status", None)
            if status == 409 and what.startswith("create"):
                return None  # already there: creating is idempotent
            if status == 404 and missing_ok:
                return None
            raise UnavailableError(
                f"Kubernetes API: {what} failed ({status} {getattr(exc, 'reason', '')})",
                reason="KUBERNETES_API_ERROR",
            ) from exc
        except urllib3.exceptions.HTTPError as exc:  # the API server cannot be reached
            raise UnavailableError(
                f"Kubernetes API: {what} failed: {exc}", reason="KUBERNETES_API_UNREACHABLE"
            ) from exc

    def create_workload(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create it; the created object (None when it existed already)."""
        if body["kind"] == "PyTorchJob":
            group, version, plural = PYTORCHJOB
            created = self._call(
                "create PyTorchJob",
                self.custom.create_namespaced_custom_object,
                group,
                version,
                self.namespace,
                plural,
                body,
            )
            return dict(created) if created is not None else None
        created = self._call("create Job", self.batch.create_namespaced_job, self.namespace, body)
        return self.api_client.sanitize_for_serialization(created) if created is not None else None  # type: ignore[no-any-return]

    def create_service(self, body: dict[str, Any]) -> None:
        self._call("create Service", self.core.create_namespaced_service, self.namespace, body)

    def list_workloads(self, selector: str) -> list[dict[str, Any]]:
        if self.backend == "pytorchjob":
            group, version, plural = PYTORCHJOB
            listed = self._call(
                "list PyTorchJobs",
                self.custom.list_namespaced_custom_object,
                group,
                version,
                self.namespace,
                plural,
                label_selector=selector,
            )
            return [dict(item) for item in listed.get("items", [])]
        listed = self._call(
            "list Jobs", self.batch.list_namespaced_job, self.namespace, label_selector=selector
        )
        return [self.api_client.sanitize_for_serialization(item) for item in listed.items]

    def delete_workload(self, name: str) -> None:
        if self.backend == "pytorchjob":
            group, version, plural = PYTORCHJOB
            self._call(
                "delete PyTorchJob",
                self.custom.delete_namespaced_custom_object,
                group,
                version,
                self.namespace,
                plural,
                name,
                missing_ok=True,
                propagation_policy="Background",
            )
            return
        self._call(
            "delete Job",
            self.batch.delete_namespaced_job,
            name,
            self.namespace,
            missing_ok=True,
            propagation_policy="Background",
        )


def _job_id_of(workload: dict[str, Any]) -> str:
    return str(workload["metadata"]["labels"][jobs.JOB_ID_LABEL])


def _attempt_of(workload: dict[str, Any]) -> int:
    try:
        return int(workload["metadata"]["labels"][jobs.ATTEMPT_LABEL])
    except (KeyError, ValueError):
        return 0


def latest_by_job(workloads: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each job's workload of its highest attempt."""
    latest: dict[str, dict[str, Any]] = {}
    for workload in workloads:
        job_id = _job_id_of(workload)
        if job_id not in latest or _attempt_of(workload) > _attempt_of(latest[job_id]):
            latest[job_id] = workload
    return latest


def _age_s(iso_time: str) -> float:
    then = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    return (datetime.now(UTC) - then).total_seconds()


class KubernetesExecutor(JobExecutor):
    name = "kubernetes"

    def __init__(
        self,
        settings: TrainingSettings,
        store: ObjectStore,
        api: KubeApi | None = None,
        *,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """`max_attempts`: whole-job starts (each resumes from the checkpoint) before a job whose
        workloads keep ending without a final state is failed."""
        self.settings = settings
        self.store = store
        namespace = api.namespace if api is not None else current_namespace(settings)
        self.config = TrainerConfig.from_settings(settings, namespace)
        self.api = api or KubeApi(namespace, self.config.backend)
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        self._tracked: set[str] = set()
        self._monitor = PollingMonitor("k8s-executor", self.poll, settings.k8s_poll_interval_s)

    # --- the interface ------------------------------------------------------------------------------

    def submit(self, job_id: str) -> None:
        self._start(job_id)
        self._monitor.ensure()

    def cancel(self, job_id: str) -> None:
        for workload in self._workloads(job_id):
            self.api.delete_workload(workload["metadata"]["name"])

    def alive(self, job_id: str) -> bool:
        latest = latest_by_job(self._workloads(job_id)).get(job_id)
        return phase_of(latest).phase is Phase.RUNNING

    def reconcile(self) -> None:
        latest = latest_by_job(self.api.list_workloads(jobs.MANAGED_SELECTOR))
        for job_id in jobstore.list_job_ids(self.store):
            try:
                state = jobstore.job_state(self.store, job_id)
            except Exception:  # a broken job must not stop the service from starting
                log.exception("cannot read job events", extra={"job_id": job_id})
                continue
            if state not in ACTIVE_STATES or is_search(jobstore.get_job(self.store, job_id).spec):
                continue  # finished, or a search (the core runs those; their trials are jobs here)
            if job_id not in latest and state is not JobState.CANCELLING and self._attempts(job_id) == 0:
                log.info("starting job", extra={"job_id": job_id})
                self._start(job_id)
                continue
            with self._lock:
                self._tracked.add(job_id)
            self._settle(job_id, latest.get(job_id))
        self._monitor.ensure()

    def close(self) -> None:
        self._monitor.stop()

    # --- workloads -----------------------------------------------------------------------------------

    def _workloads(self, job_id: str) -> list[dict[str, Any]]:
        return self.api.list_workloads(f"{jobs.MANAGED_SELECTOR},{jobs.JOB_ID_LABEL}={job_id}")

    def _attempts(self, job_id: str) -> int:
        return jobstore.get_job(self.store, job_id).attempts

    def _start(self, job_id: str) -> None:
        attempt = self._bump_attempts(job_id)
        body = jobs.build_workload(self.config, self.settings, job_id, attempt)
        created = self.api.create_workload(body)
        if self.config.backend == "job" and self.config.nodes > 1:
            uid = (created or {}).get("metadata", {}).get("uid")
            self.api.create_service(jobs.build_rendezvous_service(self.config, job_id, attempt, uid))
        with self._lock:
            self._tracked.add(job_id)
        log.info(
            "created trainer workload",
            extra={"job_id": job_id, "attempt": attempt, "workload": body["metadata"]["name"]},
        )

    def _bump_attempts(self, job_id: str) -> int:
        """Count one more start in the job record (as the LocalExecutor does)."""
        record = jobstore.get_job(self.store, job_id)
        bumped = replace(record, attempts=record.attempts + 1)
        data = json.dumps(bumped.to_dict(), sort_keys=True).encode("utf-8")
        self.store.put_bytes(jobstore.job_key(job_id), data, content_type=jobstore.JSON_CONTENT_TYPE)
        return bumped.attempts

    # --- polling -----------------------------------------------------------------------------------

    def poll(self) -> None:
        """One list call, then settle every tracked job."""
        latest = latest_by_job(self.api.list_workloads(jobs.MANAGED_SELECTOR))
        with self._lock:
            tracked = sorted(self._tracked)
        for job_id in tracked:
            self._settle(job_id, latest.get(job_id))

    def _settle(self, job_id: str, workload: dict[str, Any] | None) -> None:
        events = jobstore.read_events(self.store, job_id)
        state = next((JobState(e.state) for e in reversed(events) if e.state), JobState.QUEUED)
        cancelled_at = next((e.time for e in reversed(events) if e.state == JobState.CANCELLING), None)
        observed = phase_of(workload)
        action = decide(
            state,
            observed,
            attempts=self._attempts(job_id),
            max_attempts=self.max_attempts,
            cancel_age_s=_age_s(cancelled_at) if cancelled_at else None,
            cancel_grace_s=self.settings.k8s_cancel_grace_s,
        )
        if action is not Action.NOTHING:
            log.info(
                "settling job", extra={"job_id": job_id, "action": str(action), "phase": str(observed.phase)}
            )
        self._apply(job_id, workload, observed, action, state)

    def _apply(
        self,
        job_id: str,
        workload: dict[str, Any] | None,
        observed: Observed,
        action: Action,
        state: JobState,
    ) -> None:
        name = (
            workload["metadata"]["name"] if workload else jobs.workload_name(job_id, self._attempts(job_id))
        )
        writer = EventWriter(self.store, job_id) if action is not Action.NOTHING else None
        if action is Action.DELETE_AND_CANCEL:
            self.api.delete_workload(name)
            assert writer is not None
            writer.state(
                JobState.CANCELLED, f"the worker did not stop within the cancel grace; {name} deleted"
            )
        elif action is Action.MARK_CANCELLED:
            assert writer is not None
            writer.state(JobState.CANCELLED, describe(name, observed))
        elif action is Action.RESTART:
            assert writer is not None
            writer.log(f"{describe(name, observed)}; starting it again (it resumes from its checkpoint)")
            if workload is not None:
                self.api.delete_workload(name)
            self._start(job_id)
            return
        elif action is Action.MARK_FAILED:
            assert writer is not None
            writer.state(JobState.FAILED, f"{describe(name, observed)} ({self._attempts(job_id)} attempts)")
        if action is not Action.NOTHING or state not in ACTIVE_STATES:
            with self._lock:
                self._tracked.discard(job_id)
