"""The Kubernetes objects of one training job's attempt, as plain dicts (what the API accepts).

A job runs the same worker as the `LocalExecutor` (`python -m foundry.training.worker --job-id
ID`), in pods on GPU nodes:

- one node, one GPU (or a CPU trainer): `python -m foundry.training.worker ...`;
- one node, several GPUs: `torchrun --standalone --nproc-per-node G -m foundry.training.worker ...`;
- several nodes: an Indexed `batch/v1` Job (one pod per node, completion index = node rank) with
  a headless Service that gives pod 0 a stable name for torchrun's rendezvous; or, with the
  `pytorchjob` backend, a Kubeflow `PyTorchJob` whose operator sets torchrun's `PET_*` variables.

Every pod: `nvidia.com/gpu` in its limits and a toleration of the `nvidia.com/gpu` taint (when it
has GPUs), the configured node selector, a memory-backed `/dev/shm`, emptyDir scratch for the
work dir and caches (the root filesystem is read-only), the restricted Pod Security Standard, its
settings as `FOUNDRY_*` variables and its secrets (S3 keys, tokens) from a Secret, never inline.

A replaced pod (OOM kill, node drained or lost) runs the same command: the worker resumes from the
job's last checkpoint in the object store. Exit code 1 means the worker recorded the job as failed
(or torchrun gave up), so the Job fails at once instead of retrying (`podFailurePolicy`); a
disruption (preemption, drain) does not count against `backoffLimit`.
"""

from __future__ import annotations

import json
from typing import Any

from foundry.training.k8s.config import TrainerConfig
from foundry.training.settings import TrainingSettings

WORKER_MODULE = "foundry.training.worker"
CONTAINER = "worker"
#: the container name the Kubeflow training operator requires
PYTORCHJOB_CONTAINER = "pytorch"
GPU_RESOURCE = "nvidia.com/gpu"
#: where the pod's scratch emptyDir is mounted: FOUNDRY_HOME_DIR (work dirs, caches)
SCRATCH_DIR = "/var/lib/foundry"
RUN_AS = 10001

PART_OF = "sft-foundry"
APP_NAME = "trainer"
MANAGED_BY = "foundry-training"
JOB_ID_LABEL = "foundry.dev/job-id"
ATTEMPT_LABEL = "foundry.dev/attempt"
#: selects every workload this executor manages
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"

#: settings the trainer never needs (the executor's own, the server's)
_NOT_FOR_WORKER = ("k8s_", "training_executor", "grpc_", "metrics_port", "home_dir")


# --- names and labels ------------------------------------------------------------------------------------


def workload_name(job_id: str, attempt: int) -> str:
    """`foundry-train-<job id>-<attempt>`: a DNS label (the pods' hostnames add `-<index>`)."""
    return f"foundry-train-{job_id.lower()}-{attempt}"


def labels(job_id: str, attempt: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": "training-worker",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        JOB_ID_LABEL: job_id,
        ATTEMPT_LABEL: str(attempt),
    }


# --- the pod --------------------------------------------------------------------------------------------


def secret_setting_names(settings: TrainingSettings) -> set[str]:
    """Settings that travel only through the Secret: every `SecretStr` and the S3 access key."""
    names = {"s3_access_key"}
    for name, info in type(settings).model_fields.items():
        if "SecretStr" in str(info.annotation):
            names.add(name)
    return names


def worker_env(settings: TrainingSettings) -> list[dict[str, Any]]:
    """The worker's settings as `FOUNDRY_*` variables (no secrets; home on the scratch volume),
    plus where libraries put their caches on a read-only root filesystem."""
    secret = secret_setting_names(settings)
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None or name in secret or name.startswith(_NOT_FOR_WORKER):
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict | list):  # pydantic-settings reads these as JSON
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"FOUNDRY_{name.upper()}"] = text
    env["FOUNDRY_HOME_DIR"] = SCRATCH_DIR
    env["FOUNDRY_LOG_JSON"] = env.get("FOUNDRY_LOG_JSON", "true")
    env.update(
        {
            "HOME": "/tmp",
            "PYTHONUNBUFFERED": "1",
            "XDG_CACHE_HOME": f"{SCRATCH_DIR}/cache",
            "HF_HOME": f"{SCRATCH_DIR}/cache/huggingface",
            "MPLCONFIGDIR": "/tmp/matplotlib",
            "TORCHINDUCTOR_CACHE_DIR": f"{SCRATCH_DIR}/cache/inductor",
            "TRITON_CACHE_DIR": f"{SCRATCH_DIR}/cache/triton",
        }
    )
    return [{"name": k, "value": v} for k, v in sorted(env.items())]


def worker_command(cfg: TrainerConfig, job_id: str, name: str) -> list[str]:
    """What the trainer container runs (see the module docstring)."""
    worker = ["-m", WORKER_MODULE, "--job-id", job_id, "--work-dir", f"{SCRATCH_DIR}/work/{job_id}"]
    procs = max(cfg.gpus_per_node, 1)
    if cfg.backend == "pytorchjob":  # the operator sets PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, ...
        return ["torchrun", *worker]
    if cfg.nodes == 1 and procs == 1:
        return ["python", *worker]
    if cfg.nodes == 1:
        return ["torchrun", "--standalone", f"--nproc-per-node={procs}", "--max-restarts=0", *worker]
    return [
        "torchrun",
        f"--nnodes={cfg.nodes}",
        f"--nproc-per-node={procs}",
        "--node-rank=$(JOB_COMPLETION_INDEX)",
        f"--master-addr={name}-0.{name}",
        f"--master-port={cfg.rendezvous_port}",
        "--max-restarts=0",
        *worker,
    ]


def _quantity_gib(gib: float) -> str:
    return f"{round(gib * 1024)}Mi"


def _quantity_cpu(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def restricted_container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_spec(
    cfg: TrainerConfig, settings: TrainingSettings, job_id: str, name: str, *, container: str = CONTAINER
) -> dict[str, Any]:
    """The trainer pod's spec (restartPolicy Never; a PyTorchJob sets its own)."""
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": _quantity_cpu(cfg.cpu_cores), "memory": _quantity_gib(cfg.memory_gib)},
        "limits": {"cpu": _quantity_cpu(cfg.cpu_cores), "memory": _quantity_gib(cfg.memory_gib)},
    }
    env = worker_env(settings)
    if cfg.gpus_per_node:
        resources["requests"][GPU_RESOURCE] = str(cfg.gpus_per_node)
        resources["limits"][GPU_RESOURCE] = str(cfg.gpus_per_node)
    if cfg.nodes > 1 and cfg.backend == "job":
        index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"fieldPath": index}}})
    spec: dict[str, Any] = {
        "serviceAccountName": cfg.service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 60,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": container,
                "image": cfg.image,
                "imagePullPolicy": "IfNotPresent",
                "command": worker_command(cfg, job_id, name),
                "env": env,
                "envFrom": [{"secretRef": {"name": cfg.secret_name}}],
                "resources": resources,
                "securityContext": restricted_container_security(),
                "volumeMounts": [
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": "tmp", "mountPath": "/tmp"},
                    {"name": "scratch", "mountPath": SCRATCH_DIR},
                ],
            }
        ],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": _quantity_gib(cfg.shm_gib)}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
            {"name": "scratch", "emptyDir": {"sizeLimit": _quantity_gib(cfg.scratch_gib)}},
        ],
    }
    if cfg.gpus_per_node:
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    if cfg.node_selector:
        spec["nodeSelector"] = dict(cfg.node_selector)
    if cfg.priority_class:
        spec["priorityClassName"] = cfg.priority_class
    if cfg.nodes > 1:  # one pod per node
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": {JOB_ID_LABEL: job_id}},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
        if cfg.backend == "job":
            spec["subdomain"] = name
    return spec


# --- the workloads --------------------------------------------------------------------------------------


def _metadata(cfg: TrainerConfig, job_id: str, attempt: int) -> dict[str, Any]:
    return {
        "name": workload_name(job_id, attempt),
        "namespace": cfg.namespace,
        "labels": labels(job_id, attempt),
        "annotations": {"foundry.dev/worker": f"python -m {WORKER_MODULE} --job-id {job_id}"},
    }


def build_job(cfg: TrainerConfig, settings: TrainingSettings, job_id: str, attempt: int) -> dict[str, Any]:
    """The `batch/v1` Job of the attempt (Indexed, one pod per node, when `nodes > 1`)."""
    name = workload_name(job_id, attempt)
    spec: dict[str, Any] = {
        "backoffLimit": cfg.backoff_limit,
        "activeDeadlineSeconds": cfg.active_deadline_s,
        "ttlSecondsAfterFinished": cfg.ttl_after_finished_s,
        "podFailurePolicy": {
            "rules": [
                {  # the worker recorded the job as failed (or torchrun gave up): no retry
                    "action": "FailJob",
                    "onExitCodes": {"containerName": CONTAINER, "operator": "In", "values": [1]},
                },
                {  # preemption, node drain, eviction: a replacement resumes, not counted
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ]
        },
        "template": {
            "metadata": {"labels": labels(job_id, attempt)},
            "spec": pod_spec(cfg, settings, job_id, name),
        },
    }
    if cfg.nodes > 1:
        spec.update(
            {
                "completionMode": "Indexed",
                "completions": cfg.nodes,
                "parallelism": cfg.nodes,
                # rank 0 finishing (it writes the model version) finishes the job
                "successPolicy": {"rules": [{"succeededIndexes": "0"}]},
            }
        )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(cfg, job_id, attempt),
        "spec": spec,
    }


def build_rendezvous_service(
    cfg: TrainerConfig, job_id: str, attempt: int, owner_uid: str | None = None
) -> dict[str, Any]:
    """The headless Service that resolves `<name>-<index>.<name>` for a multi-node Job (owned by
    the Job, so it goes when the Job goes)."""
    name = workload_name(job_id, attempt)
    metadata = _metadata(cfg, job_id, attempt)
    if owner_uid:
        metadata["ownerReferences"] = [
            {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": owner_uid, "controller": True}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {JOB_ID_LABEL: job_id, ATTEMPT_LABEL: str(attempt)},
            "ports": [{"name": "rendezvous", "port": cfg.rendezvous_port, "targetPort": cfg.rendezvous_port}],
        },
    }


def build_pytorchjob(
    cfg: TrainerConfig, settings: TrainingSettings, job_id: str, attempt: int
) -> dict[str, Any]:
    """A Kubeflow training-operator `PyTorchJob` (kubeflow.org/v1): a Master and `nodes - 1`
    Workers; `ExitCode` restarts a pod killed by a signal (it resumes) and not one that exited 1."""
    name = workload_name(job_id, attempt)

    def replica(count: int) -> dict[str, Any]:
        pod = pod_spec(cfg, settings, job_id, name, container=PYTORCHJOB_CONTAINER)
        return {
            "replicas": count,
            "restartPolicy": "ExitCode",
            "template": {"metadata": {"labels": labels(job_id, attempt)}, "spec": pod},
        }

    replicas = {"Master": replica(1)}
    if cfg.nodes > 1:
        replicas["Worker"] = replica(cfg.nodes - 1)
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": _metadata(cfg, job_id, attempt),
        "spec": {
            "runPolicy": {
                "backoffLimit": cfg.backoff_limit,
                "activeDeadlineSeconds": cfg.active_deadline_s,
                "ttlSecondsAfterFinished": cfg.ttl_after_finished_s,
                "cleanPodPolicy": "None",
            },
            "nprocPerNode": str(max(cfg.gpus_per_node, 1)),
            "pytorchReplicaSpecs": replicas,
        },
    }


def build_workload(
    cfg: TrainerConfig, settings: TrainingSettings, job_id: str, attempt: int
) -> dict[str, Any]:
    """The attempt's Job or PyTorchJob, as the backend says."""
    if cfg.backend == "pytorchjob":
        return build_pytorchjob(cfg, settings, job_id, attempt)
    return build_job(cfg, settings, job_id, attempt)
