from __future__ import annotations

import pydantic
import pytest

from foundry.augmentation.settings import AugmentationSettings
from foundry.inference.settings import InferenceSettings
from foundry.ingestion.settings import IngestionSettings
from foundry.labeling.settings import LabelingSettings
from foundry.runtime.settings import DEFAULT_GRPC_PORTS, DEFAULT_METRICS_PORTS, ServiceName, Settings
from foundry.training.settings import TrainingSettings


def test_env_prefix_and_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDRY_GRPC_PORT", "6000")
    monkeypatch.setenv("FOUNDRY_AUTH_TOKEN", "hunter2-token")
    monkeypatch.setenv("FOUNDRY_S3_ENDPOINT", "127.0.0.1:9000")
    monkeypatch.setenv("FOUNDRY_DRAIN_GRACE_S", "2.5")
    monkeypatch.setenv("GRPC_PORT", "7000")  # no prefix: ignored
    s = Settings()
    assert s.grpc_port == 6000 and s.grpc_port_for(ServiceName.TRAINING) == 6000
    assert s.auth_token is not None and s.auth_token.get_secret_value() == "hunter2-token"
    assert "hunter2" not in repr(s)  # secrets never print
    assert s.s3_endpoint == "127.0.0.1:9000" and s.drain_grace_s == 2.5


def test_defaults_give_each_service_its_own_ports() -> None:
    s = Settings()
    ports = {s.grpc_port_for(n) for n in ServiceName} | {s.metrics_port_for(n) for n in ServiceName}
    assert len(ports) == 10
    assert s.address_of(ServiceName.INFERENCE) == f"127.0.0.1:{DEFAULT_GRPC_PORTS[ServiceName.INFERENCE]}"
    assert DEFAULT_METRICS_PORTS[ServiceName.INGESTION] == 9101


def test_frozen() -> None:
    s = Settings()
    with pytest.raises(pydantic.ValidationError):
        s.grpc_port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("var", "value"),
    [("FOUNDRY_GRPC_PORT", "70000"), ("FOUNDRY_DRAIN_GRACE_S", "-1"), ("FOUNDRY_S3_PART_SIZE_BYTES", "1024")],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_each_service_reads_its_own_settings_under_the_same_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOUNDRY_S3_BUCKET", "shared-bucket")
    monkeypatch.setenv("FOUNDRY_INGEST_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("FOUNDRY_TRAINING_EXECUTOR", "kubernetes")
    monkeypatch.setenv("FOUNDRY_LABELING_RULE_TIMEOUT_MS", "50")
    monkeypatch.setenv("FOUNDRY_INFERENCE_MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("FOUNDRY_LLM_MODEL", "para-7b")
    ingestion, training = IngestionSettings(), TrainingSettings()
    labeling, inference, augmentation = LabelingSettings(), InferenceSettings(), AugmentationSettings()
    assert ingestion.ingest_max_upload_bytes == 1234 and training.training_executor == "kubernetes"
    assert labeling.labeling_rule_timeout_ms == 50 and inference.inference_max_batch_size == 4
    assert augmentation.llm_model == "para-7b"
    for service in (ingestion, training, labeling, inference, augmentation):
        assert isinstance(service, Settings) and service.s3_bucket == "shared-bucket"
    shared = Settings()  # another service's knobs are not the shared settings' business
    assert not hasattr(shared, "ingest_max_upload_bytes") and not hasattr(shared, "llm_model")
