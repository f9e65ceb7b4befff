"""Chat evaluation: perplexity on held-out conversations and exact match of short answers.

- `perplexity(loss)`: exp of the mean assistant-token cross-entropy (`eval_loss`).
- `exact_match(split, predictions, max_tokens)`: every assistant turn whose reference has at most
  `max_tokens` tokens counts; it matches when the model's argmax at every position of the turn
  (given the conversation up to there, teacher forced) is the reference's next token. That is
  exactly the condition for greedy decoding from the turn's prompt to reproduce the reference
  token for token, end-of-turn token included, so this is greedy exact match computed in the
  evaluation's single forward pass instead of one generation per turn.

`predictions` is flat and aligned with the split's `input_ids`: at position t the argmax of the
logits there, i.e. the predicted token t + 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import IGNORE_INDEX

#: the largest loss turned into a perplexity (exp(50) is already meaningless)
_MAX_LOSS = 50.0


def perplexity(loss: float) -> float:
    return math.exp(min(loss, _MAX_LOSS)) if math.isfinite(loss) else math.inf


def assistant_turns(split: EncodedSplit) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(start, end) flat positions of every assistant turn: maximal runs of labeled tokens in a row."""
    labeled = (split.labels != IGNORE_INDEX).astype(np.int8)
    row_starts = np.zeros(labeled.size, bool)
    row_starts[split.offsets[:-1][split.lengths > 0]] = True
    previous = np.concatenate([[0], labeled[:-1]])
    previous[row_starts] = 0
    starts = np.flatnonzero((labeled == 1) & (previous == 0))
    following = np.concatenate([labeled[1:], [0]])
    row_ends = np.zeros(labeled.size, bool)
    row_ends[split.offsets[1:][split.lengths > 0] - 1] = True
    following[row_ends] = 0
    ends = np.flatnonzero((labeled == 1) & (following == 0)) + 1
    return starts.astype(np.int64), ends.astype(np.int64)


def exact_match(split: EncodedSplit, predictions: npt.ArrayLike, max_tokens: int) -> dict[str, Any]:
    """`eval_exact_match` (share of short assistant turns reproduced exactly; NaN without any)
    and the counts behind it."""
    predicted = np.asarray(predictions)
    starts, ends = assistant_turns(split)
    short = (ends - starts) <= max_tokens
    hits = 0
    for start, end in zip(starts[short].tolist(), ends[short].tolist(), strict=True):
        hits += int(np.array_equal(predicted[start - 1 : end - 1], split.input_ids[start:end]))
    counted = int(np.count_nonzero(short))
    return {
        "eval_exact_match": hits / counted if counted else math.nan,
        "exact_match_turns": counted,
        "exact_match_hits": hits,
        "assistant_turns": int(starts.size),
    }


__all__ = ["assistant_turns", "exact_match", "perplexity"]
