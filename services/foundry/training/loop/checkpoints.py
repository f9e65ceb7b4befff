"""Resumable checkpoints on local disk: safe formats only, written atomically, pruned.

One checkpoint is a folder `<checkpoint_dir>/step-00000120/`:

- `model.safetensors`: the parameters that training changes (those with `requires_grad`: the
  whole model in full fine-tuning; the adapters and the head under LoRA; everything but the
  frozen layers with freezing) and the persistent buffers. The frozen weights are the base
  model's and never change, so a checkpoint applies onto the same base model built the same way
  (`load_weights`); it stays small under LoRA;
- `training_state.pt`: optimizer, scheduler and gradient-scaler state, the loop's counters
  (step, epoch, position in the epoch's batch order, best evaluation, early-stopping count,
  history) and the plan it belongs to. Only tensors and plain Python values, read back with
  `torch.load(weights_only=True)`: nothing is ever unpickled;
- `rng/rank-<r>.pt`: each rank's random-number-generator states (torch CPU and CUDA, Python,
  NumPy), also `weights_only`-safe;
- `checkpoint.json`: step, epoch, why it was written, the metrics of its evaluation; written
  last, so a folder is complete only when it has one.

The folder is assembled under a hidden `.step-....partial` name and renamed into place, so a
crash leaves no half checkpoint where `latest_checkpoint` looks. Under DDP rank 0 writes
everything but the RNG files, which each rank writes itself (the checkpoint directory must be
shared by the ranks: one node, or a shared volume).

`prune(root, keep, protect)` removes all but the newest `keep` complete checkpoints and the
protected ones (the best).
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from foundry.runtime.errors import CorruptionError, FailedPreconditionError
from foundry.training.loop.distributed import DistContext

FORMAT_VERSION = 1
PREFIX = "step-"
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
INFO_FILE = "checkpoint.json"
RNG_DIR = "rng"


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:08d}"


# --- weights --------------------------------------------------------------------------------------------


def changing_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters and persistent buffers of `model`, by state-dict name (tied
    parameters once)."""
    trainable = {name for name, p in model.named_parameters(remove_duplicate=False) if p.requires_grad}
    all_params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in model.state_dict().items():
        if name in all_params and name not in trainable:
            continue
        if tensor.data_ptr() in seen and tensor.numel():
            continue
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.detach().to("cpu").contiguous()
    return tensors


def save_weights(model: nn.Module, path: Path) -> None:
    """Write the tensors that training changes as safetensors."""
    save_file(changing_tensors(model), str(path), metadata={"format": "pt", "content": "trainable"})


def load_weights(model: nn.Module, checkpoint: Path) -> None:
    """Load a checkpoint's weights onto `model` (built like the one that was trained)."""
    path = checkpoint / WEIGHTS_FILE if checkpoint.is_dir() else checkpoint
    tensors = load_file(str(path), device="cpu")
    expected = set(changing_tensors(model))
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - set(model.state_dict()))
    if missing or unexpected:
        raise FailedPreconditionError(
            f"checkpoint {str(path)!r} does not fit this model: missing {missing[:3]} ({len(missing)}), "
            f"unexpected {unexpected[:3]} ({len(unexpected)}); build the model as the run did "
            "(same base, freezing and LoRA settings)",
            reason="CHECKPOINT_MISMATCH",
        )
    model.load_state_dict(tensors, strict=False)


# --- random number generators ---------------------------------------------------------------------


def capture_rng() -> dict[str, Any]:
    """This process's RNG states as tensors and plain values."""
    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": {
            "name": str(name),
            "keys": torch.from_numpy(np.asarray(keys, np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
    }


def restore_rng(states: dict[str, Any]) -> None:
    """Restore what `capture_rng` captured."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = states["numpy"]
    keys = numpy["keys"].numpy().astype(np.uint32)
    np.random.set_state((numpy["name"], keys, numpy["pos"], numpy["has_gauss"], numpy["gauss"]))


# --- whole checkpoints ----------------------------------------------------------------------------


def write_checkpoint(
    root: Path,
    step: int,
    *,
    model: nn.Module,
    training_state: dict[str, Any],
    info: dict[str, Any],
    dist: DistContext,
) -> Path:
    """Write a complete checkpoint of `step` under `root` (every rank calls it); return its folder."""
    final = root / checkpoint_name(step)
    partial = root / f".{checkpoint_name(step)}.partial"
    if dist.is_main:
        shutil.rmtree(partial, ignore_errors=True)
        (partial / RNG_DIR).mkdir(parents=True)
    dist.barrier()
    torch.save(capture_rng(), partial / RNG_DIR / f"rank-{dist.rank}.pt")
    dist.barrier()
    if dist.is_main:
        save_weights(model, partial / WEIGHTS_FILE)
        torch.save(training_state, partial / STATE_FILE)
        body = {"format": FORMAT_VERSION, "step": step, "world_size": dist.world_size, **info}
        (partial / INFO_FILE).write_text(json.dumps(body, indent=2, sort_keys=True), encoding="utf-8")
        _replace(partial, final)
    dist.barrier()
    return final


def read_info(checkpoint: Path) -> dict[str, Any]:
    """`checkpoint.json` of a complete checkpoint (`FailedPreconditionError` if incomplete)."""
    path = checkpoint / INFO_FILE
    if not path.is_file():
        raise FailedPreconditionError(
            f"{str(checkpoint)!r} is not a complete checkpoint (no {INFO_FILE})",
            reason="CHECKPOINT_INCOMPLETE",
        )
    try:
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CorruptionError(f"{str(path)!r} is not JSON: {exc}", reason="CHECKPOINT_CORRUPT") from exc
    return info


def read_training_state(checkpoint: Path) -> dict[str, Any]:
    """The training state of a checkpoint, loaded with `weights_only=True`."""
    read_info(checkpoint)
    state: dict[str, Any] = torch.load(checkpoint / STATE_FILE, map_location="cpu", weights_only=True)
    return state


def read_rng(checkpoint: Path, rank: int) -> dict[str, Any]:
    """One rank's RNG states, loaded with `weights_only=True`."""
    path = checkpoint / RNG_DIR / f"rank-{rank}.pt"
    if not path.is_file():
        raise FailedPreconditionError(
            f"{str(checkpoint)!r} has no RNG state for rank {rank}", reason="CHECKPOINT_MISMATCH"
        )
    states: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return states


def list_checkpoints(root: Path) -> list[Path]:
    """The complete checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.glob(f"{PREFIX}*") if p.is_dir() and (p / INFO_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under `root` (a resume point), or None."""
    found = list_checkpoints(root)
    return found[-1] if found else None


def prune(root: Path, keep: int, protect: Iterable[Path]) -> list[Path]:
    """Remove all complete checkpoints but the newest `keep` and `protect`; return the removed."""
    kept = {p.resolve() for p in protect}
    found = list_checkpoints(root)
    kept.update(p.resolve() for p in found[len(found) - keep :] if keep > 0)
    removed = [p for p in found if p.resolve() not in kept]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _replace(partial: Path, final: Path) -> None:
    """Move `partial` to `final`, replacing an older folder of the same name."""
    if final.exists():
        trash = final.with_name(f".{final.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        final.rename(trash)
        partial.rename(final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        partial.rename(final)


__all__ = [
    "INFO_FILE",
    "STATE_FILE",
    "WEIGHTS_FILE",
    "capture_rng",
    "changing_tensors",
    "checkpoint_name",
    "latest_checkpoint",
    "list_checkpoints",
    "load_weights",
    "prune",
    "read_info",
    "read_rng",
    "read_training_state",
    "restore_rng",
    "save_weights",
    "write_checkpoint",
]
