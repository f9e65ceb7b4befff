"""pb ⇄ domain for the training service: JobSpec, jobs and their events, model versions and
base models. Servicers call these; the core never sees a protobuf message."""

from __future__ import annotations

import dataclasses
import typing
from datetime import datetime
from enum import StrEnum
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.message import Message

from foundry.api.common.v1 import artifact_pb2, job_pb2, model_pb2, refs_pb2, training_spec_pb2
from foundry.api.training.v1 import base_model_pb2, training_service_pb2
from foundry.api.training.v1 import job_pb2 as training_job_pb2
from foundry.domain.base_models import BaseModelManifest
from foundry.domain.modelversions import ModelVersion
from foundry.runtime.convert import (
    enum_from_pb,
    enum_to_pb,
    message_to_dataclass,
    split_to_pb,
    task_from_pb,
    task_to_pb,
)
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Split, Task
from foundry.training.baseimport import DeclaredFile, ImportHeader, ImportSession
from foundry.training.core import JobView
from foundry.training.jobstore import ProgressEvent
from foundry.training.loop.events import JobState
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec

_REQUIRED = ("task", "base_model", "dataset")


# --- JobSpec ----------------------------------------------------------------------------------------


def jobspec_from_pb(message: training_spec_pb2.JobSpec) -> JobSpec:
    """The JobSpec of a message; INVALID_ARGUMENT naming a missing required field."""
    missing = []
    if message.task == 0:
        missing.append(FieldViolation("spec.task", "required"))
    source = message.base_model.WhichOneof("source")
    if source is None:
        missing.append(FieldViolation("spec.base_model", "set imported or model_version"))
    if not message.dataset.name:
        missing.append(FieldViolation("spec.dataset.name", "required"))
    if missing:
        raise InvalidArgumentError(
            "the training spec is incomplete", reason="INVALID_JOB_SPEC", violations=missing
        )
    ref = getattr(message.base_model, str(source))
    kwargs: dict[str, Any] = {
        "task": task_from_pb(message.task, "spec.task"),
        # the proto's oneof is the dataclass's `kind`
        "base_model": BaseModelRef(
            "imported" if source == "imported" else "model_version", ref.name, ref.version_id
        ),
        "dataset": message_to_dataclass(message.dataset, DatasetRef),
    }
    hints = typing.get_type_hints(JobSpec)
    generic: Message = message  # field names come from the dataclass
    for field in dataclasses.fields(JobSpec):
        if field.name in _REQUIRED:
            continue
        descriptor = message.DESCRIPTOR.fields_by_name[field.name]
        hint = _unwrap_optional(hints[field.name])
        value = getattr(message, field.name)
        if descriptor.message_type is not None:
            if generic.HasField(field.name):
                kwargs[field.name] = message_to_dataclass(value, hint)
        elif descriptor.has_presence:
            if generic.HasField(field.name):
                kwargs[field.name] = value
        elif value != descriptor.default_value:
            if descriptor.enum_type is not None:
                value = enum_from_pb(hint, descriptor.enum_type, value)
            kwargs[field.name] = value
    return JobSpec(**kwargs)


def _unwrap_optional(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(hint) else hint


def jobspec_to_pb(spec: JobSpec) -> training_spec_pb2.JobSpec:
    message = training_spec_pb2.JobSpec()
    _fill(message, spec, skip=("base_model",))
    ref = refs_pb2.ModelRef(name=spec.base_model.name, version_id=spec.base_model.version_id)
    if spec.base_model.kind == "imported":
        message.base_model.imported.CopyFrom(ref)
    else:
        message.base_model.model_version.CopyFrom(ref)
    return message


def _fill(message: Message, value: Any, skip: tuple[str, ...] = ()) -> None:
    """Set the message's fields from the dataclass with the same field names."""
    by_name = message.DESCRIPTOR.fields_by_name
    for field in dataclasses.fields(value):
        descriptor = by_name.get(field.name)
        item = getattr(value, field.name)
        if descriptor is None or field.name in skip or item is None:
            continue
        if dataclasses.is_dataclass(item):
            _fill(getattr(message, field.name), item)
        elif isinstance(item, tuple | list):
            getattr(message, field.name).extend(item)
        elif isinstance(item, StrEnum):
            setattr(message, field.name, enum_to_pb(item, descriptor.enum_type))
        else:
            setattr(message, field.name, item)


# --- jobs -------------------------------------------------------------------------------------------


def validated_spec_job(spec: JobSpec) -> training_job_pb2.Job:
    """The Job of a validate_only submit: only its resolved spec."""
    return training_job_pb2.Job(spec=jobspec_to_pb(spec))


def job_state_to_pb(state: JobState) -> Any:
    return enum_to_pb(state, job_pb2.JobState.DESCRIPTOR)


def job_state_from_pb(number: int) -> JobState:
    return enum_from_pb(JobState, job_pb2.JobState.DESCRIPTOR, number)


def _timestamp(target: Any, iso: str) -> None:
    if iso:
        target.FromDatetime(datetime.fromisoformat(iso.replace("Z", "+00:00")))


def event_to_pb(event: ProgressEvent) -> job_pb2.ProgressEvent:
    message = job_pb2.ProgressEvent(
        seq=event.seq,
        job_id=event.job_id,
        kind=job_pb2.ProgressEventKind.Value(f"PROGRESS_EVENT_KIND_{event.kind.upper()}"),
        state=job_state_to_pb(JobState(event.state)) if event.state else job_pb2.JOB_STATE_UNSPECIFIED,
        step=event.step,
        total_steps=event.total_steps,
        epoch=event.epoch,
        eval_metrics=event.eval_metrics,
        message=event.message,
        model_version_id=event.model_version_id,
    )
    for name in ("loss", "learning_rate", "throughput_tokens_per_s", "throughput_samples_per_s"):
        value = getattr(event, name)
        if value is not None:
            setattr(message, name, value)
    _timestamp(message.time, event.time)
    return message


def job_to_pb(view: JobView) -> training_job_pb2.Job:
    record = view.record
    message = training_job_pb2.Job(
        job_id=record.job_id,
        request_id=record.request_id,
        spec=jobspec_to_pb(record.spec),
        state=job_state_to_pb(view.state),
        error=view.error,
        attempts=record.attempts,
        executor=view.executor,
        model_name=record.model_name,
        model_version_id=view.model_version_id,
    )
    if view.search is not None:
        report = view.search
        message.child_job_ids.extend(report.child_job_ids)
        message.search_budget_units = report.budget_units
        message.search_spent_units = report.spent_units
        if report.final_job_id:
            message.search_final.CopyFrom(
                training_job_pb2.SearchTrial(
                    job_id=report.final_job_id,
                    rung=max((t.rung + 1 for t in report.trials), default=0),
                    learning_rate=report.final_learning_rate,
                    epochs=report.final_epochs,
                    train_examples=report.final_cost_units // max(report.final_epochs, 1),
                    cost_units=report.final_cost_units,
                    objective=report.objective,
                )
            )
        for trial in report.trials:
            value = trial.objective_value
            message.trials.add(
                job_id=trial.job_id,
                rung=trial.rung,
                learning_rate=trial.learning_rate,
                epochs=trial.epochs,
                train_examples=trial.train_examples,
                cost_units=trial.cost_units,
                state=job_state_to_pb(JobState(trial.state)),
                objective_value=value if value is not None else 0.0,
                objective=report.objective,
            )
    if view.last_event is not None:
        message.last_event.CopyFrom(event_to_pb(view.last_event))
    _timestamp(message.created_at, record.created_at)
    _timestamp(message.started_at, view.started_at)
    _timestamp(message.finished_at, view.finished_at)
    return message


# --- model versions -----------------------------------------------------------------------------------


def model_version_to_pb(version: ModelVersion) -> model_pb2.ModelVersion:
    """The ModelVersion message of a stored manifest: identity, lineage, status, the artifacts
    and the split metrics' scalar values (the full metrics and parity are in the artifacts)."""
    message = model_pb2.ModelVersion(
        name=version.name,
        version_id=version.version_id,
        id_to_label=version.id_to_label,
        job_id=version.job_id,
        status=model_pb2.MODEL_STATUS_PROMOTED if version.promoted else model_pb2.MODEL_STATUS_REJECTED,
        status_reason=version.status_reason,
        code_version=version.code_version,
    )
    if version.task in {t.value for t in Task}:
        message.task = task_to_pb(Task(version.task))
    spec = JobSpec.from_dict(version.spec)
    message.spec.CopyFrom(jobspec_to_pb(spec))
    message.dataset.CopyFrom(refs_pb2.DatasetRef(name=spec.dataset.name, version_id=spec.dataset.version_id))
    message.base_model.CopyFrom(jobspec_to_pb(spec).base_model)
    splits = version.metrics.get("splits")
    if isinstance(splits, dict):  # split name -> {metric: value}
        for name, values in splits.items():
            entry = message.metrics.splits.add()
            if name in {s.value for s in Split}:
                entry.split = split_to_pb(Split(name))
            if isinstance(values, dict):
                entry.values.update(
                    {str(k): float(v) for k, v in values.items() if isinstance(v, int | float)}
                )
            _per_label(entry.per_label, version.metrics.get("per_type"), name)
            _per_label(entry.per_label_strict, version.metrics.get("per_type_strict"), name)
            decoding = version.metrics.get("decoding", {})
            if isinstance(decoding, dict) and isinstance(decoding.get(name), dict):
                entry.decoding = " ".join(f"{k}={str(v).lower()}" for k, v in decoding[name].items())
    if version.parity is not None:
        message.parity.CopyFrom(parity_to_pb(version.parity))
    if version.normalization is not None:
        for key, value in version.normalization.items():
            if key in message.normalization.DESCRIPTOR.fields_by_name:
                setattr(message.normalization, key, value)
        message.normalization.SetInParent()
    for artifact in version.artifacts:
        added = message.artifacts.add(path=artifact.path, kind=_artifact_kind(artifact.kind))
        added.ref.key = artifact.key
        added.ref.sha256 = artifact.sha256
        added.ref.size_bytes = artifact.size_bytes
        added.ref.media_type = artifact.media_type
    _timestamp(message.created_at, version.created_at)
    return message


def _artifact_kind(kind: str) -> artifact_pb2.ArtifactKind.ValueType:
    """The `ArtifactKind` that a stored artifact's kind ("onnx_fp32") names; OTHER if unknown."""
    try:
        return artifact_pb2.ArtifactKind.Value(f"ARTIFACT_KIND_{kind.upper()}")
    except ValueError:
        return artifact_pb2.ARTIFACT_KIND_OTHER


def _per_label(out: Any, per_split: Any, split: str) -> None:
    """Add the `ClassMetrics` of `per_split[split]` (label → {precision, recall, f1, support})."""
    scores = per_split.get(split) if isinstance(per_split, dict) else None
    if not isinstance(scores, dict):
        return
    for label, values in scores.items():
        if isinstance(values, dict):
            out.add(
                label=str(label),
                precision=float(values.get("precision", 0.0)),
                recall=float(values.get("recall", 0.0)),
                f1=float(values.get("f1", 0.0)),
                support=int(values.get("support", 0)),
            )


def parity_to_pb(parity: dict[str, Any]) -> model_pb2.ParityReport:
    """The ParityReport message of the worker's parity record (`export.parity.ParityReport`)."""

    def number(key: str) -> float:
        value = parity.get(key)
        return float(value) if isinstance(value, int | float) else 0.0

    reference = number("metric_reference")
    message = model_pb2.ParityReport(
        examples=int(number("examples")),
        tolerance=number("tolerance"),
        fp32=model_pb2.VariantParity(
            variant=model_pb2.MODEL_VARIANT_FP32,
            max_abs_logit_diff=number("max_abs_diff"),
            mean_abs_logit_diff=number("mean_abs_diff"),
            label_agreement=number("fp32_label_agreement"),
            metric_reference=reference,
            metric_value=number("fp32_metric_value"),
            metric_delta=number("fp32_metric_value") - reference,
            passed=bool(parity.get("passed")),
        ),
    )
    if parity.get("int8_max_abs_diff") is not None:
        message.int8.CopyFrom(
            model_pb2.VariantParity(
                variant=model_pb2.MODEL_VARIANT_INT8,
                max_abs_logit_diff=number("int8_max_abs_diff"),
                mean_abs_logit_diff=number("int8_mean_abs_diff"),
                label_agreement=number("int8_label_agreement"),
                metric_reference=reference,
                metric_value=number("int8_metric_value"),
                metric_delta=number("int8_metric_delta"),
            )
        )
    return message


# --- base models -----------------------------------------------------------------------------------


def import_header_from_pb(header: training_service_pb2.ImportBaseModelHeader) -> ImportHeader:
    return ImportHeader(
        name=header.name,
        source=header.source,
        files=tuple(DeclaredFile(f.path, f.size_bytes, f.sha256.lower()) for f in header.files),
    )


def receive_import_chunk(
    session: ImportSession, request: training_service_pb2.ImportBaseModelRequest
) -> None:
    """One ImportBaseModel chunk, handed to the session."""
    session.write(request.chunk.path, request.chunk.offset, request.chunk.data)


def base_model_to_pb(manifest: BaseModelManifest) -> base_model_pb2.BaseModel:
    message = base_model_pb2.BaseModel(
        name=manifest.name,
        version_id=manifest.version_id,
        source=manifest.source,
        model_type=manifest.model_type,
        architectures=manifest.architectures,
        num_parameters=manifest.num_parameters,
        vocab_size=manifest.vocab_size,
        max_position_embeddings=manifest.max_position_embeddings,
        has_chat_template=manifest.has_chat_template,
        tasks=[task_to_pb(t) for t in manifest.tasks],
    )
    config = struct_pb2.Struct()
    config.update(manifest.config)
    message.config.CopyFrom(config)
    for f in manifest.files:
        entry = message.files.add(path=f.path)
        entry.ref.key = f.key
        entry.ref.sha256 = f.sha256
        entry.ref.size_bytes = f.size_bytes
    _timestamp(message.created_at, manifest.created_at)
    return message


__all__ = [
    "base_model_to_pb",
    "event_to_pb",
    "import_header_from_pb",
    "job_state_from_pb",
    "job_to_pb",
    "jobspec_from_pb",
    "jobspec_to_pb",
    "model_version_to_pb",
    "parity_to_pb",
    "receive_import_chunk",
]
