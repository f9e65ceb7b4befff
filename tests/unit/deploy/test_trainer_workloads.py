"""The trainer workloads the KubernetesExecutor builds (no API server needed): valid for
Kubernetes, restricted, on GPU nodes, resumable, multi-GPU and multi-node; and what the executor
decides from a workload's status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from podpolicy import pod_problems, pod_specs, validate
from pydantic import SecretStr

from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.settings import Settings
from foundry.training.jobstore import TERMINAL_STATES
from foundry.training.k8s import jobs
from foundry.training.k8s.config import TrainerConfig
from foundry.training.k8s.lifecycle import Action, Observed, Phase, decide, phase_of
from foundry.training.loop.events import JobState
from foundry.training.settings import TrainingSettings

JOB_ID = "0123456789abcdef0123456789abcdef"
SECRET_VALUES = ("s3-secret-value-xyz", "auth-token-value-xyz", "pii-secret-value-xyz", "access-key-xyz")


def make_settings(**overrides: Any) -> TrainingSettings:
    values: dict[str, Any] = {
        "s3_endpoint": "minio:9000",
        "s3_access_key": SECRET_VALUES[3],
        "s3_secret_key": SecretStr(SECRET_VALUES[0]),
        "auth_token": SecretStr(SECRET_VALUES[1]),
        "training_executor": "kubernetes",
        "k8s_trainer_image": "registry.example.com/sft-foundry/trainer:0.1.0",
        "k8s_trainer_node_selector": "nvidia.com/gpu.present=true, pool = a100",
    }
    values.update(overrides)
    return TrainingSettings(**values)


def build(**overrides: Any) -> tuple[TrainerConfig, TrainingSettings, dict[str, Any]]:
    settings = make_settings(**overrides)
    cfg = TrainerConfig.from_settings(settings, "foundry")
    return cfg, settings, jobs.build_workload(cfg, settings, JOB_ID, 2)


def container_of(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    return container


def test_single_gpu_job_on_gpu_nodes() -> None:
    _, _, job = build()
    validate(job)
    spec = job["spec"]
    assert job["metadata"]["name"] == f"foundry-train-{JOB_ID}-2"
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (
        3,
        7 * 24 * 3600,
        24 * 3600,
    )
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true", "pool": "a100"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    container = container_of(pod)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["command"][:5] == ["python", "-m", "foundry.training.worker", "--job-id", JOB_ID]
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "8192Mi"}
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert pod_problems("trainer", pod, long_running=False) == []
    assert spec["template"]["metadata"]["labels"][jobs.JOB_ID_LABEL] == JOB_ID


def test_failure_policy_fails_fast_on_a_recorded_failure_and_ignores_disruptions() -> None:
    _, _, job = build()
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "FailJob" and rules[0]["onExitCodes"]["values"] == [1]
    assert rules[0]["onExitCodes"]["containerName"] == container_of(job["spec"]["template"]["spec"])["name"]
    assert rules[1] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }


def test_a_replacement_pod_runs_the_same_resuming_command() -> None:
    """Every pod of the Job runs the same worker command on the same job id; the worker resumes
    from jobs/<id>/checkpoints/latest in the object store (its scratch is a fresh emptyDir)."""
    cfg, settings, job = build()
    again = jobs.build_job(cfg, settings, JOB_ID, 2)
    assert again == job
    pod = job["spec"]["template"]["spec"]
    scratch = next(v for v in pod["volumes"] if v["name"] == "scratch")
    assert "emptyDir" in scratch  # nothing local survives: the checkpoint comes from the store
    assert f"--work-dir={jobs.SCRATCH_DIR}" not in container_of(pod)["command"]
    assert container_of(pod)["command"][-1] == f"{jobs.SCRATCH_DIR}/work/{JOB_ID}"


def test_no_secret_travels_inline_and_the_env_rebuilds_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    _, settings, job = build()
    text = json.dumps(job)
    assert not [v for v in SECRET_VALUES if v in text]
    container = container_of(job["spec"]["template"]["spec"])
    assert container["envFrom"] == [{"secretRef": {"name": "foundry-secrets"}}]
    # the pod's environment (plain variables + the Secret's keys) gives the worker the same settings
    for name in list(__import__("os").environ):
        if name.startswith("FOUNDRY_"):
            monkeypatch.delenv(name)
    for var in container["env"]:
        monkeypatch.setenv(var["name"], var["value"])
    secret = {
        "FOUNDRY_S3_ACCESS_KEY": settings.s3_access_key,
        "FOUNDRY_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "FOUNDRY_PII_SECRET": SECRET_VALUES[2],
        "FOUNDRY_AUTH_TOKEN": SECRET_VALUES[1],
    }
    for name, value in secret.items():
        monkeypatch.setenv(name, value)
    worker = Settings()
    for field in ("s3_endpoint", "s3_bucket", "s3_region", "s3_secure", "s3_access_key", "s3_timeout_s"):
        assert getattr(worker, field) == getattr(settings, field), field
    assert worker.s3_secret_key == settings.s3_secret_key
    assert str(worker.home_dir) == jobs.SCRATCH_DIR


def test_several_gpus_on_one_node_run_torchrun() -> None:
    _, _, job = build(k8s_trainer_gpus_per_node=4)
    validate(job)
    container = container_of(job["spec"]["template"]["spec"])
    assert container["command"][:4] == ["torchrun", "--standalone", "--nproc-per-node=4", "--max-restarts=0"]
    assert container["command"][4:7] == ["-m", "foundry.training.worker", "--job-id"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_several_nodes_run_an_indexed_job_with_a_headless_rendezvous_service() -> None:
    cfg, _, job = build(k8s_trainer_gpus_per_node=8, k8s_trainer_nodes=3)
    validate(job)
    name = job["metadata"]["name"]
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == name
    command = container_of(pod)["command"]
    assert "--nnodes=3" in command and "--nproc-per-node=8" in command
    assert "--node-rank=$(JOB_COMPLETION_INDEX)" in command
    assert f"--master-addr={name}-0.{name}" in command  # pod 0's hostname under the Service
    env = {e["name"]: e for e in container_of(pod)["env"]}
    assert "job-completion-index" in env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    service = jobs.build_rendezvous_service(cfg, JOB_ID, 2, owner_uid="1234")
    validate(service)
    assert service["metadata"]["name"] == name and service["spec"]["clusterIP"] == "None"
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
    assert service["spec"]["ports"][0]["port"] == cfg.rendezvous_port
    assert service["metadata"]["ownerReferences"][0]["uid"] == "1234"
    assert len(f"{name}-2") <= 63  # hostnames are DNS labels


def test_pytorchjob_backend_builds_a_kubeflow_pytorchjob() -> None:
    _, _, job = build(k8s_trainer_backend="pytorchjob", k8s_trainer_nodes=2, k8s_trainer_gpus_per_node=4)
    assert (job["apiVersion"], job["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    spec = job["spec"]
    assert set(spec) == {"runPolicy", "nprocPerNode", "pytorchReplicaSpecs"}
    assert spec["nprocPerNode"] == "4"
    assert spec["runPolicy"]["backoffLimit"] == 3 and spec["runPolicy"]["ttlSecondsAfterFinished"] == 86400
    replicas = spec["pytorchReplicaSpecs"]
    assert {role: r["replicas"] for role, r in replicas.items()} == {"Master": 1, "Worker": 1}
    for where, pod in pod_specs([job]):
        assert replicas[where.rsplit("/", 1)[1]]["restartPolicy"] in {
            "Always",
            "OnFailure",
            "Never",
            "ExitCode",
        }
        container = container_of(pod)
        assert container["name"] == "pytorch"  # the operator finds the container by this name
        assert container["command"][:3] == ["torchrun", "-m", "foundry.training.worker"]
        assert pod_problems(where, pod, long_running=False) == []
        # kubernetes-validate knows no CRD; the pod template it carries is validated as one
        validate(
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"}, "template": {"spec": pod}}
        )


def test_cpu_trainer_has_no_gpu_and_no_toleration() -> None:
    _, _, job = build(k8s_trainer_gpus_per_node=0, k8s_trainer_node_selector="")
    validate(job)
    pod = job["spec"]["template"]["spec"]
    assert "tolerations" not in pod and "nodeSelector" not in pod
    assert "nvidia.com/gpu" not in container_of(pod)["resources"]["limits"]
    assert container_of(pod)["command"][0] == "python"


def test_bad_configuration_names_the_setting() -> None:
    with pytest.raises(FailedPreconditionError) as info:
        TrainerConfig.from_settings(make_settings(k8s_trainer_node_selector="gpu"), "ns")
    assert info.value.violations[0].field == "k8s_trainer_node_selector"
    with pytest.raises(FailedPreconditionError) as info:
        TrainerConfig.from_settings(make_settings(k8s_trainer_image=""), "ns")
    assert info.value.violations[0].field == "k8s_trainer_image"


# --- lifecycle ----------------------------------------------------------------------------------------


def job_status(*conditions: tuple[str, str]) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [{"type": t, "status": "True", "reason": r, "message": "m"} for t, r in conditions]
        }
    }


def test_phase_of_reads_job_and_pytorchjob_conditions() -> None:
    assert phase_of(None).phase is Phase.GONE
    assert phase_of({"status": {}}).phase is Phase.RUNNING
    assert phase_of(job_status(("Complete", ""))).phase is Phase.SUCCEEDED
    assert phase_of(job_status(("Succeeded", ""))).phase is Phase.SUCCEEDED
    failed = phase_of(job_status(("Failed", "BackoffLimitExceeded")))
    assert (failed.phase, failed.reason) == (Phase.FAILED, "BackoffLimitExceeded")
    assert (
        phase_of({"status": {"conditions": [{"type": "Failed", "status": "False"}]}}).phase is Phase.RUNNING
    )


RUNNING, FAILED, GONE = (
    Observed(Phase.RUNNING),
    Observed(Phase.FAILED, "PodFailurePolicy"),
    Observed(Phase.GONE),
)


@pytest.mark.parametrize(
    ("state", "observed", "attempts", "cancel_age_s", "action"),
    [
        (JobState.RUNNING, RUNNING, 1, None, Action.NOTHING),
        (JobState.RUNNING, FAILED, 1, None, Action.RESTART),
        (JobState.QUEUED, GONE, 2, None, Action.RESTART),
        (JobState.RUNNING, FAILED, 3, None, Action.MARK_FAILED),
        (JobState.RUNNING, Observed(Phase.FAILED, "DeadlineExceeded"), 1, None, Action.MARK_FAILED),
        (JobState.RUNNING, Observed(Phase.SUCCEEDED), 1, None, Action.RESTART),  # ended without a final state
        (JobState.CANCELLING, RUNNING, 1, 10.0, Action.NOTHING),
        (JobState.CANCELLING, RUNNING, 1, 200.0, Action.DELETE_AND_CANCEL),
        (JobState.CANCELLING, GONE, 1, 1.0, Action.MARK_CANCELLED),
        *[(state, FAILED, 1, None, Action.NOTHING) for state in TERMINAL_STATES],
    ],
)
def test_decide(
    state: JobState, observed: Observed, attempts: int, cancel_age_s: float | None, action: Action
) -> None:
    got = decide(
        state, observed, attempts=attempts, max_attempts=3, cancel_age_s=cancel_age_s, cancel_grace_s=120
    )
    assert got is action


def test_an_unreachable_api_server_is_unavailable() -> None:
    from kubernetes import client

    from foundry.runtime.errors import UnavailableError
    from foundry.training.k8s.executor import KubeApi

    configuration = client.Configuration()
    configuration.host = "http://127.0.0.1:9"  # the discard port: nothing listens
    configuration.retries = 0
    api = KubeApi("foundry", "job", client.ApiClient(configuration))
    _, _, job = build()
    with pytest.raises(UnavailableError) as info:
        api.create_workload(job)
    assert info.value.reason == "KUBERNETES_API_UNREACHABLE"
    with pytest.raises(UnavailableError):
        api.list_workloads(jobs.MANAGED_SELECTOR)
