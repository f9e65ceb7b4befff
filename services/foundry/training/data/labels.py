"""Label maps: the fixed, sorted correspondence between label names and the model's class ids.

- token classification: `O` (id 0), then `B-X`, `I-X` for each entity type X in sorted order.
  The dataset's label set may name entity types or tags ("PER" or "B-PER"/"I-PER"); both give
  the same map. `O` is always id 0, so a word that never got a prediction decodes to `O`.
- text classification and multi-label: the dataset's labels, sorted.
- chat: no labels (the targets are tokens).

The same label set always gives the same map, so the map is part of the tokenization cache key
and is stored with the model (`id2label` / `label2id` of its Hugging Face config).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from foundry.domain.tags import OUTSIDE, label_entity_type, tag_set
from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.examples import Task

#: the label id that the loss ignores (sub-tokens after a word's first, special tokens, padding)
IGNORE_INDEX = -100


@dataclass(frozen=True, slots=True)
class LabelMap:
    """The labels of a task, in id order."""

    task: Task
    labels: tuple[str, ...]

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def entity_types(self) -> tuple[str, ...]:
        """The entity types of a token-classification map (empty for other tasks)."""
        if self.task is not Task.TOKEN_CLASSIFICATION:
            return ()
        return tuple(label[2:] for label in self.labels if label.startswith("B-"))

    def to_dict(self) -> dict[str, object]:
        return {"task": self.task.value, "labels": list(self.labels)}


def label_map_for(task: Task, label_set: Iterable[str]) -> LabelMap:
    """The label map of a dataset with this task and label set."""
    names = {label for label in label_set if label}
    if task is Task.TOKEN_CLASSIFICATION:
        types = sorted({label_entity_type(label) for label in names} - {OUTSIDE})
        if not types:
            raise FailedPreconditionError(
                "the dataset version's label set names no entity type", reason="EMPTY_LABEL_SET"
            )
        return LabelMap(task, tuple(tag_set(types)))
    if task in (Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION):
        if not names:
            raise FailedPreconditionError(
                "the dataset version has an empty label set; a classifier needs its classes",
                reason="EMPTY_LABEL_SET",
            )
        return LabelMap(task, tuple(sorted(names)))
    if task is Task.CHAT:  # a causal LM predicts tokens: no classes
        return LabelMap(task, ())
    raise InvalidArgumentError(f"task {task.value} has no label map", reason="UNSUPPORTED_TASK")
