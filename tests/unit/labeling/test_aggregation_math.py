"""The label models and agreement coefficients against planted truth and reference packages."""

from __future__ import annotations

import krippendorff
import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from foundry.labeling.aggregation.models import dawid_skene, majority_vote
from foundry.labeling.aggregation.votes import IntArray, VoteTable
from foundry.labeling.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, span_f1
from foundry.labeling.assignment import assign
from foundry.runtime.examples import Span


def planted(
    n_tasks: int, accuracies: list[float], n_labels: int, seed: int, coverage: float = 1.0
) -> tuple[VoteTable, IntArray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_tasks)
    tasks, workers, labels = [], [], []
    for w, acc in enumerate(accuracies):
        keep = rng.random(n_tasks) < coverage
        t = np.flatnonzero(keep)
        right = rng.random(t.size) < acc
        wrong = (truth[t] + rng.integers(1, n_labels, t.size)) % n_labels
        tasks.append(t)
        workers.append(np.full(t.size, w))
        labels.append(np.where(right, truth[t], wrong))
    table = VoteTable.from_codes(
        np.concatenate(tasks),
        np.concatenate(workers),
        np.concatenate(labels),
        n_tasks=n_tasks,
        n_workers=len(accuracies),
        n_labels=n_labels,
    )
    return table, truth


def test_dawid_skene_recovers_planted_accuracies_and_beats_majority_vote() -> None:
    accuracies = [0.95, 0.9, 0.75, 0.6, 0.55, 0.4]
    table, truth = planted(4000, accuracies, 3, seed=1)
    ds = dawid_skene(table)
    mv = majority_vote(table)
    assert np.abs(ds.worker_accuracy - np.array(accuracies)).max() < 0.03
    assert (ds.winners == truth).mean() > (mv.winners == truth).mean() + 0.02
    assert ds.converged and ds.iterations < 100
    assert np.allclose(ds.posteriors.sum(axis=1), 1.0)
    assert np.all((ds.confidence > 0.33) & (ds.confidence <= 1.0))


def test_dawid_skene_handles_missing_votes_and_unvoted_tasks() -> None:
    table, truth = planted(3000, [0.9, 0.8, 0.7, 0.65], 2, seed=2, coverage=0.6)
    ds = dawid_skene(table)
    voted = table.votes_per_task() > 0
    assert (~voted).any()
    assert np.all(ds.posteriors[~voted] == 0)
    assert (ds.winners[voted] == truth[voted]).mean() > 0.85


def test_majority_vote_ties_go_to_schema_order() -> None:
    table = VoteTable.build([("a", "x", "pos"), ("a", "y", "neg")], ["neg", "pos"])
    mv = majority_vote(table)
    assert table.labels[mv.winners[0]] == "neg" and mv.confidence[0] == 0.5


def random_ratings(
    seed: int, n_units: int = 200, n_raters: int = 4, n_labels: int = 3, missing: float = 0.25
) -> tuple[IntArray, npt.NDArray[np.bool_]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_units)
    noisy = np.where(
        rng.random((n_raters, n_units)) < 0.7, truth, rng.integers(0, n_labels, (n_raters, n_units))
    )
    mask = rng.random((n_raters, n_units)) < missing
    return noisy, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cohen_kappa_equals_sklearn(seed: int) -> None:
    ratings, _ = random_ratings(seed)
    ours = cohen_kappa(ratings[0], ratings[1], 3)
    assert ours == pytest.approx(cohen_kappa_score(ratings[0], ratings[1]), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fleiss_kappa_equals_statsmodels(seed: int) -> None:
    ratings, _ = random_ratings(seed)
    table = VoteTable.from_codes(
        np.tile(np.arange(ratings.shape[1]), ratings.shape[0]),
        np.repeat(np.arange(ratings.shape[0]), ratings.shape[1]),
        ratings.ravel(),
        n_labels=3,
    )
    counts = table.counts()
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss_kappa(counts, method="fleiss"), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_krippendorff_alpha_equals_the_krippendorff_package_with_missing_data(seed: int) -> None:
    ratings, mask = random_ratings(seed)
    raters, units = np.nonzero(~mask)
    table = VoteTable.from_codes(units, raters, ratings[raters, units], n_tasks=ratings.shape[1], n_labels=3)
    reference = krippendorff.alpha(
        reliability_data=np.where(mask, np.nan, ratings.astype(float)), level_of_measurement="nominal"
    )
    assert krippendorff_alpha(table.counts()) == pytest.approx(reference, abs=1e-12)


def test_undefined_coefficients_are_none() -> None:
    same = np.zeros(10, dtype=np.int64)
    assert cohen_kappa(same, same, 2) is None
    assert cohen_kappa(same[:0], same[:0], 2) is None
    assert fleiss_kappa(np.array([[1.0, 0.0]])) is None
    assert krippendorff_alpha(np.array([[1.0, 0.0], [0.0, 1.0]])) is None


def test_span_f1() -> None:
    a = [[Span(0, 4, "person"), Span(10, 15, "location")], []]
    b = [[Span(0, 4, "person"), Span(10, 15, "person")], [Span(1, 2, "x")]]
    assert span_f1(a, b) == pytest.approx(2 * 1 / 5)
    assert span_f1([[]], [[]]) is None


def test_assignment_gives_each_item_exactly_k_distinct_annotators_and_is_stable() -> None:
    items = [f"item-{i}" for i in range(3000)]
    people = ["ann", "bob", "cho", "dee", "eve"]
    table = assign(items, people, 3, salt="p1")
    assert table.shape == (3000, 3)
    assert all(len(set(row)) == 3 for row in table.tolist())
    assert np.array_equal(table, assign(list(items), list(people), 3, salt="p1"))  # another replica
    load = np.bincount(table.ravel(), minlength=5) / 3000
    assert np.all(np.abs(load - 3 / 5) < 0.05)  # balanced
    # rendezvous: adding an annotator only moves items to the newcomer
    grown = assign(items, [*people, "fay"], 3, salt="p1")
    for before, after in zip(table.tolist(), grown.tolist(), strict=True):
        kept = [w for w in after if w != 5]
        assert set(kept) <= set(before)
    assert not np.array_equal(table, assign(items, people, 3, salt="p2"))  # projects independent
    with pytest.raises(ValueError):
        assign(items, people, 6)


@pytest.mark.filterwarnings("ignore")  # crowd-kit's own pandas deprecation warnings
def test_dawid_skene_matches_crowd_kit_on_the_same_votes() -> None:
    """The sparse EM converges to crowd-kit's DawidSkene answers (both start from majority vote)."""
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    table, truth = planted(3000, [0.9, 0.8, 0.7, 0.6, 0.45], 3, seed=5, coverage=0.7)
    ours = dawid_skene(table)
    frame = pd.DataFrame({"task": table.task, "worker": table.worker, "label": table.label})
    reference = DawidSkene(n_iter=100).fit(frame)
    voted = np.flatnonzero(table.votes_per_task() > 0)
    assert reference.probas_ is not None
    theirs = reference.probas_.reindex(index=voted, columns=[0, 1, 2]).to_numpy()
    assert (ours.winners[voted] == theirs.argmax(axis=1)).mean() > 0.995
    assert np.abs(ours.posteriors[voted] - theirs).mean() < 0.01
    ours_right = (ours.winners[voted] == truth[voted]).mean()
    assert ours_right == pytest.approx((theirs.argmax(axis=1) == truth[voted]).mean(), abs=0.005)
