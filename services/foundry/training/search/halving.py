"""The search's schedule, pure: successive halving within a budget of training examples x epochs.

The budget covers everything the search trains, the final model included. The final model trains
on the whole training split, so the cost of the grid's longest recipe on it is set aside first;
what is left is shared equally among the halving rounds ("rungs"). Round r trains every surviving
recipe on the first `n_r` training examples, `n_r` as large as the round's share (plus whatever
earlier rounds left unspent) allows; the best half (rounded up) by the objective survives. Rounds
go on until one recipe is left, which trains the final model. Every number is an integer, so
the total cost never exceeds the budget, and `Schedule` can be replayed (a resumed search makes
the same choices from the same scores).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from foundry.training.search.space import Recipe


class BudgetError(ValueError):
    """The budget cannot pay for the final model and one round of trials."""


@dataclass(frozen=True, slots=True)
class Trial:
    """One recipe trained on the first `examples` training examples in round `rung`."""

    rung: int
    recipe: Recipe
    examples: int

    @property
    def cost(self) -> int:
        return self.examples * self.recipe.epochs


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a schedule ran: every trial with its score, the winner and what it all cost."""

    trials: tuple[tuple[Trial, float], ...]
    best: Recipe
    final_cost: int
    budget_units: int

    @property
    def spent_units(self) -> int:
        return sum(trial.cost for trial, _ in self.trials) + self.final_cost


def budget_units(budget: float, train_examples: int, epochs: int) -> int:
    """`budget` runs of `epochs` epochs over `train_examples` examples, in examples x epochs."""
    return math.floor(budget * train_examples * epochs)


def rounds_for(recipes: int) -> int:
    """Halving rounds until one recipe is left (8 recipes: 3 rounds of 8, 4 and 2)."""
    return max(0, math.ceil(math.log2(recipes))) if recipes > 0 else 0


def survivors(count: int) -> int:
    return (count + 1) // 2


def keep_best(scored: Sequence[tuple[Recipe, float]], maximize: bool) -> list[Recipe]:
    """The better half (rounded up) of `scored`, best first; equal scores keep their order, and
    a NaN score (a failed trial) is the worst."""

    def key(item: tuple[int, tuple[Recipe, float]]) -> tuple[float, int]:
        index, (_, score) = item
        if math.isnan(score):
            return (math.inf, index)
        return (-score if maximize else score, index)

    ranked = sorted(enumerate(scored), key=key)
    return [recipe for _, (recipe, _) in ranked[: survivors(len(scored))]]


class Schedule:
    """Successive halving over `recipes` on a training split of `train_examples` examples with
    `units` examples x epochs to spend. Drive it with `next_round()` / `record(scores)` until
    `done`, then `outcome()`; or hand `run()` a function that scores a round's trials."""

    def __init__(self, recipes: Sequence[Recipe], train_examples: int, units: int, *, maximize: bool) -> None:
        if not recipes:
            raise ValueError("a search needs at least one recipe")
        if train_examples < 1:
            raise BudgetError("the training split is empty")
        self.train_examples = train_examples
        self.units = units
        self.maximize = maximize
        self.reserve = train_examples * max(r.epochs for r in recipes)
        self.alive = list(recipes)
        self.remaining = units - self.reserve
        self.rung = 0
        self.history: list[tuple[Trial, float]] = []
        if len(self.alive) > 1 and self.next_round()[0].examples < 1:
            raise BudgetError(
                f"a budget of {units} examples x epochs cannot pay for the final model "
                f"({self.reserve}) and a round of {len(self.alive)} trials"
            )

    @property
    def done(self) -> bool:
        return len(self.alive) == 1

    def next_round(self) -> list[Trial]:
        """The trials of the current round (empty when `done`)."""
        if self.done:
            return []
        rounds_left = rounds_for(len(self.alive))
        share = max(self.remaining, 0) // rounds_left
        examples = min(self.train_examples, share // sum(r.epochs for r in self.alive))
        return [Trial(self.rung, recipe, examples) for recipe in self.alive]

    def record(self, scores: Sequence[float]) -> list[Recipe]:
        """The current round's scores (in `next_round()` order); returns the survivors."""
        trials = self.next_round()
        if len(scores) != len(trials):
            raise ValueError(f"round {self.rung} has {len(trials)} trials, got {len(scores)} scores")
        self.history.extend(zip(trials, scores, strict=True))
        self.remaining -= sum(t.cost for t in trials)
        self.alive = keep_best([(t.recipe, s) for t, s in zip(trials, scores, strict=True)], self.maximize)
        self.rung += 1
        return self.alive

    def final(self) -> Trial:
        """The final model's training (the whole split, the winning recipe); only when `done`."""
        if not self.done:
            raise ValueError("the search has rounds left")
        return Trial(self.rung, self.alive[0], self.train_examples)

    def outcome(self) -> Outcome:
        final = self.final()
        return Outcome(tuple(self.history), final.recipe, final.cost, self.units)

    def run(self, score: Callable[[list[Trial]], Sequence[float]]) -> Outcome:
        while not self.done:
            self.record(score(self.next_round()))
        return self.outcome()
