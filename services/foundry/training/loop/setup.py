"""What the loop needs before its first step: its options, the input checks, the seeds.

`LoopOptions` holds how the loop runs where the spec says nothing (event interval, evaluation
batch size, padding multiple, the distributed context, loading the best weights at the end).
`check_inputs` refuses, before any compute, what cannot train: a task the loop does not train,
splits or a label map of another task, a model with another number of labels, an empty split.
`seed_everything` seeds torch (CPU and CUDA), Python and NumPy for a fresh run (a resumed run
restores the generators' states instead).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import LabelMap
from foundry.training.loop.distributed import DistContext, unwrap
from foundry.training.loop.loss import check_task
from foundry.training.spec import JobSpec


@dataclass(frozen=True)
class LoopOptions:
    """How the loop runs (what the spec does not say)."""

    #: optimizer steps per `StepEvent` (the history records every step regardless)
    log_every_steps: int = 1
    #: evaluation batch size; None: twice the training batch size
    eval_batch_size: int | None = None
    #: pad batch widths to a multiple of this; None: 8 on CUDA (tensor cores), none on CPU
    pad_to_multiple_of: int | None = None
    #: where and with whom to run; None: `DistContext.from_env()` (torchrun or world size 1)
    dist: DistContext | None = None
    #: load the best checkpoint's weights into the model before returning
    load_best_at_end: bool = False


def check_inputs(
    spec: JobSpec,
    model: nn.Module,
    train: EncodedSplit,
    eval: EncodedSplit | None,
    label_map: LabelMap,
    options: LoopOptions,
) -> None:
    """Refuse inputs that cannot train, before any compute."""
    check_task(spec.task)
    tasks = {"label_map": label_map.task, "train split": train.task}
    if eval is not None:
        tasks["eval split"] = eval.task
    wrong = [f"the {name} is {task.value}" for name, task in tasks.items() if task is not spec.task]
    if wrong:
        raise FailedPreconditionError(
            f"the job's task is {spec.task.value}, but {', '.join(wrong)}", reason="TASK_MISMATCH"
        )
    num_labels = getattr(getattr(unwrap(model), "config", None), "num_labels", None)
    if label_map.labels and num_labels is not None and num_labels != label_map.num_labels:
        raise FailedPreconditionError(
            f"the model has {num_labels} labels, the label map {label_map.num_labels}",
            reason="LABEL_COUNT_MISMATCH",
        )
    if train.num_rows == 0:
        raise FailedPreconditionError("the training split is empty", reason="EMPTY_TRAIN_SPLIT")
    if options.log_every_steps < 1 or (options.eval_batch_size is not None and options.eval_batch_size < 1):
        raise InvalidArgumentError("log_every_steps and eval_batch_size must be at least 1")


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), Python and NumPy for a fresh run."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


__all__ = ["LoopOptions", "check_inputs", "seed_everything"]
