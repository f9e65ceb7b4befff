"""`run_job`: one training job from the object store to a model version, on every rank (the
steps are listed in the package docstring, `foundry.training.worker`)."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobstore
from foundry.training.chat.encode import ChatEncoder
from foundry.training.chat.model import save_chat_checkpoint
from foundry.training.data.labels import label_map_for
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.jobstore import EventWriter, FollowerWriter, JobRecord
from foundry.training.loop.checkpoints import load_weights
from foundry.training.loop.curves import plot_curves
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.events import EventSink, JobState, NullSink
from foundry.training.loop.setup import LoopOptions
from foundry.training.loop.trainer import train
from foundry.training.models import load_tokenizer, merge_for_export, save_checkpoint
from foundry.training.worker.export import export_onnx, final_metrics
from foundry.training.worker.inputs import (
    best_weights,
    build_model,
    chat_template,
    checkpoint_folder,
    encode_splits,
    resolve_base_model,
    resolve_dataset,
)
from foundry.training.worker.options import WorkerOptions
from foundry.training.worker.publish import json_safe, store_version, succeeded, version_of_job
from foundry.training.worker.sink import CancelPoller, StoreSink

log = logging.getLogger("foundry.training.worker")


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

    dataset = resolve_dataset(store, spec)
    if dataset.task is not spec.task:
        raise FailedPreconditionError(
            f"dataset {dataset.name}@{dataset.version_id[:12]} is a {dataset.task.value} dataset, "
            f"but the job trains {spec.task.value}",
            reason="DATASET_TASK_MISMATCH",
        )
    label_map = label_map_for(spec.task, dataset.label_set)
    scratch = local_dir if main else local_dir / f"rank-{dist.rank}"
    base_folder, base_ref = dist.main_first(lambda: resolve_base_model(store, settings, spec, scratch))
    writer.log(f"base model {base_ref['kind']} {base_ref['name']}@{base_ref['version_id'][:12]}")

    hf_tokenizer = load_tokenizer(base_folder)
    tokenizer = TokenizerInfo.of(hf_tokenizer)
    template = chat_template(spec, hf_tokenizer) if spec.task is Task.CHAT else None
    if template is not None:
        writer.log(f"chat template {template.origin} (sha256 {template.sha256[:12]})")
    encoder = ChatEncoder(template, tokenizer) if template is not None else None
    splits = dist.main_first(  # rank 0 fills the token cache, the others find it there
        lambda: encode_splits(store, dataset, spec, tokenizer, label_map, writer, encoder, store_miss=main)
    )
    train_split = splits[spec.train_split]
    eval_split = splits.get(spec.eval_split)

    model = build_model(base_folder, spec, label_map)
    checkpoint_root = local_dir / "checkpoints"  # shared by the ranks (one node or a shared volume)
    resume_from = dist.main_first(lambda: checkpoint_folder(store, job_id, checkpoint_root, main))
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

    if spec.search.trial:  # a search's trial: its best scores on the eval split are its result
        scores = result.best_metrics or result.final_metrics or {}
        writer.state(
            JobState.SUCCEEDED,
            f"trial done: {result.objective} {scores.get(result.objective, math.nan):.4f}",
            step=result.steps,
            total_steps=result.total_steps,
            epoch=result.epoch,
            eval_metrics={k: float(v) for k, v in scores.items() if math.isfinite(float(v))},
        )
        return JobState.SUCCEEDED

    # --- the model version ----------------------------------------------------------------------------
    existing = version_of_job(store, record)
    if existing is not None:  # a worker died after writing it, before its final event
        return succeeded(writer, existing, result.steps, result.total_steps, result.epoch)
    best = best_weights(store, job_id, result.best_checkpoint, checkpoint_root / "best")
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

    metrics = final_metrics(merged, splits, spec, tokenizer, label_map, result.to_dict())
    (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2, sort_keys=True), "utf-8")
    (out / "label_map.json").write_text(json.dumps(label_map.to_dict(), indent=2), "utf-8")
    plot_curves(
        result.history,
        out / "curves.png",
        objective=result.objective,
        maximize=result.objective_goal == "maximize",
        title=f"{record.model_name} ({job_id})",
    )

    verdict = export_onnx(
        merged,
        out,
        spec,
        train_split=train_split,
        eval_split=eval_split,
        tokenizer=tokenizer,
        hf_tokenizer=hf_tokenizer,
        label_map=label_map,
        template=template,
        writer=writer,
        step=result.steps,
    )

    version = store_version(
        store,
        out,
        record,
        spec,
        dataset,
        base_ref,
        label_map,
        metrics,
        verdict.parity,
        verdict.status,
        verdict.reason,
    )
    return succeeded(writer, version, result.steps, result.total_steps, result.epoch)


def _never() -> bool:
    return False
