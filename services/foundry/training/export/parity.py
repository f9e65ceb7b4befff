"""The parity report: PyTorch against ONNX Runtime (fp32, and int8) on the same batches.

Every batch of the validation set (already encoded: `input_ids` and `attention_mask`, as
arrays or tensors; other keys are ignored) runs through the PyTorch model (the same
`LogitsOnly` function that was exported, on a CPU fp32 copy in eval mode) and through each ONNX
graph on ONNX Runtime's CPU execution provider. Compared positions: every real (non-padding)
token for token classification, every example for sequence classification; padding positions
are not predictions and do not count.

- `max_abs_diff` (the gate): the largest absolute logit difference, fp32 ONNX against PyTorch;
  `passed` when it is at most `tolerance` (default 1e-4) and finite.
- label agreement: the fraction of positions whose predicted label (argmax; for multi-label,
  each class's decision at `multilabel_threshold`) equals PyTorch's, for fp32 and for int8.
- `int8_metric_delta`: with a `metric` callable (logits per batch, in batch order → the task
  metric, e.g. entity F1 from the gold labels it holds), the int8 model's value minus PyTorch's.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
import torch
from torch import nn

from foundry.runtime.errors import FailedPreconditionError
from foundry.training.export.wrapper import INPUT_NAMES, OUTPUT_NAME, LogitsOnly

DEFAULT_TOLERANCE = 1e-4
Array = npt.NDArray[Any]
Batch = Mapping[str, Any]
#: the task metric from the logits of every batch, in batch order
MetricFn = Callable[[Sequence[Array]], float]


@dataclass(frozen=True, slots=True)
class ParityReport:
    """fp32 (and int8) ONNX against PyTorch; the int8 fields are None when no int8 graph was checked."""

    max_abs_diff: float
    fp32_label_agreement: float
    int8_label_agreement: float | None
    int8_max_abs_diff: float | None
    int8_metric_delta: float | None
    passed: bool
    tolerance: float
    batches: int
    examples: int = 0
    positions: int = 0
    mean_abs_diff: float = 0.0
    int8_mean_abs_diff: float | None = None
    metric_reference: float | None = None
    fp32_metric_value: float | None = None
    int8_metric_value: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        """Indented, key-sorted JSON (the parity report artifact); non-finite numbers become null."""
        values = {k: _finite_or_none(v) for k, v in asdict(self).items()}
        return json.dumps(values, indent=2, sort_keys=True, allow_nan=False)


@dataclass(slots=True)
class _Variant:
    """Running comparison of one ONNX graph against the PyTorch logits."""

    session: ort.InferenceSession
    logits: list[Array] = field(default_factory=list)
    max_abs: float = 0.0
    abs_sum: float = 0.0
    count: int = 0
    agree: int = 0
    seconds: float = 0.0
    keep_logits: bool = False

    def agreement(self, positions: int) -> float:
        return self.agree / positions if positions else 1.0

    def mean_abs(self) -> float:
        return self.abs_sum / max(self.count, 1)


def check_parity(
    model: nn.Module,
    fp32_path: str | Path,
    batches: Iterable[Batch],
    *,
    int8_path: str | Path | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    metric: MetricFn | None = None,
    multilabel_threshold: float | None = None,
    threads: int | None = None,
) -> ParityReport:
    """Compare the PyTorch model with its ONNX export(s) on `batches`; see the module docstring."""
    module = LogitsOnly(copy.deepcopy(model).to(device="cpu", dtype=torch.float32).eval()).eval()
    keep = metric is not None  # logits are only kept for the metric
    variants = {"fp32": _Variant(open_session(fp32_path, threads=threads), keep_logits=keep)}
    if int8_path is not None:
        variants["int8"] = _Variant(open_session(int8_path, threads=threads), keep_logits=keep)
    reference: list[Array] = []
    batch_count = 0
    torch_seconds = 0.0
    examples = positions = 0
    for batch in batches:
        feed = {name: _int64(batch[name]) for name in INPUT_NAMES}
        start = time.perf_counter()
        with torch.no_grad():
            expected = module(*(torch.from_numpy(feed[name]) for name in INPUT_NAMES)).numpy()
        torch_seconds += time.perf_counter() - start
        batch_count += 1
        if metric is not None:
            reference.append(expected)
        compared = _compared(expected, feed["attention_mask"])
        examples += expected.shape[0]
        positions += int(compared.sum())
        for variant in variants.values():
            _compare(variant, feed, expected, compared, multilabel_threshold)
    if not batch_count:
        raise FailedPreconditionError("no batches to check parity on", reason="EMPTY_PARITY_SET")
    fp32, int8 = variants["fp32"], variants.get("int8")
    reference_metric = metric(reference) if metric is not None else None
    fp32_metric = metric(fp32.logits) if metric is not None else None
    int8_metric = metric(int8.logits) if metric is not None and int8 is not None else None
    return ParityReport(
        max_abs_diff=fp32.max_abs,
        fp32_label_agreement=fp32.agreement(positions),
        int8_label_agreement=int8.agreement(positions) if int8 else None,
        int8_max_abs_diff=int8.max_abs if int8 else None,
        int8_metric_delta=int8_metric - reference_metric
        if int8_metric is not None and reference_metric is not None
        else None,
        passed=math.isfinite(fp32.max_abs) and fp32.max_abs <= tolerance,
        tolerance=tolerance,
        batches=batch_count,
        examples=examples,
        positions=positions,
        mean_abs_diff=fp32.mean_abs(),
        int8_mean_abs_diff=int8.mean_abs() if int8 else None,
        metric_reference=reference_metric,
        fp32_metric_value=fp32_metric,
        int8_metric_value=int8_metric,
        seconds={"torch": torch_seconds} | {name: v.seconds for name, v in variants.items()},
    )


def open_session(path: str | Path, *, threads: int | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU execution provider, all graph optimizations on."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _compare(
    variant: _Variant,
    feed: dict[str, Array],
    expected: Array,
    keep: Array,
    multilabel_threshold: float | None,
) -> None:
    start = time.perf_counter()
    (actual,) = variant.session.run([OUTPUT_NAME], feed)
    variant.seconds += time.perf_counter() - start
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        raise FailedPreconditionError(
            f"ONNX logits have shape {actual.shape}, PyTorch's {expected.shape}",
            reason="PARITY_SHAPE_MISMATCH",
        )
    if variant.keep_logits:
        variant.logits.append(actual)
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))[keep]
    if diff.size:
        variant.max_abs = max(variant.max_abs, float(np.nan_to_num(diff, nan=np.inf).max()))
        variant.abs_sum += float(diff.sum())
        variant.count += int(diff.size)
    variant.agree += int(_agreeing(actual, expected, multilabel_threshold)[keep].sum())


def _agreeing(actual: Array, expected: Array, multilabel_threshold: float | None) -> Array:
    """Per position: whether the predicted label(s) are the same."""
    if multilabel_threshold is None:
        return np.asarray(actual.argmax(axis=-1) == expected.argmax(axis=-1))
    cut = math.log(multilabel_threshold / (1 - multilabel_threshold))
    return np.asarray(((actual > cut) == (expected > cut)).all(axis=-1))


def _compared(logits: Array, attention_mask: Array) -> Array:
    """Which positions count: real tokens (3-d logits) or every example (2-d logits)."""
    if logits.ndim == 3:
        return np.asarray(attention_mask.astype(bool))
    return np.ones(logits.shape[0], dtype=bool)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


def _int64(value: Any) -> Array:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.int64))


__all__ = ["DEFAULT_TOLERANCE", "Batch", "MetricFn", "ParityReport", "check_parity", "open_session"]
