"""Splits that come with the data, in de-duplication: the scope a row is de-duplicated in, and
decontamination (training rows that duplicate an evaluation row leave training).

Scopes: rows of the training pool (train, and rows without a split, which the split step will
assign) are one scope; each supplied evaluation split (validation, test) is a scope of its own.
Exact and near duplicates are removed only within a scope, and within an evaluation scope only
when `DedupOptions.dedup_eval_splits` is on: otherwise its rows are frozen (reported, kept).
Duplicates across scopes are what decontamination and the leakage report look at.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from foundry.ingestion.dedup.leakage import SPLITS
from foundry.ingestion.dedup.result import EVAL_DUPLICATE, REASON_CODES
from foundry.runtime.examples import Split

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]

TRAIN_CODE = SPLITS.index(Split.TRAIN)
EVAL_CODES = (SPLITS.index(Split.VALIDATION), SPLITS.index(Split.TEST))
_EVAL_DUPLICATE = REASON_CODES[EVAL_DUPLICATE]


def is_eval(splits: U8) -> Bools:
    """Whether each row comes in a supplied evaluation split (validation or test)."""
    return np.isin(splits, EVAL_CODES)


def scopes(splits: U8) -> U8:
    """The de-duplication scope of each row: the training pool (train and unassigned rows share
    the train code), or its evaluation split's code."""
    return np.where(is_eval(splits), splits, TRAIN_CODE).astype(np.uint8)


def decontaminate(cluster_id: I64, splits: U8, reason: U8, duplicate_of: I64) -> int:
    """Drop every row of the training pool whose duplicate cluster holds a kept evaluation row,
    as `eval_duplicate` of that cluster's first kept evaluation row (whatever was decided for it
    before); writes `reason` and `duplicate_of`, returns how many rows it dropped."""
    count = len(cluster_id)
    evaluation = is_eval(splits)
    clustered = cluster_id >= 0
    anchors = np.flatnonzero(clustered & evaluation & (reason == 0))
    if not len(anchors):
        return 0
    first_eval = np.full(int(cluster_id.max()) + 1, count, dtype=np.int64)
    np.minimum.at(first_eval, cluster_id[anchors], anchors)
    anchor = np.where(clustered, first_eval[np.maximum(cluster_id, 0)], count)
    dropped = np.flatnonzero(~evaluation & (anchor < count))
    reason[dropped] = _EVAL_DUPLICATE
    duplicate_of[dropped] = anchor[dropped]
    return len(dropped)


def frozen_duplicates(scoped: I64, frozen: Bools, scoped_root: I64) -> int:
    """Rows of frozen (evaluation) scopes kept although they duplicate an earlier row of their
    scope: exactly (`scoped` group not their own) or nearly (`scoped_root` group not theirs)."""
    positions = np.arange(len(scoped))
    return int((frozen & ((scoped != positions) | (scoped_root[scoped] != scoped))).sum())
