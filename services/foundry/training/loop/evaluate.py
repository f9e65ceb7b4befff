"""Evaluation during training: loss and the task's metrics on an encoded split.

Rows are batched by length (`data.batching.eval_batches`, sharded across ranks), run in eval
mode under the training precision in `torch.inference_mode`, and their predictions written into one
array aligned with the split (each position is filled by exactly one rank, the others leave 0,
so a single all-reduce sum gives every rank the full predictions and the same metrics):

- token classification: the logits are decoded as the inference service's `Predict` decodes
  them (`foundry.training.servedmetrics`: softmax, the default sub-word aggregation, BIO repair;
  windows of a long sentence each carry their own words) → entity precision / recall / F1 in
  seqeval's default mode (the headline `eval_f1`) and strict IOB2 mode (`eval_f1_strict`),
  macro, per type, token accuracy, over the words of every example;
- text classification: argmax per example → accuracy, macro F1, confusion matrix;
- multi-label: sigmoid per class → micro / macro F1 at the job's threshold;
- chat: argmax per token → exact match of short assistant turns (greedy decoding's, see
  `foundry.training.chat.metrics`), and `eval_perplexity` = exp(`eval_loss`).

`eval_loss` is normalized like the training loss (per label token / example). `Evaluation`
carries the flat metrics (what events, the objective and early stopping use) and the full
report (`details`, for the model version's metrics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from foundry.runtime.examples import Task
from foundry.training.chat.metrics import exact_match, perplexity
from foundry.training.data.batching import eval_batches
from foundry.training.data.collate import Collator
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import IGNORE_INDEX, LabelMap
from foundry.training.loop.distributed import DistContext, unwrap
from foundry.training.loop.loss import forward_logits, loss_sum
from foundry.training.loop.precision import PrecisionPolicy
from foundry.training.metrics import classification_metrics, multilabel_metrics
from foundry.training.servedmetrics import WordPredictions, served_report


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation."""

    #: flat metrics: "eval_loss" and the task's METRIC_KEYS
    metrics: dict[str, float]
    #: the task's full report (`EntityMetrics.to_dict()` and so on)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def evaluate(
    model: nn.Module,
    split: EncodedSplit,
    collator: Collator,
    label_map: LabelMap,
    *,
    policy: PrecisionPolicy,
    dist: DistContext,
    batch_size: int,
    multilabel_threshold: float = 0.5,
    exact_match_max_tokens: int = 32,
) -> Evaluation:
    """Evaluate `model` on `split` (every rank must call it; all get the same result)."""
    started = time.perf_counter()
    module = unwrap(model)
    was_training = module.training
    module.eval()
    task = split.task
    words = WordPredictions(split) if task is Task.TOKEN_CLASSIFICATION else None
    predictions = words.packed if words is not None else _empty_predictions(split, label_map)
    loss_total, label_tokens = 0.0, 0
    try:
        with torch.inference_mode():
            for rows in eval_batches(split.lengths, batch_size, rank=dist.rank, world_size=dist.world_size):
                batch = collator(rows).to(dist.device, non_blocking=True)
                logits = forward_logits(module, batch, policy)
                loss_total += float(loss_sum(logits, batch.labels, task))
                label_tokens += batch.num_label_tokens
                if words is not None:
                    words.record(rows, logits.float().cpu().numpy())
                else:
                    _record(split, rows, logits, predictions)
    finally:
        module.train(was_training)
    loss_total, label_tokens_f = dist.all_reduce_sum([loss_total, float(label_tokens)])
    gathered = dist.all_reduce_tensor(torch.from_numpy(predictions)).numpy()
    if task is Task.CHAT:
        details = exact_match(split, gathered, exact_match_max_tokens)
    else:
        details = _metrics(split, gathered, label_map, multilabel_threshold)
    flat = {key: float(value) for key, value in details.items() if key.startswith("eval_")}
    flat["eval_loss"] = loss_total / max(label_tokens_f, 1.0)
    details["eval_loss"] = flat["eval_loss"]
    if task is Task.CHAT:
        flat["eval_perplexity"] = details["eval_perplexity"] = perplexity(flat["eval_loss"])
    return Evaluation(metrics=flat, details=details, seconds=time.perf_counter() - started)


def _empty_predictions(split: EncodedSplit, label_map: LabelMap) -> npt.NDArray[Any]:
    if split.token_aligned_labels:
        return np.zeros(split.input_ids.size, np.int64)
    if split.task is Task.MULTILABEL_CLASSIFICATION:
        return np.zeros((split.num_rows, label_map.num_labels), np.float64)
    return np.zeros(split.num_rows, np.int64)


def _record(
    split: EncodedSplit, rows: npt.NDArray[np.int64], logits: torch.Tensor, out: npt.NDArray[Any]
) -> None:
    """Write this batch's predictions into the split-aligned array `out`."""
    if split.token_aligned_labels:
        split.scatter(rows, logits.argmax(dim=-1).cpu().numpy(), out)
    elif split.task is Task.MULTILABEL_CLASSIFICATION:
        out[rows] = torch.sigmoid(logits.float()).cpu().numpy()
    else:
        out[rows] = logits.argmax(dim=-1).cpu().numpy()


def _metrics(
    split: EncodedSplit, predictions: npt.NDArray[Any], label_map: LabelMap, threshold: float
) -> dict[str, Any]:
    labels = list(label_map.labels)
    if split.task is Task.TOKEN_CLASSIFICATION:
        return served_report(split, predictions, labels)
    if split.task is Task.MULTILABEL_CLASSIFICATION:
        keep = split.labels[:, 0] != IGNORE_INDEX
        return multilabel_metrics(
            split.labels[keep], predictions[keep], labels, threshold=threshold
        ).to_dict()
    keep = split.labels != IGNORE_INDEX
    return classification_metrics(split.labels[keep], predictions[keep], labels).to_dict()


__all__ = ["Evaluation", "evaluate"]
