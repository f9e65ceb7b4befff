"""The training worker: runs one job from the object store to a model version.

`run_job(store, settings, job_id, local_dir) -> JobState` is everything a worker process does
(`python -m foundry.training.worker --job-id ID` reads `Settings` from `FOUNDRY_*`, calls it and
exits 0 on succeeded or cancelled, 1 on failed; a Kubernetes Job runs the same command):

1. read `jobs/<id>/job.json`; a job already succeeded or cancelled is left as it is;
2. state RUNNING; resolve the base model (an imported base model, materialized into the local
   cache, or an earlier model version's `hf/` checkpoint) and the dataset version (its task must
   be the job's); the label map from the dataset's label set;
3. tokenization through the object-store cache (`data.cache.load_or_encode`; a hit is logged);
4. the task model (freezing, LoRA as the spec says), then the training loop with a sink that
   stores its events as `ProgressEvent`s (train events throttled to about one per second) and
   uploads every checkpoint to `jobs/<id>/checkpoints/latest` (and the best to `.../best`); the
   loop's `should_stop` polls the cancel marker at most every `cancel_poll_s` seconds. A worker
   that finds a stored checkpoint resumes from it (a killed worker's replacement goes on);
5. cancelled: state CANCELLED (the checkpoint is kept); succeeded: the best weights, LoRA
   merged, the Hugging Face checkpoint, ONNX + int8 with parity on the evaluation split, the
   test split evaluated, the curves PNG, metrics and label map, uploaded under
   `models/<name>/<version_id>/`, then the `ModelVersion` manifest (promoted, or rejected when
   fp32 parity fails), and the final event SUCCEEDED with the version id;
6. any exception: state FAILED with the error message.

Under torchrun (world size above 1, DDP; `DistContext.from_env`) every rank runs `run_job`, but
only rank 0 writes to the object store: the events and the job's state, the token cache, the
checkpoints, the model version. The other ranks read what they need, train, and take part in
the collectives; their `FollowerWriter` stores nothing and their loop sink is a `NullSink`. Rank
0 goes first where something is filled for all (the base-model cache, the token cache, the
local checkpoint folder, which the ranks share: one node or a shared volume). Only rank 0 polls
the cancel marker; the loop's `any_rank` at every step hands its answer to every rank, so all
stop at the same step. After training the other ranks return; rank 0 exports and records.

Chat (causal LM) jobs take the same steps with their own pieces (`foundry.training.chat`): the
chat template is resolved before encoding and enters the cache key, the model is
`AutoModelForCausalLM`, the checkpoint carries the template and a generation config, and the
export is ONNX with a key/value cache whose gate is greedy token equality with PyTorch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from foundry.domain.base_models import get_base_model, materialize
from foundry.domain.chattemplates import ChatTemplate, resolve_template
from foundry.domain.modelversions import (
    PROMOTED,
    REJECTED,
    ArtifactKind,
    ModelArtifact,
    ModelVersion,
    artifact_key,
    compute_model_version_id,
    download_artifacts,
    get_model_version,
    list_model_versions,
    write_model_version,
)
from foundry.runtime.datasets import resolve_version
from foundry.runtime.errors import FailedPreconditionError, FoundryError
from foundry.runtime.examples import Split, Task
from foundry.runtime.hashing import file_sha256
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.chat.encode import ChatEncoder
from foundry.training.chat.model import load_causal_lm, save_chat_checkpoint, stop_token_ids
from foundry.training.chat.version import export_chat
from foundry.training.data.batching import eval_batches
from foundry.training.data.cache import SplitEncoder, load_or_encode
from foundry.training.data.collate import Collator
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import LabelMap, label_map_for
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.export import ExportSettings, MetricFn, export_model
from foundry.training.jobstore import EventKind, EventWriter, FollowerWriter, JobRecord
from foundry.training.loop.checkpoints import latest_checkpoint, load_weights
from foundry.training.loop.curves import plot_curves
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.evaluate import evaluate
from foundry.training.loop.events import (
    CheckpointEvent,
    EvalEvent,
    EventSink,
    JobState,
    NullSink,
    StateEvent,
    StepEvent,
)
from foundry.training.loop.precision import resolve_precision
from foundry.training.loop.setup import LoopOptions
from foundry.training.loop.trainer import train
from foundry.training.metrics import classification_metrics, entity_metrics_from_codes
from foundry.training.models import (
    LoraSettings,
    apply_lora,
    freeze,
    load_task_model,
    load_tokenizer,
    merge_for_export,
    save_checkpoint,
)
from foundry.training.spec import JobSpec, Precision, TrainingMethod

log = logging.getLogger("foundry.training.worker")

#: most seconds between two stored train events (the last step is always stored)
TRAIN_EVENT_INTERVAL_S = 1.0
#: most seconds between two looks at the cancel marker
CANCEL_POLL_S = 2.0


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker runs (what the spec does not say)."""

    train_event_interval_s: float = TRAIN_EVENT_INTERVAL_S
    #: store a train event at least every this many steps too (0: by time only)
    train_event_every_steps: int = 0
    cancel_poll_s: float = CANCEL_POLL_S
    #: the device to train on; None: the first GPU, else the CPU
    device: str | None = None


# --- the sink: loop events → stored progress events, checkpoints → object store --------------------


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class StoreSink:
    """The loop's `EventSink` for a worker: events to the job's stream, checkpoints uploaded."""

    def __init__(self, writer: EventWriter, store: ObjectStore, job_id: str, options: WorkerOptions) -> None:
        self.writer, self.store, self.job_id, self.options = writer, store, job_id, options
        self._last_train = -math.inf
        self._last_train_step = 0
        self._pending: list[StepEvent] = []
        self.uploaded_steps: list[int] = []

    def on_state(self, event: StateEvent) -> None:
        self._flush()
        self.writer.state(
            event.state, event.message, step=event.step, total_steps=event.total_steps, epoch=event.epoch
        )

    def on_step(self, event: StepEvent) -> None:
        self._pending.append(event)
        now = time.monotonic()
        every = self.options.train_event_every_steps
        if (
            now - self._last_train >= self.options.train_event_interval_s
            or event.step >= event.total_steps
            or (every and event.step - self._last_train_step >= every)
        ):
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        events, self._pending = self._pending, []
        last = events[-1]
        tokens = sum(e.num_tokens for e in events)
        samples = sum(e.num_samples for e in events)
        seconds = sum(e.num_tokens / e.tokens_per_s for e in events if e.tokens_per_s > 0)
        self.writer.append(
            EventKind.TRAIN,
            step=last.step,
            total_steps=last.total_steps,
            epoch=last.epoch,
            loss=_finite(float(np.mean([e.loss for e in events]))),
            learning_rate=last.learning_rate,
            throughput_tokens_per_s=tokens / seconds if seconds > 0 else last.tokens_per_s,
            throughput_samples_per_s=samples / seconds if seconds > 0 else last.samples_per_s,
        )
        self._last_train = time.monotonic()
        self._last_train_step = last.step

    def on_eval(self, event: EvalEvent) -> None:
        self._flush()
        metrics = {k: v for k, v in event.metrics.items() if math.isfinite(v)}
        self.writer.append(
            EventKind.EVAL,
            step=event.step,
            total_steps=event.total_steps,
            epoch=event.epoch,
            eval_metrics=metrics,
            message=f"{event.objective} {event.objective_value:.4f}" + (" (best)" if event.is_best else ""),
        )

    def on_checkpoint(self, event: CheckpointEvent) -> None:
        self._flush()
        try:
            index = jobstore.upload_checkpoint(self.store, self.job_id, event.path, event.step)
            if event.is_best:
                jobstore.upload_checkpoint(
                    self.store, self.job_id, event.path, event.step, jobstore.BEST_SLOT
                )
        except FoundryError as exc:  # a failed upload only makes the resume point older
            log.warning("checkpoint %s of job %s was not uploaded: %s", event.path.name, self.job_id, exc)
            self.writer.log(f"checkpoint {event.path.name} was not uploaded: {exc}", step=event.step)
            return
        self.uploaded_steps.append(event.step)
        self.writer.append(
            EventKind.CHECKPOINT,
            step=event.step,
            epoch=event.epoch,
            message=f"checkpoint {index.folder} ({event.reason.value}) uploaded to "
            f"{jobstore.checkpoint_prefix(self.job_id)}",
        )

    def on_checkpoint_removed(self, path: Path) -> None:
        pass  # the stored slot always holds the newest; the local folder is gone already

    def on_log(self, message: str) -> None:
        self._flush()
        self.writer.log(message)


class CancelPoller:
    """`should_stop` for the loop: looks at the cancel marker at most every `interval_s`."""

    def __init__(self, store: ObjectStore, job_id: str, interval_s: float) -> None:
        self.store, self.job_id, self.interval_s = store, job_id, interval_s
        self._last = -math.inf
        self.cancelled = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self._last >= self.interval_s:
            self._last = now
            self.cancelled = jobstore.cancel_requested(self.store, self.job_id)
        return self.cancelled


# --- the job ------------------------------------------------------------------------------------------


def run_job(
    store: ObjectStore,
    settings: Settings,
    job_id: str,
    local_dir: str | Path,
    options: WorkerOptions | None = None,
) -> JobState:
    """Run job `job_id` to its end and return its final state (see the module docstring)."""
    opts = options or WorkerOptions()
    record = jobstore.get_job(store, job_id)
    dist = DistContext.from_env(device=opts.device)
    try:
        writer = EventWriter(store, job_id) if dist.is_main else FollowerWriter(store, job_id, dist.rank)
        finished = writer.current_state in (JobState.SUCCEEDED, JobState.CANCELLED)
        if dist.any_rank(dist.is_main and finished):  # rank 0's view decides for all
            return writer.current_state
        try:
            return _run(store, settings, record, Path(local_dir), writer, opts, dist)
        except Exception as exc:  # every failure ends the job as FAILED, with its message
            log.exception("job %s failed on rank %d", job_id, dist.rank)
            message = f"{type(exc).__name__}: {exc}"
            try:
                writer.state(JobState.FAILED, message)
            except Exception:  # the store itself is gone: nothing more to record
                log.exception("could not record the failure of job %s", job_id)
            return JobState.FAILED
    finally:
        dist.shutdown()


def _run(
    store: ObjectStore,
    settings: Settings,
    record: JobRecord,
    local_dir: Path,
    writer: EventWriter,
    opts: WorkerOptions,
    dist: DistContext,
) -> JobState:
    spec, job_id = record.spec, record.job_id
    main = dist.is_main  # under DDP only rank 0 writes to the store (the others' writer stores nothing)
    resumed = writer.seq > 0 and writer.current_state is not JobState.QUEUED
    writer.state(JobState.RUNNING, "worker started" + (" again (resuming)" if resumed else ""))
    local_dir.mkdir(parents=True, exist_ok=True)

    dataset = _resolve_dataset(store, spec)
    if dataset.task is not spec.task:
        raise FailedPreconditionError(
            f"dataset {dataset.name}@{dataset.version_id[:12]} is a {dataset.task.value} dataset, "
            f"but the job trains {spec.task.value}",
            reason="DATASET_TASK_MISMATCH",
        )
    label_map = label_map_for(spec.task, dataset.label_set)
    scratch = local_dir if main else local_dir / f"rank-{dist.rank}"
    base_folder, base_ref = dist.main_first(lambda: _resolve_base_model(store, settings, spec, scratch))
    writer.log(f"base model {base_ref['kind']} {base_ref['name']}@{base_ref['version_id'][:12]}")

    hf_tokenizer = load_tokenizer(base_folder)
    tokenizer = TokenizerInfo.of(hf_tokenizer)
    template = _chat_template(spec, hf_tokenizer) if spec.task is Task.CHAT else None
    if template is not None:
        writer.log(f"chat template {template.origin} (sha256 {template.sha256[:12]})")
    encoder = ChatEncoder(template, tokenizer) if template is not None else None
    splits = dist.main_first(  # rank 0 fills the token cache, the others find it there
        lambda: _encode_splits(store, dataset, spec, tokenizer, label_map, writer, encoder, store_miss=main)
    )
    train_split = splits[spec.train_split]
    eval_split = splits.get(spec.eval_split)

    model = _build_model(base_folder, spec, label_map)
    checkpoint_root = local_dir / "checkpoints"  # shared by the ranks (one node or a shared volume)
    resume_from = dist.main_first(lambda: _checkpoint_folder(store, job_id, checkpoint_root, main))
    if resume_from is not None:
        writer.log(f"resuming from stored checkpoint {resume_from.name}")
    sink: EventSink = StoreSink(writer, store, job_id, opts) if main else NullSink()
    # rank 0 polls the cancel marker; the loop's any_rank() hands its answer to every rank
    poller: Callable[[], bool] = CancelPoller(store, job_id, opts.cancel_poll_s) if main else _never
    result = train(
        spec,
        model,
        train_split,
        eval_split,
        tokenizer,
        label_map,
        sink=sink,
        checkpoint_dir=checkpoint_root,
        resume_from=resume_from,
        should_stop=poller,
        options=LoopOptions(log_every_steps=1, dist=dist),
    )
    if not main:  # trained and took part in every collective; rank 0 records the outcome
        return result.state
    if result.state is JobState.CANCELLED:
        if writer.current_state is not JobState.CANCELLED:
            writer.state(
                JobState.CANCELLED, result.message, step=result.steps, total_steps=result.total_steps
            )
        return JobState.CANCELLED

    # --- the model version ----------------------------------------------------------------------------
    existing = _version_of_job(store, record)
    if existing is not None:  # a worker died after writing it, before its final event
        return _succeeded(writer, existing, result.steps, result.total_steps, result.epoch)
    best = _best_weights(store, job_id, result.best_checkpoint, checkpoint_root / "best")
    if best is not None:
        load_weights(model, best)
        writer.log(f"using the best checkpoint {best.name} (step {result.best_step})")
    merged = merge_for_export(model)
    as_module: nn.Module = merged
    as_module.to(torch.device("cpu")).train(False)
    out = local_dir / "model"
    shutil.rmtree(out, ignore_errors=True)
    if template is not None:
        save_chat_checkpoint(merged, hf_tokenizer, template, out / "hf")
    else:
        save_checkpoint(merged, hf_tokenizer, out / "hf")

    metrics = _final_metrics(merged, splits, spec, tokenizer, label_map, result.to_dict())
    (out / "metrics.json").write_text(json.dumps(_json_safe(metrics), indent=2, sort_keys=True), "utf-8")
    (out / "label_map.json").write_text(json.dumps(label_map.to_dict(), indent=2), "utf-8")
    plot_curves(
        result.history,
        out / "curves.png",
        objective=result.objective,
        maximize=result.objective_goal == "maximize",
        title=f"{record.model_name} ({job_id})",
    )

    status, reason, parity = PROMOTED, "", None
    parity_split = eval_split or train_split
    if spec.export.onnx and template is not None:
        writer.append(EventKind.EXPORT, step=result.steps, message="exporting ONNX with a key/value cache")
        chat = export_chat(
            merged,
            out,
            parity_split,
            opset=spec.export.opset,
            int8=spec.export.int8,
            stop_ids=stop_token_ids(hf_tokenizer, template),
            max_new_tokens=spec.causal_lm.exact_match_max_tokens,
        )
        parity = {**chat.parity, "split": spec.eval_split.value if eval_split else spec.train_split.value}
        if not chat.passed:
            status, reason = REJECTED, chat.reason
        writer.append(EventKind.EXPORT, step=result.steps, message=chat.message)
    elif spec.export.onnx:
        writer.append(EventKind.EXPORT, step=result.steps, message="exporting ONNX and checking parity")
        batches = _parity_batches(parity_split, tokenizer, spec.batch_size)
        exported = export_model(
            merged,
            out / "onnx",
            batches,
            ExportSettings(
                onnx=spec.export.onnx,
                int8=spec.export.int8,
                opset=spec.export.opset,
                parity_tolerance=spec.export.parity_tolerance,
            ),
            metric=_parity_metric(parity_split, [b["rows"] for b in batches], spec, label_map),
            multilabel_threshold=spec.multilabel_threshold
            if spec.task is Task.MULTILABEL_CLASSIFICATION
            else None,
        )
        if exported.parity is not None:
            parity = json.loads(exported.parity.to_json())
            parity["split"] = spec.eval_split.value if eval_split is not None else spec.train_split.value
            (out / "parity.json").write_text(exported.parity.to_json(), "utf-8")
            if not exported.passed:
                status = REJECTED
                reason = (
                    f"fp32 ONNX parity failed: max |logit difference| {exported.parity.max_abs_diff:.3g} "
                    f"> tolerance {exported.parity.tolerance:.3g}"
                )
        writer.append(
            EventKind.EXPORT,
            step=result.steps,
            message=f"parity {'passed' if status == PROMOTED else 'FAILED'}: max |diff| "
            f"{parity['max_abs_diff'] if parity else 0}",
        )

    version = _store_version(
        store, out, record, spec, dataset, base_ref, label_map, metrics, parity, status, reason
    )
    return _succeeded(writer, version, result.steps, result.total_steps, result.epoch)


def _succeeded(
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


def _version_of_job(store: ObjectStore, record: JobRecord) -> ModelVersion | None:
    name = record.model_name or record.spec.model_name or record.spec.dataset.name
    for version in list_model_versions(store, name, include_rejected=True):
        if version.job_id == record.job_id:
            return version
    return None


# --- resolving inputs ----------------------------------------------------------------------------------


def _resolve_dataset(store: ObjectStore, spec: JobSpec) -> DatasetManifest:
    return resolve_version(store, spec.dataset.name, spec.dataset.version_id)


def _resolve_base_model(
    store: ObjectStore, settings: Settings, spec: JobSpec, local_dir: Path
) -> tuple[Path, dict[str, str]]:
    ref = spec.base_model
    if ref.kind == "imported":
        manifest = get_base_model(store, ref.name, ref.version_id)
        folder = materialize(store, manifest, settings.cache_dir / "base-models")
        return folder, {"kind": "imported", "name": manifest.name, "version_id": manifest.version_id}
    version = get_model_version(store, ref.name, ref.version_id)
    if version.task != spec.task.value:
        raise FailedPreconditionError(
            f"base model version {version.name}@{version.version_id[:12]} is a {version.task} model, "
            f"but the job trains {spec.task.value}",
            reason="BASE_MODEL_TASK_MISMATCH",
        )
    folder = local_dir / "base" / version.version_id
    shutil.rmtree(folder, ignore_errors=True)
    download_artifacts(store, version, folder, under="hf/")
    return folder, {"kind": "model_version", "name": version.name, "version_id": version.version_id}


def _encode_splits(
    store: ObjectStore,
    dataset: DatasetManifest,
    spec: JobSpec,
    tokenizer: TokenizerInfo,
    label_map: LabelMap,
    writer: EventWriter,
    encoder: SplitEncoder | None = None,
    *,
    store_miss: bool = True,
) -> dict[Split, EncodedSplit]:
    wanted = list(dict.fromkeys([spec.train_split, spec.eval_split, Split.TEST]))
    splits: dict[Split, EncodedSplit] = {}
    for split in wanted:
        if not dataset.split_counts.get(split.value, 0):
            if split is spec.train_split:
                raise FailedPreconditionError(
                    f"dataset {dataset.name}@{dataset.version_id[:12]} has no {split.value} examples",
                    reason="EMPTY_TRAIN_SPLIT",
                )
            continue
        encoded, hit = load_or_encode(
            store,
            dataset,
            split,
            tokenizer,
            spec.sequence_length,
            label_map,
            encoder=encoder,
            store_miss=store_miss,
        )
        limit = spec.max_train_examples if split is spec.train_split else spec.max_eval_examples
        if limit and encoded.num_examples > limit:
            encoded = encoded.subset(np.arange(limit))
        writer.log(
            f"tokenization cache {'hit' if hit else 'miss (encoded and stored)'} for {split.value}: "
            f"{encoded.num_examples} examples, {encoded.num_rows} rows"
        )
        splits[split] = encoded
    return splits


def _checkpoint_folder(store: ObjectStore, job_id: str, root: Path, main: bool) -> Path | None:
    """The checkpoint to resume from. Rank 0 empties `root` and downloads the stored one into it;
    the other ranks (called after it) find that one there."""
    if not main:
        return latest_checkpoint(root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return jobstore.download_checkpoint(store, job_id, root)


def _never() -> bool:
    return False


def _chat_template(spec: JobSpec, tokenizer: Any) -> ChatTemplate:
    options = spec.causal_lm
    return resolve_template(
        tokenizer,
        template=options.chat_template,
        name=options.chat_template_name,
        default_system_prompt=options.default_system_prompt,
        last_turn_only=options.last_turn_only,
    )


def _build_model(folder: Path, spec: JobSpec, label_map: LabelMap) -> nn.Module:
    model: nn.Module
    if spec.task is Task.CHAT:
        checkpointing = spec.causal_lm.gradient_checkpointing
        model = load_causal_lm(folder, seed=spec.seed, gradient_checkpointing=checkpointing)
    else:
        model = load_task_model(folder, spec.task, label_map.labels, seed=spec.seed)
    if spec.freeze.embeddings or spec.freeze.first_n_layers:
        freeze(model, embeddings=spec.freeze.embeddings, first_n_layers=spec.freeze.first_n_layers)
    if spec.method is TrainingMethod.LORA:
        lora = spec.lora
        settings = LoraSettings(
            r=lora.r, alpha=lora.alpha, dropout=lora.dropout, target_modules=lora.target_modules
        )
        model = apply_lora(model, spec.task, settings)  # type: ignore[arg-type]
    return model


def _best_weights(store: ObjectStore, job_id: str, best: Path | None, scratch: Path) -> Path | None:
    """The best checkpoint folder: the local one, else the stored best slot; None without one."""
    if best is None:
        return None
    if best.is_dir():
        return best
    index = jobstore.read_checkpoint_index(store, job_id, jobstore.BEST_SLOT)
    if index is None or index.folder != best.name:
        return None
    return jobstore.download_checkpoint(store, job_id, scratch, jobstore.BEST_SLOT)


# --- evaluation and export helpers ---------------------------------------------------------------------


def _final_metrics(
    model: nn.Module,
    splits: dict[Split, EncodedSplit],
    spec: JobSpec,
    tokenizer: TokenizerInfo,
    label_map: LabelMap,
    training: dict[str, Any],
) -> dict[str, Any]:
    """Metrics of the exported weights on the evaluation and test splits, plus the training report."""
    dist = DistContext.single("cpu")
    policy = resolve_precision(Precision.FP32, dist.device)
    per_split: dict[str, dict[str, float]] = {}
    per_type: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for split in dict.fromkeys([spec.eval_split, Split.TEST]):
        encoded = splits.get(split)
        if encoded is None:
            continue
        evaluation = evaluate(
            model,
            encoded,
            Collator(encoded, tokenizer),
            label_map,
            policy=policy,
            dist=dist,
            batch_size=2 * spec.batch_size,
            multilabel_threshold=spec.multilabel_threshold,
            exact_match_max_tokens=spec.causal_lm.exact_match_max_tokens,
        )
        per_split[split.value] = evaluation.metrics
        details[split.value] = evaluation.details
        for key in ("per_type", "per_class"):
            if key in evaluation.details:
                per_type[split.value] = evaluation.details[key]
    history = training.pop("history", {})
    return {
        "splits": per_split,
        "per_type": per_type,
        "details": details,
        "training": training,
        "history": history,
    }


def _manifest_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The manifest's metrics: `{"splits": {<split>: {metric: value}}, "per_type": {<split>:
    {type: scores}}, "confusion": {<split>: matrix} (classification), "training": summary}`."""
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
    if confusion:
        out["confusion"] = confusion
    out["training"] = summary
    return out


def _parity_batches(split: EncodedSplit, tokenizer: TokenizerInfo, batch_size: int) -> list[dict[str, Any]]:
    collator = Collator(split, tokenizer)
    batches = []
    for rows in eval_batches(split.lengths, 2 * batch_size):
        batch = collator(rows)
        batches.append(
            {
                "input_ids": batch.input_ids.numpy(),
                "attention_mask": batch.attention_mask.numpy(),
                "rows": batch.rows,
            }
        )
    return batches


def _parity_metric(
    split: EncodedSplit, rows: list[Any], spec: JobSpec, label_map: LabelMap
) -> MetricFn | None:
    """The task metric from the logits of each parity batch (`rows` are the batches' rows, in
    batch order), or None for tasks without one here."""
    labels = list(label_map.labels)
    if spec.task is Task.TOKEN_CLASSIFICATION:

        def entity_f1(logits: Sequence[Any]) -> float:
            predictions = np.zeros(split.input_ids.size, np.int64)
            for batch_rows, batch_logits in zip(rows, logits, strict=True):
                split.scatter(batch_rows, np.asarray(batch_logits).argmax(axis=-1), predictions)
            words = split.word_predictions(predictions)
            scores = entity_metrics_from_codes(split.word_labels, words, split.word_offsets, labels).to_dict()
            return float(scores["eval_f1"])

        return entity_f1
    if spec.task is Task.TEXT_CLASSIFICATION:

        def macro_f1(logits: Sequence[Any]) -> float:
            predictions = np.zeros(split.num_rows, np.int64)
            for batch_rows, batch_logits in zip(rows, logits, strict=True):
                predictions[batch_rows] = np.asarray(batch_logits).argmax(axis=-1)
            keep = split.labels >= 0
            scores = classification_metrics(split.labels[keep], predictions[keep], labels).to_dict()
            return float(scores["eval_macro_f1"])

        return macro_f1
    return None


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
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


def _store_version(
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
        metrics=_json_safe(_manifest_metrics(metrics)),
        parity=_json_safe(parity) if parity is not None else None,
        artifacts=artifacts,
        status=status,
        status_reason=reason,
    )
    return write_model_version(store, version)


# --- the command ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m foundry.training.worker --job-id ID [--work-dir DIR]`: 0 succeeded or cancelled, 1 failed."""
    parser = argparse.ArgumentParser(
        prog="python -m foundry.training.worker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--job-id", required=True)
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="local scratch (default: <home>/work/<job>)"
    )
    parser.add_argument("--cancel-poll-s", type=float, default=CANCEL_POLL_S)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    store = ObjectStore.from_settings(settings)
    work_dir = args.work_dir or settings.home_dir / "work" / args.job_id
    try:
        state = run_job(
            store, settings, args.job_id, work_dir, WorkerOptions(cancel_poll_s=args.cancel_poll_s)
        )
    except Exception:  # the job record could not even be read
        log.exception("job %s could not run", args.job_id)
        return 1
    log.info("job %s ended %s", args.job_id, state.value)
    return 0 if state in (JobState.SUCCEEDED, JobState.CANCELLED) else 1


if __name__ == "__main__":
    sys.exit(main())
