"""Mixed precision: which dtype the forward pass computes in, and the fp16 gradient scaler.

`resolve_precision(requested, device)` turns the spec's `Precision` into a `PrecisionPolicy`:

| requested | CUDA with bf16 (Ampere+) | CUDA without bf16 (V100, T4) | CPU |
| --- | --- | --- | --- |
| auto | bf16 | fp16 + GradScaler | fp32 |
| bf16 | bf16 | error | error |
| fp16 | fp16 + GradScaler | fp16 + GradScaler | error |
| fp32 | fp32 | fp32 | fp32 |

Mixed precision is CUDA-only here (CPU autocast exists but is rarely faster than fp32 on the
CPUs this runs on): an explicit request that the device cannot honour is a
`FailedPreconditionError` naming `precision`, raised before any compute. The weights and the
optimizer state stay fp32 in every case (autocast casts per op); the loss is computed in fp32
from the logits.

`policy.autocast()` is the context of the forward pass (a no-op for fp32); `policy.make_scaler()`
gives a `torch.amp.GradScaler` for fp16 and None otherwise (bf16 has fp32's range and needs none).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from foundry.runtime.errors import FailedPreconditionError, FieldViolation
from foundry.training.spec import Precision


@dataclass(frozen=True, slots=True)
class PrecisionPolicy:
    """The resolved precision of a training run."""

    #: what was asked for
    requested: Precision
    #: what runs: FP32, BF16 or FP16
    effective: Precision
    device_type: str

    @property
    def dtype(self) -> torch.dtype:
        return {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(
            self.effective, torch.float32
        )

    @property
    def mixed(self) -> bool:
        return self.effective in (Precision.BF16, Precision.FP16)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """The context of a forward pass."""
        if not self.mixed:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler | None:
        """A gradient scaler for fp16, None otherwise."""
        if self.effective is not Precision.FP16:
            return None
        return torch.amp.GradScaler(self.device_type)

    def describe(self) -> str:
        if self.requested is self.effective:
            return f"precision {self.effective.value} on {self.device_type}"
        return f"precision {self.requested.value} → {self.effective.value} on {self.device_type}"


def cuda_bf16_supported(device: torch.device) -> bool:
    """Whether `device` is a CUDA device with native bf16 (compute capability 8.0 or newer)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def resolve_precision(
    requested: Precision,
    device: torch.device,
    *,
    bf16_supported: Callable[[torch.device], bool] = cuda_bf16_supported,
) -> PrecisionPolicy:
    """The policy for `requested` on `device` (see the module docstring's table)."""
    on_cuda = device.type == "cuda"
    has_bf16 = on_cuda and bf16_supported(device)
    if requested is Precision.AUTO:
        effective = (Precision.BF16 if has_bf16 else Precision.FP16) if on_cuda else Precision.FP32
    elif requested is Precision.BF16 and not has_bf16:
        raise _unsupported(requested, "a CUDA GPU with bf16 support (compute capability 8.0+)", device)
    elif requested is Precision.FP16 and not on_cuda:
        raise _unsupported(requested, "a CUDA GPU", device)
    else:
        effective = requested
    return PrecisionPolicy(requested=requested, effective=effective, device_type=device.type)


def _unsupported(requested: Precision, needs: str, device: torch.device) -> FailedPreconditionError:
    problem = f"{requested.value} mixed precision needs {needs}; this worker runs on {device}"
    return FailedPreconditionError(
        problem,
        reason="PRECISION_UNSUPPORTED",
        violations=[FieldViolation("precision", problem)],
    )


__all__ = ["PrecisionPolicy", "cuda_bf16_supported", "resolve_precision"]
