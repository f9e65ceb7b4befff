"""The training service's settings: the shared ones and its own (`FOUNDRY_TRAINING_*`, and
`FOUNDRY_K8S_*` for the Kubernetes executor). Workers read the shared `Settings` only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from foundry.runtime.settings import Settings


class TrainingSettings(Settings):
    """Every knob of the training service. Units are in the names."""

    training_max_local_jobs: int = Field(1, ge=1, description="training jobs the local executor runs at once")
    training_poll_interval_s: float = Field(
        1.0, gt=0, description="how often WatchJob and the executor look at the object store"
    )
    training_executor: Literal["local", "kubernetes"] = Field(
        "local", description="where workers run: local processes, or Kubernetes Jobs"
    )

    # --- the Kubernetes executor (training_executor=kubernetes) -------------------------------------
    k8s_namespace: str | None = Field(
        None, description="namespace of the trainer Jobs; None: the service's own (in-cluster), else default"
    )
    k8s_trainer_image: str = Field("", description="image of the trainer pods (CUDA torch + the worker)")
    k8s_trainer_backend: Literal["job", "pytorchjob"] = Field(
        "job", description="batch/v1 (Indexed) Jobs, or Kubeflow PyTorchJobs where the operator runs"
    )
    k8s_trainer_nodes: int = Field(1, ge=1, description="nodes per training job (more than 1: multi-node)")
    k8s_trainer_gpus_per_node: int = Field(1, ge=0, description="GPUs per trainer pod; 0: a CPU trainer")
    k8s_trainer_cpu_cores: float = Field(4.0, gt=0, description="CPU cores per trainer pod (request = limit)")
    k8s_trainer_memory_gib: float = Field(32.0, gt=0, description="memory per trainer pod (request = limit)")
    k8s_trainer_shm_gib: float = Field(8.0, gt=0, description="memory-backed /dev/shm per trainer pod")
    k8s_trainer_scratch_gib: float = Field(50.0, gt=0, description="local scratch (emptyDir) per trainer pod")
    k8s_trainer_node_selector: str = Field(
        "", description="node labels the trainer pods require: key=value,key=value"
    )
    k8s_trainer_service_account: str = Field("trainer", description="service account of the trainer pods")
    k8s_trainer_secret_name: str = Field(
        "foundry-secrets", description="Secret whose FOUNDRY_* keys the trainer pods get (S3 keys, tokens)"
    )
    k8s_trainer_priority_class: str = Field("", description="priority class of the trainer pods; empty: none")
    k8s_trainer_backoff_limit: int = Field(
        3, ge=0, description="pod replacements (each resumes from the checkpoint) before the Job fails"
    )
    k8s_trainer_active_deadline_s: int = Field(
        7 * 24 * 3600, gt=0, description="longest a trainer Job may run before Kubernetes stops it"
    )
    k8s_trainer_ttl_after_finished_s: int = Field(
        24 * 3600, ge=0, description="how long a finished trainer Job stays before Kubernetes deletes it"
    )
    k8s_rendezvous_port: int = Field(
        29500, ge=1, le=65535, description="torchrun rendezvous port (multi-node)"
    )
    k8s_cancel_grace_s: float = Field(
        120.0,
        ge=0,
        description="after a cancel, how long the worker may stop by itself before its Job is deleted",
    )
    k8s_poll_interval_s: float = Field(5.0, gt=0, description="how often the executor looks at its Jobs")
