"""What a training job starts from: its dataset version, its base model (an imported one,
materialized into the local cache, or an earlier model version's `hf/` checkpoint), the encoded
splits (through the object-store token cache), the chat template, the task model (freezing, LoRA),
and the checkpoints to resume from and to export."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from foundry.domain.base_models import get_base_model, materialize
from foundry.domain.chattemplates import ChatTemplate, resolve_template
from foundry.domain.modelversions import download_artifacts, get_model_version
from foundry.runtime.datasets import resolve_version
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Split, Task
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training import jobcheckpoints
from foundry.training.chat.model import load_causal_lm
from foundry.training.data.cache import SplitEncoder, load_or_encode
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import LabelMap
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.jobstore import EventWriter
from foundry.training.loop.checkpoints import latest_checkpoint
from foundry.training.models import LoraSettings, apply_lora, freeze, load_task_model
from foundry.training.spec import JobSpec, TrainingMethod


def resolve_dataset(store: ObjectStore, spec: JobSpec) -> DatasetManifest:
    return resolve_version(store, spec.dataset.name, spec.dataset.version_id)


def resolve_base_model(
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


def encode_splits(
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


def checkpoint_folder(store: ObjectStore, job_id: str, root: Path, main: bool) -> Path | None:
    """The checkpoint to resume from. Rank 0 empties `root` and downloads the stored one into it;
    the other ranks (called after it) find that one there."""
    if not main:
        return latest_checkpoint(root)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    return jobcheckpoints.download_checkpoint(store, job_id, root)


def chat_template(spec: JobSpec, tokenizer: Any) -> ChatTemplate:
    options = spec.causal_lm
    return resolve_template(
        tokenizer,
        template=options.chat_template,
        name=options.chat_template_name,
        default_system_prompt=options.default_system_prompt,
        last_turn_only=options.last_turn_only,
    )


def build_model(folder: Path, spec: JobSpec, label_map: LabelMap) -> nn.Module:
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


def best_weights(store: ObjectStore, job_id: str, best: Path | None, scratch: Path) -> Path | None:
    """The best checkpoint folder: the local one, else the stored best slot; None without one."""
    if best is None:
        return None
    if best.is_dir():
        return best
    index = jobcheckpoints.read_checkpoint_index(store, job_id, jobcheckpoints.BEST_SLOT)
    if index is None or index.folder != best.name:
        return None
    return jobcheckpoints.download_checkpoint(store, job_id, scratch, jobcheckpoints.BEST_SLOT)
