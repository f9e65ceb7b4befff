"""Choosing the next token from a row of logits: greedy, or sampled with temperature and top-p.

Each generation has its own `numpy.random.Generator` (PCG64, seeded from the request's seed, else
from the OS), so a seeded generation draws the same tokens whichever other generations share its
batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.inference.generation.types import SamplingParams


def make_rng(seed: int | None) -> np.random.Generator:
    """The generation's random source: seeded, or fresh OS entropy."""
    return np.random.default_rng(seed)


def choose_token(logits: npt.NDArray[Any], params: SamplingParams, rng: np.random.Generator) -> int:
    """The next token: argmax unless sampling; with sampling, from the softmax of logits / temperature
    restricted to the smallest set of most likely tokens whose probability reaches `top_p`."""
    if not params.do_sample:
        return int(np.argmax(logits))
    scaled = np.asarray(logits, np.float64) / params.temperature
    probs = np.exp(scaled - scaled.max())
    probs /= probs.sum()
    order = np.argsort(-probs, kind="stable")
    if params.top_p < 1.0:
        cumulative = np.cumsum(probs[order])
        order = order[: int(np.searchsorted(cumulative, params.top_p)) + 1]
    kept = probs[order]
    return int(order[rng.choice(len(order), p=kept / kept.sum())])


__all__ = ["choose_token", "make_rng"]
