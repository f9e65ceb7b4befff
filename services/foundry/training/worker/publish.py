"""A trained job's model version: its artifacts uploaded under `models/<name>/<version_id>/`
(each with its kind and media type), then its manifest (last), and the job's final SUCCEEDED
event naming it; `version_of_job` finds the version a job already recorded."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from foundry.domain.modelversions import (
    ArtifactKind,
    ModelArtifact,
    ModelVersion,
    artifact_key,
    compute_model_version_id,
    list_model_versions,
    write_model_version,
)
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.hashing import file_sha256
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.training.data.labels import LabelMap
from foundry.training.jobstore import EventWriter, JobRecord
from foundry.training.loop.events import JobState
from foundry.training.spec import JobSpec


def succeeded(
    writer: EventWriter, version: ModelVersion, steps: int, total_steps: int, epoch: float
) -> JobState:
    reason = f": {version.status_reason}" if version.status_reason else ""
    writer.state(
        JobState.SUCCEEDED,
        f"model version {version.name}@{version.version_id[:12]} {version.status}{reason}",
        step=steps,
        total_steps=total_steps,
        epoch=epoch,
        model_version_id=version.version_id,
    )
    return JobState.SUCCEEDED


def version_of_job(store: ObjectStore, record: JobRecord) -> ModelVersion | None:
    name = record.model_name or record.spec.model_name or record.spec.dataset.name
    for version in list_model_versions(store, name, include_rejected=True):
        if version.job_id == record.job_id:
            return version
    return None


def manifest_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The manifest's metrics: `{"splits": {<split>: {metric: value}}, "per_type": {<split>:
    {type: scores}}, "confusion": {<split>: matrix} (classification), "training": summary}`;
    token classification adds `per_type_strict` and `decoding` per split."""
    training = metrics["training"]
    summary = {
        key: training.get(key)
        for key in (
            "objective",
            "objective_goal",
            "best_step",
            "steps",
            "total_steps",
            "epoch",
            "stop_reason",
            "train_seconds",
            "tokens_per_s",
            "samples_per_s",
            "precision",
        )
    }
    best = training.get("best_metrics") or {}
    summary["best_value"] = best.get(str(training.get("objective")))
    summary["early_stopped"] = training.get("stop_reason") == "early_stopping"
    confusion = {
        split: details["confusion_matrix"]
        for split, details in metrics["details"].items()
        if "confusion_matrix" in details
    }
    out: dict[str, Any] = {"splits": metrics["splits"], "per_type": metrics["per_type"]}
    for key in ("per_type_strict", "decoding"):  # token classification
        if key in metrics:
            out[key] = metrics[key]
    if confusion:
        out["confusion"] = confusion
    out["training"] = summary
    return out


def json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    return value


_KINDS = {
    "onnx/model.onnx": (ArtifactKind.ONNX_FP32, "application/onnx"),
    "onnx/model.int8.onnx": (ArtifactKind.ONNX_INT8, "application/onnx"),
    "label_map.json": (ArtifactKind.LABEL_MAP, "application/json"),
    "metrics.json": (ArtifactKind.METRICS_REPORT, "application/json"),
    "curves.png": (ArtifactKind.TRAINING_CURVES, "image/png"),
    "parity.json": (ArtifactKind.PARITY_REPORT, "application/json"),
}


def _kind_of(path: str) -> tuple[str, str]:
    if path in _KINDS:
        return _KINDS[path]
    name = path.rsplit("/", 1)[-1]
    media = "application/json" if name.endswith(".json") else "application/octet-stream"
    if name.startswith(("tokenizer", "special_tokens", "vocab", "chat_template")):
        return ArtifactKind.TOKENIZER, media
    return ArtifactKind.CHECKPOINT, media


def store_version(
    store: ObjectStore,
    out: Path,
    record: JobRecord,
    spec: JobSpec,
    dataset: DatasetManifest,
    base_ref: dict[str, str],
    label_map: LabelMap,
    metrics: dict[str, Any],
    parity: dict[str, Any] | None,
    status: str,
    reason: str,
) -> ModelVersion:
    """Upload the artifacts under their version's prefix, then the manifest (last)."""
    name = record.model_name or spec.model_name or dataset.name
    files = sorted(p for p in out.rglob("*") if p.is_file())
    hashed = [(p.relative_to(out).as_posix(), p, file_sha256(p), p.stat().st_size) for p in files]
    spec_dict = spec.to_dict()
    dataset_ref = {"name": dataset.name, "version_id": dataset.version_id}
    provisional = [ModelArtifact("", rel, "", sha, size) for rel, _, sha, size in hashed]
    version_id = compute_model_version_id(provisional, spec_dict, dataset_ref)
    artifacts = []
    for rel, path, sha, size in hashed:
        kind, media = _kind_of(rel)
        key = artifact_key(name, version_id, rel)
        info = store.put_file(key, path, content_type=media)
        if info.sha256 != sha:
            raise FailedPreconditionError(f"{path} changed while it was uploaded")
        artifacts.append(ModelArtifact(kind, rel, key, sha, size, media))
    version = ModelVersion(
        name=name,
        version_id=version_id,
        task=spec.task.value,
        id_to_label=list(label_map.labels),
        base_model=base_ref,
        dataset=dataset_ref,
        spec=spec_dict,
        job_id=record.job_id,
        metrics=json_safe(manifest_metrics(metrics)),
        parity=json_safe(parity) if parity is not None else None,
        artifacts=artifacts,
        status=status,
        status_reason=reason,
        normalization=dataset.normalization,
    )
    return write_model_version(store, version)
