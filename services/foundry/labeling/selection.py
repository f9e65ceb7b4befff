"""Active learning: which items to label next, from a model's class distributions.

Uncertainty per distribution row (higher = more uncertain): least confidence `1 - max p`,
margin `1 - (p1 - p2)`, entropy `-sum p log p`. Token classification has one row per token and
reduces them per item (mean, max or sum). Random ranks by a seeded permutation.

With a diversity weight `w`, selection is greedy: each next item maximises
`(1 - w) * uncertainty / max uncertainty + w * (cosine distance to the nearest selected item)`
over L2-normalised feature vectors (the first pick is the most uncertain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from foundry.runtime import cancel

FloatArray = npt.NDArray[np.float64]


class Strategy(StrEnum):
    RANDOM = "random"
    LEAST_CONFIDENCE = "least_confidence"
    MARGIN = "margin"
    ENTROPY = "entropy"


class Reduction(StrEnum):
    MEAN = "mean"
    MAX = "max"
    SUM = "sum"


@dataclass(frozen=True)
class Selected:
    index: int
    score: float
    uncertainty: float


def row_uncertainty(probs: FloatArray, strategy: Strategy) -> FloatArray:
    """Uncertainty of each row of a (rows, classes) probability matrix."""
    if probs.shape[0] == 0:
        return np.zeros(0)
    if strategy is Strategy.LEAST_CONFIDENCE:
        return np.asarray(1.0 - probs.max(axis=1), dtype=np.float64)
    if strategy is Strategy.MARGIN:
        if probs.shape[1] < 2:
            return np.zeros(probs.shape[0])
        top2 = -np.partition(-probs, 1, axis=1)[:, :2]
        return np.asarray(1.0 - (top2[:, 0] - top2[:, 1]), dtype=np.float64)
    safe = np.clip(probs, 1e-12, 1.0)
    return np.asarray(-(probs * np.log(safe)).sum(axis=1), dtype=np.float64)


def item_uncertainty(rows: Sequence[FloatArray], strategy: Strategy, reduction: Reduction) -> FloatArray:
    """One uncertainty per item from its rows (one row for classification, one per token)."""
    lengths = np.array([r.shape[0] for r in rows], dtype=np.int64)
    if not rows:
        return np.zeros(0)
    flat = row_uncertainty(np.concatenate(rows, axis=0), strategy)
    owner = np.repeat(np.arange(len(rows)), lengths)
    sums = np.bincount(owner, weights=flat, minlength=len(rows))
    if reduction is Reduction.SUM:
        return np.asarray(sums, dtype=np.float64)
    if reduction is Reduction.MAX:
        out = np.zeros(len(rows))
        np.maximum.at(out, owner, flat)
        return out
    return np.divide(sums, lengths, out=np.zeros(len(rows)), where=lengths > 0)


def select(
    uncertainty: FloatArray,
    count: int,
    *,
    strategy: Strategy,
    seed: int = 0,
    features: FloatArray | None = None,
    diversity_weight: float = 0.0,
) -> list[Selected]:
    """The `count` items to label next, in selection order."""
    n = uncertainty.shape[0]
    count = min(count, n)
    if count <= 0:
        return []
    rng = np.random.default_rng(seed)
    if strategy is Strategy.RANDOM:
        order = rng.permutation(n)[:count]
        return [Selected(int(i), float(count - rank), float(uncertainty[i])) for rank, i in enumerate(order)]
    jitter = rng.random(n) * 1e-9  # seeded tie break
    scale = float(uncertainty.max()) or 1.0
    base = uncertainty / scale
    if features is None or diversity_weight <= 0:
        order = np.argsort(-(base + jitter), kind="stable")[:count]
        return [Selected(int(i), float(base[i]), float(uncertainty[i])) for i in order]
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = np.divide(features, norms, out=np.zeros_like(features), where=norms > 0)
    nearest = np.full(n, 1.0)  # cosine distance to the nearest selected item (1 before any pick)
    taken = np.zeros(n, dtype=bool)
    out: list[Selected] = []
    for n_picked in range(count):
        if n_picked % 64 == 0:
            cancel.check()
        score = (1.0 - diversity_weight) * base + diversity_weight * nearest + jitter
        score[taken] = -np.inf
        pick = int(score.argmax())
        out.append(Selected(pick, float(score[pick]), float(uncertainty[pick])))
        taken[pick] = True
        nearest = np.minimum(nearest, 1.0 - unit @ unit[pick])
    return out


def text_features(texts: Sequence[str], dims: int = 512) -> FloatArray:
    """Hashed bag-of-words vectors (diversity features when the model gives no embedding)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    matrix = HashingVectorizer(n_features=dims, alternate_sign=False, norm="l2").transform(list(texts))
    return np.asarray(matrix.toarray(), dtype=np.float64)
