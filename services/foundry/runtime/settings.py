"""Settings, read once at start-up from `FOUNDRY_*` variables, frozen, passed down explicitly."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceName(StrEnum):
    INGESTION = "ingestion"
    AUGMENTATION = "augmentation"
    LABELING = "labeling"
    TRAINING = "training"
    INFERENCE = "inference"


# Fixed local ports: gRPC on 5005x, Prometheus metrics on 910x.
DEFAULT_GRPC_PORTS: dict[ServiceName, int] = {
    ServiceName.INGESTION: 50051,
    ServiceName.AUGMENTATION: 50052,
    ServiceName.LABELING: 50053,
    ServiceName.TRAINING: 50054,
    ServiceName.INFERENCE: 50055,
}
DEFAULT_METRICS_PORTS: dict[ServiceName, int] = {
    name: 9100 + i + 1 for i, name in enumerate(DEFAULT_GRPC_PORTS)
}


class Settings(BaseSettings):
    """Every knob of a Foundry process. Units are in the names."""

    model_config = SettingsConfigDict(env_prefix="FOUNDRY_", frozen=True, extra="ignore")

    # --- this process's server -------------------------------------------------------------
    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = Field(None, ge=0, le=65535, description="None: the service's default")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus HTTP port; None: the service's default, 0: off"
    )
    auth_token: SecretStr | None = Field(None, description="bearer token required on every RPC")
    drain_grace_s: float = Field(10.0, gt=0)
    keepalive_time_s: float = Field(30.0, gt=0)
    keepalive_timeout_s: float = Field(10.0, gt=0)
    max_concurrent_rpcs: int | None = Field(None, gt=0)
    log_level: str = "INFO"
    log_json: bool = True

    # --- peers (services call one another only through gRPC) ---------------------------------
    ingestion_address: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS[ServiceName.INGESTION]}"
    augmentation_address: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS[ServiceName.AUGMENTATION]}"
    labeling_address: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS[ServiceName.LABELING]}"
    training_address: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS[ServiceName.TRAINING]}"
    inference_address: str = f"127.0.0.1:{DEFAULT_GRPC_PORTS[ServiceName.INFERENCE]}"
    client_timeout_s: float = Field(
        60.0,
        gt=0,
        description="deadline of a quick call by foundry.client (reads, lists, predictions); "
        "long work and streams have none unless the caller gives one",
    )
    client_max_attempts: int = Field(
        4, ge=1, description="tries of a foundry.client call that fails UNAVAILABLE (1: no retry)"
    )
    client_retry_backoff_s: float = Field(
        0.2, ge=0, description="the first retry's backoff ceiling, doubled per retry, with jitter"
    )

    # --- object store (MinIO in production, SeaweedFS locally) ------------------------------
    s3_endpoint: str | None = Field(
        None, description="host:port of the S3 server; unset: `foundry stack up` starts one"
    )
    s3_access_key: str = "foundry"
    s3_secret_key: SecretStr = SecretStr("foundry-secret-key")
    s3_bucket: str = "foundry"
    s3_region: str = "us-east-1"
    s3_secure: bool = False
    s3_max_retries: int = Field(4, ge=0)
    s3_retry_backoff_s: float = Field(0.2, ge=0)
    s3_timeout_s: float = Field(30.0, gt=0)
    s3_part_size_bytes: int = Field(16 * 1024 * 1024, ge=5 * 1024 * 1024)

    # --- ingestion ----------------------------------------------------------------------------
    pii_secret: SecretStr = Field(
        SecretStr("foundry-dev-pii-secret"),
        description="key of the consistent PII pseudonyms (HMAC); set your own in production",
    )
    ingest_max_upload_bytes: int = Field(4 * 1024**3, gt=0, description="largest upload, all files together")
    ingest_work_dir: Path | None = Field(
        None, description="local scratch for uploads; None: the system temp dir"
    )

    # --- training -----------------------------------------------------------------------------
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

    # --- labeling -----------------------------------------------------------------------------
    labeling_rule_timeout_ms: int = Field(
        200, ge=1, description="longest one regex labeling rule may run on one item"
    )
    labeling_inference_timeout_s: float = Field(
        300.0, gt=0, description="deadline of one LoadModel or Predict call to the inference service"
    )

    # --- inference ----------------------------------------------------------------------------
    inference_max_batch_size: int = Field(32, ge=1, description="largest dynamic batch, in sequences")
    inference_max_queue_delay_ms: float = Field(
        2.0, ge=0, description="longest a request waits for its batch to fill"
    )
    inference_max_queue_size: int = Field(
        256, ge=1, description="requests waiting per model before RESOURCE_EXHAUSTED"
    )
    inference_max_padding_ratio: float = Field(
        0.25,
        ge=0,
        description="a length bucket closes before its padding exceeds this share of its real tokens",
    )
    inference_intra_op_threads: int = Field(
        0, ge=0, description="ONNX Runtime intra-op threads; 0: one per core"
    )
    inference_intra_op_spinning: bool = Field(
        False,
        description="ONNX Runtime worker threads busy-wait between ops (steals CPU from the event loop)",
    )
    inference_max_text_chars: int = Field(
        100_000, ge=1, description="longest text (or joined words) in one input"
    )
    inference_max_inputs: int = Field(1024, ge=1, description="inputs in one Predict request")
    inference_window_stride_tokens: int = Field(
        32, ge=0, description="tokens two overlapping windows share when a long text is read in windows"
    )
    inference_cache_dir: Path | None = Field(
        None, description="local cache of model bundles; None: <home_dir>/cache/models"
    )
    inference_preload_models: str = Field(
        "", description="models to load at start-up: NAME[@VERSION][:int8], comma-separated"
    )
    generate_max_batch_size: int = Field(
        8,
        ge=1,
        description="generations decoded together per chat model (continuous batching); 1: one at a time",
    )
    generate_max_new_tokens: int = Field(
        4096, ge=1, description="largest max_new_tokens a Generate request may ask for"
    )

    # --- augmentation -------------------------------------------------------------------------
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (…/v1) of the LLM operators; None: they are unavailable"
    )
    llm_model: str = Field("default", description="model name sent to the LLM endpoint")
    llm_api_key: SecretStr | None = Field(None, description="bearer token of the LLM endpoint")
    llm_timeout_s: float = Field(60.0, gt=0, description="read timeout of one LLM request")
    llm_max_retries: int = Field(3, ge=0, description="retries of a failed LLM request (429, 5xx, network)")
    llm_retry_backoff_s: float = Field(
        0.5, ge=0, description="first retry's backoff ceiling, doubled per retry"
    )
    llm_max_concurrency: int = Field(8, ge=1, description="LLM requests in flight at once")

    # --- local state ------------------------------------------------------------------------
    home_dir: Path = Field(Path(".foundry"), description="local state: stack data, caches, logs")

    def grpc_port_for(self, service: ServiceName) -> int:
        return self.grpc_port if self.grpc_port is not None else DEFAULT_GRPC_PORTS[service]

    def metrics_port_for(self, service: ServiceName) -> int:
        return self.metrics_port if self.metrics_port is not None else DEFAULT_METRICS_PORTS[service]

    def address_of(self, service: ServiceName) -> str:
        address: str = getattr(self, f"{service.value}_address")
        return address

    @property
    def cache_dir(self) -> Path:
        return self.home_dir / "cache"


def load_settings() -> Settings:
    """Read the environment once; callers pass the result down."""
    return Settings()
