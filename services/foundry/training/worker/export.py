"""After training: the exported weights' metrics on the evaluation and test splits, and the ONNX
export with its parity gate (`export_onnx`): token classification and text classification export
through `export_model` (fp32 logits within the tolerance of PyTorch's, the task metric reported
for both), chat models through `export_chat` (greedy tokens equal to PyTorch's). A failed gate
rejects the model version."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from transformers import PreTrainedModel

from foundry.domain.chattemplates import ChatTemplate
from foundry.domain.modelversions import PROMOTED, REJECTED
from foundry.runtime.examples import Split, Task
from foundry.training.chat.model import stop_token_ids
from foundry.training.chat.version import export_chat
from foundry.training.data.batching import eval_batches
from foundry.training.data.collate import Collator
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import LabelMap
from foundry.training.data.tokenizer import TokenizerInfo
from foundry.training.export import ExportSettings, MetricFn, export_model
from foundry.training.jobstore import EventKind, EventWriter
from foundry.training.loop.distributed import DistContext
from foundry.training.loop.evaluate import evaluate
from foundry.training.loop.precision import resolve_precision
from foundry.training.metrics import classification_metrics
from foundry.training.servedmetrics import WordPredictions, served_report
from foundry.training.spec import JobSpec, Precision


@dataclass(frozen=True)
class ExportVerdict:
    """The model version's status (`PROMOTED` or `REJECTED`), why, and the parity report."""

    status: str = PROMOTED
    reason: str = ""
    parity: dict[str, Any] | None = None


def export_onnx(
    model: PreTrainedModel,
    out: Path,
    spec: JobSpec,
    *,
    train_split: EncodedSplit,
    eval_split: EncodedSplit | None,
    tokenizer: TokenizerInfo,
    hf_tokenizer: Any,
    label_map: LabelMap,
    template: ChatTemplate | None,
    writer: EventWriter,
    step: int,
) -> ExportVerdict:
    """Export `model` into `out` as the spec asks (nothing without `export.onnx`), checking parity on
    the evaluation split (else the train split); export events go to `writer` at `step`."""
    status, reason, parity = PROMOTED, "", None
    parity_split = eval_split or train_split
    if spec.export.onnx and template is not None:
        writer.append(EventKind.EXPORT, step=step, message="exporting ONNX with a key/value cache")
        chat = export_chat(
            model,
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
        writer.append(EventKind.EXPORT, step=step, message=chat.message)
    elif spec.export.onnx:
        writer.append(EventKind.EXPORT, step=step, message="exporting ONNX and checking parity")
        batches = parity_batches(parity_split, tokenizer, spec.batch_size)
        exported = export_model(
            model,
            out / "onnx",
            batches,
            ExportSettings(
                onnx=spec.export.onnx,
                int8=spec.export.int8,
                opset=spec.export.opset,
                parity_tolerance=spec.export.parity_tolerance,
            ),
            metric=parity_metric(parity_split, [b["rows"] for b in batches], spec, label_map),
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
            step=step,
            message=f"parity {'passed' if status == PROMOTED else 'FAILED'}: max |diff| "
            f"{parity['max_abs_diff'] if parity else 0}",
        )
    return ExportVerdict(status, reason, parity)


def final_metrics(
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
    per_type_strict: dict[str, Any] = {}
    decoding: dict[str, Any] = {}
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
        if "per_type_strict" in evaluation.details:
            per_type_strict[split.value] = evaluation.details["per_type_strict"]
            decoding[split.value] = evaluation.details["decoding"]
    history = training.pop("history", {})
    return {
        "splits": per_split,
        "per_type": per_type,
        **({"per_type_strict": per_type_strict, "decoding": decoding} if per_type_strict else {}),
        "details": details,
        "training": training,
        "history": history,
    }


def parity_batches(split: EncodedSplit, tokenizer: TokenizerInfo, batch_size: int) -> list[dict[str, Any]]:
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


def parity_metric(
    split: EncodedSplit, rows: list[Any], spec: JobSpec, label_map: LabelMap
) -> MetricFn | None:
    """The task metric from the logits of each parity batch (`rows` are the batches' rows, in
    batch order), or None for tasks without one here."""
    labels = list(label_map.labels)
    if spec.task is Task.TOKEN_CLASSIFICATION:

        def entity_f1(logits: Sequence[Any]) -> float:
            words = WordPredictions(split)
            for batch_rows, batch_logits in zip(rows, logits, strict=True):
                words.record(batch_rows, batch_logits)
            return float(served_report(split, words.packed, labels)["eval_f1"])

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
