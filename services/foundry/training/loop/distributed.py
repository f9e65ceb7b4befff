"""Data parallelism: the process's place in a torchrun launch, and the few collectives the loop uses.

`DistContext.from_env()` reads what `torchrun` sets (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`; plus
`MASTER_ADDR` / `MASTER_PORT` for the rendezvous). With a world size above 1 it initialises the
default process group if nobody has yet: NCCL on CUDA (each process on `cuda:LOCAL_RANK`),
gloo on CPU. With world size 1 (a plain `python -m ...` launch, every test, the CPU demo) no
process group exists and every collective below is the identity, so the same loop runs in both
cases without branches.

- `all_reduce_sum(values)`: element-wise sum of a float64 vector across ranks (counts, loss
  sums); one call per use, so the loop batches its numbers into one vector;
- `any_rank(flag)`: True on every rank if it is True on one (cooperative cancel: all ranks stop
  at the same step, or the next collective would hang);
- `wrap(model)`: the model under `DistributedDataParallel`, or the model itself;
- `no_sync(model, skip)`: DDP's `no_sync()` for the micro-batches of an accumulation window
  before its last (their gradients are all-reduced once, with the last backward);
- `barrier()`, `shutdown()` (only a group this context created is destroyed);
- `main_first(fn)`: `fn()` on rank 0, then, after a barrier, on the other ranks (rank 0 fills a
  cache or a shared folder that the others then find ready).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch
import torch.distributed as torch_dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from foundry.runtime.errors import FailedPreconditionError

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """This process's rank, the world size and the device it computes on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    #: whether this context created the process group (and so destroys it)
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def single(cls, device: torch.device | str | None = None) -> DistContext:
        """World size 1 on `device` (default: the first GPU if there is one, else the CPU)."""
        return cls(device=torch.device(device) if device is not None else default_device())

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, device: torch.device | str | None = None
    ) -> DistContext:
        """The context of a torchrun launch (initialising the process group), or world size 1."""
        values = os.environ if env is None else env
        world_size = int(values.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls.single(device)
        rank, local_rank = int(values.get("RANK", "0")), int(values.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            if local_rank >= torch.cuda.device_count():
                raise FailedPreconditionError(
                    f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible",
                    reason="TOO_FEW_GPUS",
                )
            chosen = torch.device("cuda", local_rank)
            torch.cuda.set_device(chosen)
            backend = "nccl"
        else:
            chosen = torch.device("cpu")
            backend = "gloo"
        owns = False
        if not torch_dist.is_initialized():
            torch_dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
            owns = True
        return cls(rank=rank, world_size=world_size, local_rank=local_rank, device=chosen, owns_group=owns)

    # --- collectives -----------------------------------------------------------------------------

    def all_reduce_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of `values` over all ranks (float64)."""
        if not self.distributed:
            return [float(v) for v in values]
        tensor = torch.tensor(list(values), dtype=torch.float64, device=self._collective_device())
        torch_dist.all_reduce(tensor, op=torch_dist.ReduceOp.SUM)
        return [float(v) for v in tensor.tolist()]

    def all_reduce_tensor(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over all ranks (in place, moved to the collective device and back)."""
        if not self.distributed:
            return tensor
        moved = tensor.to(self._collective_device())
        torch_dist.all_reduce(moved, op=torch_dist.ReduceOp.SUM)
        return moved.to(tensor.device)

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when `flag` is True on at least one."""
        if not self.distributed:
            return flag
        return self.all_reduce_sum([1.0 if flag else 0.0])[0] > 0

    def barrier(self) -> None:
        if self.distributed:
            torch_dist.barrier()

    def main_first(self, fn: Callable[[], T]) -> T:
        """`fn()` on rank 0 first, then (after a barrier) on every other rank; each returns its own."""
        if self.is_main:
            value = fn()
        self.barrier()
        if not self.is_main:
            value = fn()
        return value

    def shutdown(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group and torch_dist.is_initialized():
            torch_dist.destroy_process_group()

    # --- the model -------------------------------------------------------------------------------

    def wrap(self, model: nn.Module) -> nn.Module:
        """`model` under DDP when distributed (it must already be on `self.device`)."""
        if not self.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def _collective_device(self) -> torch.device:
        return self.device if torch_dist.get_backend() == "nccl" else torch.device("cpu")


def default_device() -> torch.device:
    """The first CUDA device if there is one, else the CPU."""
    return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def no_sync(model: nn.Module, skip: bool) -> contextlib.AbstractContextManager[object]:
    """DDP's `no_sync()` when `skip` (a micro-batch before the window's last), else a no-op."""
    if skip and isinstance(model, DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


__all__ = ["DistContext", "default_device", "no_sync", "unwrap"]
