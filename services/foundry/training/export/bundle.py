"""`export_model`: the fp32 ONNX graph, its int8 variant and their parity report, in one call.

Writes `<out_dir>/model.onnx` and `<out_dir>/model.int8.onnx`, checks both against the PyTorch
model on the validation batches and returns their sha256 and size (for the ModelVersion
manifest) with the `ParityReport`. A report that has not `passed` means the version must not
be promoted; the files are still written so the failure can be inspected.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from foundry.domain.bundle import FP32_FILE, INT8_FILE
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.training.export.artifacts import ArtifactInfo
from foundry.training.export.onnx_export import DEFAULT_OPSET, Exporter, export_onnx
from foundry.training.export.parity import DEFAULT_TOLERANCE, Batch, MetricFn, ParityReport, check_parity
from foundry.training.export.quantize import Int8Settings, quantize_int8

MIN_OPSET, MAX_OPSET = 14, 20


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """What to export and how strictly to check it (`foundry.common.v1.ExportOptions`)."""

    onnx: bool = True
    int8: bool = True
    opset: int = DEFAULT_OPSET
    parity_tolerance: float = DEFAULT_TOLERANCE
    exporter: Exporter = Exporter.TORCHSCRIPT
    int8_settings: Int8Settings = field(default_factory=Int8Settings)

    def validate(self) -> None:
        """`InvalidArgumentError` naming the `export.*` fields that are out of range."""
        violations = []
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            violations.append(
                FieldViolation("export.opset", f"must be in [{MIN_OPSET}, {MAX_OPSET}], got {self.opset}")
            )
        if not self.parity_tolerance > 0:
            violations.append(
                FieldViolation("export.parity_tolerance", f"must be positive, got {self.parity_tolerance}")
            )
        if self.int8 and not self.onnx:
            violations.append(FieldViolation("export.int8", "the int8 variant needs the ONNX export"))
        if violations:
            raise InvalidArgumentError(
                "invalid export options", reason="INVALID_EXPORT", violations=violations
            )


@dataclass(frozen=True, slots=True)
class ExportResult:
    """The written graphs (None when not asked for), their parity report and timings."""

    fp32: ArtifactInfo | None
    int8: ArtifactInfo | None
    parity: ParityReport | None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether the fp32 parity gate passed (True when nothing was exported)."""
        return self.parity is None or self.parity.passed


def export_model(
    model: nn.Module,
    out_dir: str | Path,
    batches: Iterable[Batch],
    settings: ExportSettings | None = None,
    *,
    metric: MetricFn | None = None,
    multilabel_threshold: float | None = None,
) -> ExportResult:
    """Export `model` (merged, plain transformers) and check it on `batches` (the validation set)."""
    settings = settings or ExportSettings()
    settings.validate()
    if not settings.onnx:
        return ExportResult(fp32=None, int8=None, parity=None)
    target = Path(out_dir)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    fp32 = export_onnx(model, target / FP32_FILE, opset=settings.opset, exporter=settings.exporter)
    seconds["export"] = time.perf_counter() - start
    int8 = None
    if settings.int8:
        start = time.perf_counter()
        int8 = quantize_int8(fp32.path, target / INT8_FILE, settings.int8_settings)
        seconds["quantize"] = time.perf_counter() - start
    start = time.perf_counter()
    parity = check_parity(
        model,
        fp32.path,
        batches,
        int8_path=int8.path if int8 else None,
        tolerance=settings.parity_tolerance,
        metric=metric,
        multilabel_threshold=multilabel_threshold,
    )
    seconds["parity"] = time.perf_counter() - start
    return ExportResult(fp32=fp32, int8=int8, parity=parity, seconds=seconds)


__all__ = ["ExportResult", "ExportSettings", "export_model"]
