"""Export of fine-tuned models to ONNX (fp32 and int8) with a parity report against PyTorch.

- `export_model(model, out_dir, batches, ExportSettings(...), metric=...) -> ExportResult`:
  everything below in one call; `ExportResult.passed` is the promotion gate.
- `export_onnx(model, path, opset=17, exporter=Exporter.TORCHSCRIPT) -> ArtifactInfo`: the fp32
  graph (`input_ids`, `attention_mask` → `logits`, dynamic batch and sequence), checked.
- `quantize_int8(src, dst, Int8Settings(...)) -> ArtifactInfo`: the int8 variant.
- `check_parity(model, fp32_path, batches, int8_path=..., tolerance=1e-4, metric=...)
  -> ParityReport`: PyTorch against ONNX Runtime (CPU) on the same batches.
- `ArtifactInfo`: path, sha256, size of each written file (for the ModelVersion manifest).

Modules: `wrapper` (the exported function), `onnx_export`, `quantize`, `parity`, `artifacts`,
`bundle` (`export_model`).
"""

from foundry.training.export.artifacts import ArtifactInfo, describe_artifact
from foundry.training.export.bundle import ExportResult, ExportSettings, export_model
from foundry.training.export.onnx_export import DEFAULT_OPSET, Exporter, ExportError, export_onnx
from foundry.training.export.parity import (
    DEFAULT_TOLERANCE,
    Batch,
    MetricFn,
    ParityReport,
    check_parity,
    open_session,
)
from foundry.training.export.quantize import Int8Settings, quantize_int8
from foundry.training.export.wrapper import INPUT_NAMES, OUTPUT_NAME, LogitsOnly

__all__ = [
    "DEFAULT_OPSET",
    "DEFAULT_TOLERANCE",
    "INPUT_NAMES",
    "OUTPUT_NAME",
    "ArtifactInfo",
    "Batch",
    "ExportError",
    "ExportResult",
    "ExportSettings",
    "Exporter",
    "Int8Settings",
    "LogitsOnly",
    "MetricFn",
    "ParityReport",
    "check_parity",
    "describe_artifact",
    "export_model",
    "export_onnx",
    "open_session",
    "quantize_int8",
]
