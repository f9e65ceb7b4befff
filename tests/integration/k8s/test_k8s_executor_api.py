"""The KubernetesExecutor against a real API server: runs when KUBECONFIG names one, skipped
otherwise. The Jobs it creates are in FOUNDRY_TEST_K8S_NAMESPACE (default `default`) and are
deleted afterwards; their pods need not start (the image is a placeholder unless
FOUNDRY_TEST_K8S_TRAINER_IMAGE names a real trainer image)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.jobstore import EventWriter, JobRecord
from foundry.training.k8s import jobs
from foundry.training.loop.events import JobState
from foundry.training.settings import TrainingSettings
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec

pytestmark = pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"), reason="no Kubernetes API server (KUBECONFIG is not set)"
)

NAMESPACE = os.environ.get("FOUNDRY_TEST_K8S_NAMESPACE", "default")


def new_job(store: ObjectStore) -> str:
    spec = JobSpec(Task.TOKEN_CLASSIFICATION, BaseModelRef("imported", "tiny"), DatasetRef("ner")).resolved()
    record = jobstore.create_job(store, JobRecord(jobstore.new_job_id(), "", spec, spec.model_name))
    EventWriter(store, record.job_id).state(JobState.QUEUED, "queued")
    return record.job_id


def wait_for(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


@pytest.fixture
def executor(settings: Settings, store: ObjectStore) -> Iterator[object]:
    from foundry.training.k8s.executor import KubernetesExecutor

    k8s = TrainingSettings(
        **{
            **settings.model_dump(),
            "training_executor": "kubernetes",
            "k8s_namespace": NAMESPACE,
            "k8s_trainer_image": os.environ.get(
                "FOUNDRY_TEST_K8S_TRAINER_IMAGE", "registry.example.com/sft-foundry/trainer:0.1.0"
            ),
            "k8s_trainer_gpus_per_node": 0,
            "k8s_trainer_cpu_cores": 0.1,
            "k8s_trainer_memory_gib": 0.25,
            "k8s_trainer_shm_gib": 0.1,
            "k8s_trainer_scratch_gib": 1,
            "k8s_poll_interval_s": 0.5,
            "k8s_cancel_grace_s": 0,
        }
    )
    ex = KubernetesExecutor(k8s, store)
    yield ex
    ex.close()
    for job_id in jobstore.list_job_ids(store):  # this test's bucket: this test's jobs only
        for workload in ex.api.list_workloads(f"{jobs.JOB_ID_LABEL}={job_id}"):
            ex.api.delete_workload(workload["metadata"]["name"])


def test_submit_creates_a_job_that_is_alive_and_reconcile_reattaches(
    executor: object, store: ObjectStore
) -> None:
    from foundry.training.k8s.executor import KubernetesExecutor

    assert isinstance(executor, KubernetesExecutor)
    job_id = new_job(store)
    executor.submit(job_id)
    listed = executor.api.list_workloads(f"{jobs.JOB_ID_LABEL}={job_id}")
    assert [w["metadata"]["name"] for w in listed] == [jobs.workload_name(job_id, 1)]
    assert listed[0]["spec"]["backoffLimit"] == executor.config.backoff_limit
    assert executor.alive(job_id)
    assert jobstore.get_job(store, job_id).attempts == 1
    executor.close()
    executor.reconcile()  # re-attaches: no second Job
    assert len(executor.api.list_workloads(f"{jobs.JOB_ID_LABEL}={job_id}")) == 1


def test_cancel_of_a_running_job_deletes_it_after_the_grace(executor: object, store: ObjectStore) -> None:
    from foundry.training.k8s.executor import KubernetesExecutor

    assert isinstance(executor, KubernetesExecutor)
    job_id = new_job(store)
    executor.submit(job_id)
    jobstore.request_cancel(store, job_id)
    EventWriter(store, job_id).state(JobState.CANCELLING, "cancel requested")
    wait_for(lambda: jobstore.job_state(store, job_id) is JobState.CANCELLED)
    wait_for(lambda: not executor.api.list_workloads(f"{jobs.JOB_ID_LABEL}={job_id}"))
