"""Settings, read once at start-up from `FOUNDRY_*` variables, frozen, passed down explicitly.

`Settings` holds what every Foundry process shares (its server, its peers, the object store, local
state); each service's own knobs are in its subclass (`foundry.<service>.settings`)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

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
    """The knobs every Foundry process shares. Units are in the names."""

    model_config = SettingsConfigDict(env_prefix="FOUNDRY_", frozen=True, extra="ignore")

    # --- this process's server -------------------------------------------------------------
    grpc_host: str = "127.0.0.1"
    grpc_port: int | None = Field(None, ge=0, le=65535, description="None: the service's default")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Prometheus HTTP port; None: the service's default, 0: off"
    )
    health_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="a second, plaintext port serving only grpc.health.v1, for probes that cannot speak "
        "TLS (the kubelet's gRPC probes); None: off",
    )
    auth_token: SecretStr | None = Field(
        None,
        description="servers accept it as an admin token (the one shared token of earlier versions); "
        "clients send it unless service_token is set",
    )
    auth_tokens_file: Path | None = Field(
        None, description="JSON file of token hashes with their roles (runtime.tokens); turns auth on"
    )
    service_token: SecretStr | None = Field(
        None,
        description="the token a service sends when it calls another; servers accept it with role service",
    )
    insecure: bool = Field(
        False, description="start on a non-loopback address even with auth off, default secrets or no TLS"
    )
    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate chain this process presents (as a server, and as a client under mTLS)",
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    tls_ca_file: Path | None = Field(
        None,
        description="PEM CA bundle: clients verify servers with it; servers verify client certs under mTLS",
    )
    tls_client_auth: bool = Field(False, description="mutual TLS: servers require a client certificate")
    tls_server_name: str | None = Field(
        None,
        description="clients check servers' certificates against this name instead of the address's host",
    )
    drain_grace_s: float = Field(10.0, gt=0)
    readiness_interval_s: float = Field(
        5.0, gt=0, description="seconds between readiness probes of the object store (a HEAD of the bucket)"
    )
    readiness_timeout_s: float = Field(
        2.0, gt=0, description="a readiness probe without an answer by then fails"
    )
    keepalive_time_s: float = Field(30.0, gt=0)
    keepalive_timeout_s: float = Field(10.0, gt=0)
    max_concurrent_rpcs: int | None = Field(None, gt=0)
    work_threads: int = Field(
        4, ge=1, le=256, description="worker threads of the service's work pool (blocking RPC work)"
    )
    work_queue: int = Field(
        32, ge=0, le=10_000, description="calls that may wait for a worker; one more is RESOURCE_EXHAUSTED"
    )
    work_retry_after_s: float = Field(
        1.0, gt=0, description="the retry hint (google.rpc.RetryInfo) sent with RESOURCE_EXHAUSTED"
    )
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
    """Read the shared settings from the environment once; callers pass the result down."""
    return Settings()
