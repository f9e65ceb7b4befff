"""The recipes a search tries: learning rates x epoch counts, by default around the spec's own
recipe (`search.learning_rates` and `search.epochs` replace either axis).

The default grid always holds the spec's own learning rate and epochs (the default run), so a
search can only lose to it by the noise of its trials. LoRA trains at larger rates, so its grid is scaled
by the ratio of its default rate to full fine-tuning's.
"""

from __future__ import annotations

from dataclasses import dataclass

from foundry.training.spec import (
    DEFAULT_LEARNING_RATE,
    DEFAULT_LORA_LEARNING_RATE,
    JobSpec,
    TrainingMethod,
)

#: the learning rates of full fine-tuning tried by a search
LEARNING_RATES = (3e-5, 5e-5, 1e-4, 2e-4)
#: epoch counts tried: the spec's own and this many more
EXTRA_EPOCHS = (0, 1)


@dataclass(frozen=True, slots=True)
class Recipe:
    """One point of the grid."""

    learning_rate: float
    epochs: int

    def describe(self) -> str:
        return f"lr {self.learning_rate:.0e}, {self.epochs} epoch{'s' if self.epochs != 1 else ''}"


def grid(spec: JobSpec) -> list[Recipe]:
    """The recipes of `spec`'s search, in a fixed order (ties between equal scores go to the
    earlier one)."""
    return [Recipe(rate, count) for count in grid_epochs(spec) for rate in grid_learning_rates(spec)]


def grid_learning_rates(spec: JobSpec) -> list[float]:
    """`search.learning_rates`, else `LEARNING_RATES` (scaled for LoRA) and the spec's own."""
    if spec.search.learning_rates:
        return sorted(set(spec.search.learning_rates))
    scale = DEFAULT_LORA_LEARNING_RATE / DEFAULT_LEARNING_RATE if spec.method is TrainingMethod.LORA else 1.0
    return sorted({round(rate * scale, 12) for rate in LEARNING_RATES} | {spec.peak_learning_rate})


def grid_epochs(spec: JobSpec) -> list[int]:
    """`search.epochs`, else the spec's epochs and `EXTRA_EPOCHS` more."""
    return sorted(set(spec.search.epochs or [spec.epochs + extra for extra in EXTRA_EPOCHS]))


def minimum_budget(spec: JobSpec) -> float:
    """The smallest budget (in runs of the spec) that leaves room for the final model at the
    grid's largest epoch count and one round of trials: anything at or under the final's share
    is refused up front."""
    return max(grid_epochs(spec)) / spec.epochs
