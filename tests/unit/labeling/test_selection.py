"""Active-learning selection on fixed scores: each strategy's exact order, token reductions,
seeded random order, and the diversity term."""

from __future__ import annotations

import numpy as np
import pytest

from foundry.labeling.selection import (
    Reduction,
    Strategy,
    item_uncertainty,
    row_uncertainty,
    select,
)

# one class distribution per item (classification): the strategies disagree on purpose
ROWS = np.array(
    [
        [0.50, 0.48, 0.02],  # 0: lc .50, margin .98, entropy 0.77
        [0.40, 0.30, 0.30],  # 1: lc .60, margin .90, entropy 1.09
        [0.90, 0.05, 0.05],  # 2: lc .10, margin .15, entropy 0.39
        [0.45, 0.45, 0.10],  # 3: lc .55, margin 1.0, entropy 0.95
        [0.34, 0.33, 0.33],  # 4: lc .66, margin .99, entropy 1.10
    ]
)


def order(strategy: Strategy, rows: np.ndarray = ROWS) -> list[int]:
    uncertainty = item_uncertainty([r[None, :] for r in rows], strategy, Reduction.MEAN)
    return [s.index for s in select(uncertainty, len(rows), strategy=strategy)]


def test_each_strategy_ranks_in_its_exact_order() -> None:
    assert order(Strategy.LEAST_CONFIDENCE) == [4, 1, 3, 0, 2]
    assert order(Strategy.MARGIN) == [3, 4, 0, 1, 2]
    assert order(Strategy.ENTROPY) == [4, 1, 3, 0, 2]


def test_row_uncertainty_values() -> None:
    assert row_uncertainty(ROWS, Strategy.LEAST_CONFIDENCE) == pytest.approx([0.5, 0.6, 0.1, 0.55, 0.66])
    assert row_uncertainty(ROWS, Strategy.MARGIN) == pytest.approx([0.98, 0.9, 0.15, 1.0, 0.99])
    expected = [-(r * np.log(r)).sum() for r in ROWS]
    assert row_uncertainty(ROWS, Strategy.ENTROPY) == pytest.approx(expected)


def test_token_rows_reduce_per_item_by_mean_max_or_sum() -> None:
    # item 0: two sure tokens and one coin flip; item 1: four mildly unsure tokens; item 2: one token
    items = [
        np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]]),
        np.array([[0.7, 0.3]] * 4),
        np.array([[0.8, 0.2]]),
    ]
    lc = Strategy.LEAST_CONFIDENCE
    assert item_uncertainty(items, lc, Reduction.MEAN) == pytest.approx([0.5 / 3, 0.3, 0.2])
    assert item_uncertainty(items, lc, Reduction.MAX) == pytest.approx([0.5, 0.3, 0.2])
    assert item_uncertainty(items, lc, Reduction.SUM) == pytest.approx([0.5, 1.2, 0.2])
    for reduction, expected in [
        (Reduction.MEAN, [1, 2, 0]),
        (Reduction.MAX, [0, 1, 2]),
        (Reduction.SUM, [1, 0, 2]),
    ]:
        uncertainty = item_uncertainty(items, lc, reduction)
        assert [s.index for s in select(uncertainty, 3, strategy=lc)] == expected


def test_random_is_a_seeded_permutation() -> None:
    uncertainty = np.linspace(0, 1, 50)
    first = [s.index for s in select(uncertainty, 10, strategy=Strategy.RANDOM, seed=3)]
    again = [s.index for s in select(uncertainty, 10, strategy=Strategy.RANDOM, seed=3)]
    other = [s.index for s in select(uncertainty, 10, strategy=Strategy.RANDOM, seed=4)]
    assert first == again != other and len(set(first)) == 10
    assert first != list(range(49, 39, -1))  # not the uncertainty order


def test_count_is_capped_and_ties_break_by_seed_only() -> None:
    flat = np.full(4, 0.5)
    picked = [s.index for s in select(flat, 10, strategy=Strategy.ENTROPY, seed=1)]
    assert sorted(picked) == [0, 1, 2, 3]
    assert picked == [s.index for s in select(flat, 10, strategy=Strategy.ENTROPY, seed=1)]


def test_diversity_prefers_a_different_item_over_a_near_duplicate() -> None:
    # items 0 and 1 are the same text and the most uncertain; item 2 is different, a bit less so
    uncertainty = np.array([1.0, 0.99, 0.8, 0.1])
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    plain = select(uncertainty, 2, strategy=Strategy.ENTROPY)
    diverse = select(uncertainty, 2, strategy=Strategy.ENTROPY, features=features, diversity_weight=0.5)
    assert [s.index for s in plain] == [0, 1]
    assert [s.index for s in diverse] == [0, 2]
