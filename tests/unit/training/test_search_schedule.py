"""The recipe search's pure parts: the grid, the halving schedule (budget, survivors, replay),
the trial and final specs, and the spec checks of `search`."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from foundry.runtime.errors import InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.training.search.halving import BudgetError, Schedule, budget_units, keep_best, rounds_for
from foundry.training.search.report import SearchReport, TrialRecord
from foundry.training.search.runner import final_spec, is_search, trial_spec
from foundry.training.search.space import Recipe, grid, minimum_budget
from foundry.training.spec import BaseModelRef, DatasetRef, JobSpec, SearchOptions, TrainingMethod


def _spec(**changes: object) -> JobSpec:
    spec = JobSpec(Task.TOKEN_CLASSIFICATION, BaseModelRef("imported", "tiny"), DatasetRef("ds"), epochs=2)
    return replace(spec, **changes)  # type: ignore[arg-type]


def _true_score(recipe: Recipe) -> float:
    """A made-up landscape with one best recipe (lr 1e-4, 3 epochs)."""
    return 1.0 - abs(math.log10(recipe.learning_rate) - math.log10(1e-4)) - 0.1 * abs(recipe.epochs - 3)


def test_grid_holds_the_specs_own_recipe_and_scales_for_lora() -> None:
    recipes = grid(_spec())
    assert Recipe(5e-5, 2) in recipes and Recipe(1e-4, 3) in recipes
    assert {r.epochs for r in recipes} == {2, 3}
    assert len(recipes) == 8
    own = grid(_spec(learning_rate=7e-5))
    assert Recipe(7e-5, 2) in own and len(own) == 10
    lora = grid(_spec(method=TrainingMethod.LORA))
    assert min(r.learning_rate for r in lora) == pytest.approx(3e-5 * 4)
    chosen = grid(_spec(search=SearchOptions(learning_rates=(2e-4, 1e-4, 2e-4), epochs=(4,))))
    assert chosen == [Recipe(1e-4, 4), Recipe(2e-4, 4)]


@pytest.mark.parametrize(("budget", "examples"), [(3.0, 3000), (2.0, 1000), (5.5, 777), (1.6, 10_000)])
def test_the_schedule_never_spends_more_than_the_budget(budget: float, examples: int) -> None:
    recipes = grid(_spec())
    units = budget_units(budget, examples, 2)
    schedule = Schedule(recipes, examples, units, maximize=True)
    outcome = schedule.run(lambda trials: [_true_score(t.recipe) for t in trials])
    assert outcome.spent_units <= units == outcome.budget_units
    # rounds of 8, 4, 2 trials, then the final model on the whole split
    assert [sum(1 for t, _ in outcome.trials if t.rung == r) for r in range(3)] == [8, 4, 2]
    assert outcome.final_cost == examples * outcome.best.epochs
    # each round trains on at least as many examples as the one before
    sizes = [next(t.examples for t, _ in outcome.trials if t.rung == r) for r in range(3)]
    assert sizes == sorted(sizes) and sizes[0] >= 1


def test_the_budget_is_used_up_to_the_last_round() -> None:
    """At 3x a 3,000-example run: the final's 9,000 set aside, the rest shared by 3 rounds, and
    what a round leaves over (integer division) goes to the next."""
    units = budget_units(3.0, 3000, 2)
    assert units == 18_000
    schedule = Schedule(grid(_spec()), 3000, units, maximize=True)
    outcome = schedule.run(lambda trials: [_true_score(t.recipe) for t in trials])
    search_units = units - 3000 * 3
    spent_on_trials = sum(t.cost for t, _ in outcome.trials)
    assert search_units - spent_on_trials < 2 * sum(r.epochs for r in grid(_spec()))
    assert outcome.best == Recipe(1e-4, 3)
    assert outcome.spent_units == spent_on_trials + 9000 <= units


def test_the_best_recipe_survives_every_round_and_failures_drop_out() -> None:
    recipes = grid(_spec())
    schedule = Schedule(recipes, 500, budget_units(4, 500, 2), maximize=True)
    while not schedule.done:
        trials = schedule.next_round()
        scores = [math.nan if t.recipe.learning_rate == 2e-4 else _true_score(t.recipe) for t in trials]
        alive = schedule.record(scores)
        assert Recipe(1e-4, 3) in alive
        assert all(r.learning_rate != 2e-4 for r in alive)
    assert schedule.final().recipe == Recipe(1e-4, 3)


def test_minimize_keeps_the_lowest() -> None:
    scored = [(Recipe(1e-5, 1), 0.5), (Recipe(2e-5, 1), 0.1), (Recipe(3e-5, 1), 0.3)]
    assert keep_best(scored, maximize=False) == [Recipe(2e-5, 1), Recipe(3e-5, 1)]
    assert keep_best(scored, maximize=True) == [Recipe(1e-5, 1), Recipe(3e-5, 1)]
    # ties keep grid order
    tied = [(Recipe(1e-5, 1), 0.2), (Recipe(2e-5, 1), 0.2)]
    assert keep_best(tied, maximize=True) == [Recipe(1e-5, 1)]


def test_a_replayed_schedule_makes_the_same_choices() -> None:
    recipes = grid(_spec())
    runs = [
        Schedule(recipes, 900, budget_units(3, 900, 2), maximize=True).run(
            lambda trials: [_true_score(t.recipe) for t in trials]
        )
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_a_budget_too_small_for_the_final_model_and_a_round_is_refused() -> None:
    with pytest.raises(BudgetError, match="cannot pay"):
        Schedule(grid(_spec()), 100, budget_units(1.5, 100, 2), maximize=True)
    assert rounds_for(8) == 3 and rounds_for(5) == 3 and rounds_for(2) == 1 and rounds_for(1) == 0


def test_the_spec_checks_the_search() -> None:
    assert minimum_budget(_spec()) == 1.5
    assert minimum_budget(_spec(search=SearchOptions(budget=3, epochs=(1, 4)))) == 2.0
    _spec(search=SearchOptions(budget=3)).check()
    for options, changes, path in [
        (SearchOptions(budget=-1), {}, "search.budget"),
        (SearchOptions(budget=math.inf), {}, "search.budget"),
        (SearchOptions(budget=1.5), {}, "search.budget"),
        (SearchOptions(budget=3, trial=True), {}, "search.trial"),
        (SearchOptions(budget=3), {"max_steps": 10}, "max_steps"),
        (SearchOptions(budget=3, learning_rates=(1e-4, -1.0)), {}, "search.learning_rates"),
        (SearchOptions(budget=3, epochs=(0, 2)), {}, "search.epochs"),
        (SearchOptions(budget=2, epochs=(2, 4)), {}, "search.budget"),
    ]:
        with pytest.raises(InvalidArgumentError) as caught:
            _spec(search=options, **changes).check()
        assert path in [v.field for v in caught.value.violations]
    spec = _spec(search=SearchOptions(budget=3, learning_rates=(1e-4, 3e-4), epochs=(2, 5)))
    assert JobSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(InvalidArgumentError) as caught:
        JobSpec.from_dict({**spec.to_dict(), "search": {"learning_rates": [1e-4, "fast"]}})
    assert [v.field for v in caught.value.violations] == ["search.learning_rates[1]"]


def test_trial_and_final_specs() -> None:
    spec = _spec(search=SearchOptions(budget=3))
    schedule = Schedule(grid(spec), 1000, budget_units(3, 1000, 2), maximize=True)
    trial = schedule.next_round()[2]
    child = trial_spec(spec, trial)
    assert child.search == SearchOptions(trial=True) and not is_search(child)
    assert (child.learning_rate, child.epochs) == (trial.recipe.learning_rate, trial.recipe.epochs)
    assert child.max_train_examples == trial.examples
    final = final_spec(spec, Recipe(1e-4, 3))
    assert final.search == SearchOptions() and (final.learning_rate, final.epochs) == (1e-4, 3)
    assert final.max_train_examples == 0 and is_search(spec)


def test_the_report_round_trips_and_sums_its_costs() -> None:
    report = SearchReport("eval_f1", 100, [TrialRecord("a", 0, 1e-4, 2, 10, 20, "succeeded", math.nan)])
    report.final_job_id, report.final_cost_units = "b", 60
    again = SearchReport.from_dict(report.to_dict())
    assert again.spent_units == 80 and again.child_job_ids == ["a", "b"]
    assert again.trials[0].objective_value is None
