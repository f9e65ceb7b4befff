"""`VoteTable`: crowd votes as three parallel integer arrays, the input of every label model.

A vote says: worker `w` gave task `t` the label `l`. Tasks, workers and labels are dense
integer codes (0..n-1) so that every model below works on numpy arrays only, with no Python
loop per vote. `VoteTable.build` encodes string triples; the names come back through
`task_names`, `worker_names` and `labels`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VoteTable:
    """Votes of workers on tasks. Each (task, worker) pair votes at most once."""

    task: IntArray
    worker: IntArray
    label: IntArray
    task_names: list[str]
    worker_names: list[str]
    labels: list[str]

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def n_workers(self) -> int:
        return len(self.worker_names)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def __len__(self) -> int:
        return int(self.task.shape[0])

    @classmethod
    def from_codes(
        cls,
        task: npt.ArrayLike,
        worker: npt.ArrayLike,
        label: npt.ArrayLike,
        *,
        n_tasks: int | None = None,
        n_workers: int | None = None,
        n_labels: int | None = None,
    ) -> VoteTable:
        """A table from integer codes (names are the codes as strings)."""
        t, w, lab = (np.asarray(a, dtype=np.int64) for a in (task, worker, label))
        nt = n_tasks if n_tasks is not None else int(t.max(initial=-1)) + 1
        nw = n_workers if n_workers is not None else int(w.max(initial=-1)) + 1
        nl = n_labels if n_labels is not None else int(lab.max(initial=-1)) + 1
        return cls(
            t, w, lab, [str(i) for i in range(nt)], [str(i) for i in range(nw)], [str(i) for i in range(nl)]
        )

    @classmethod
    def build(
        cls,
        votes: Iterable[tuple[str, str, str]],
        labels: Sequence[str],
        *,
        tasks: Sequence[str] = (),
        workers: Sequence[str] = (),
    ) -> VoteTable:
        """Encode (task, worker, label) triples; `labels` fixes the label order (every vote's
        label must be in it). `tasks`/`workers` fix the first codes (others follow in order of
        first appearance)."""
        task_codes: dict[str, int] = {name: i for i, name in enumerate(tasks)}
        worker_codes: dict[str, int] = {name: i for i, name in enumerate(workers)}
        label_codes = {name: i for i, name in enumerate(labels)}
        t: list[int] = []
        w: list[int] = []
        lab: list[int] = []
        for task_name, worker_name, label_name in votes:
            t.append(task_codes.setdefault(task_name, len(task_codes)))
            w.append(worker_codes.setdefault(worker_name, len(worker_codes)))
            lab.append(label_codes[label_name])
        return cls(
            np.asarray(t, dtype=np.int64),
            np.asarray(w, dtype=np.int64),
            np.asarray(lab, dtype=np.int64),
            list(task_codes),
            list(worker_codes),
            list(labels),
        )

    def counts(self) -> FloatArray:
        """Votes per task and label, shape (n_tasks, n_labels)."""
        flat = np.bincount(self.task * self.n_labels + self.label, minlength=self.n_tasks * self.n_labels)
        return flat.reshape(self.n_tasks, self.n_labels).astype(np.float64)

    def votes_per_task(self) -> IntArray:
        return np.bincount(self.task, minlength=self.n_tasks).astype(np.int64)

    def votes_per_worker(self) -> IntArray:
        return np.bincount(self.worker, minlength=self.n_workers).astype(np.int64)

    def dense(self) -> IntArray:
        """Labels as a (n_workers, n_tasks) matrix, -1 where a worker did not vote."""
        out = np.full((self.n_workers, self.n_tasks), -1, dtype=np.int64)
        out[self.worker, self.task] = self.label
        return out
