"""De-duplication: exact (content digest) and near-duplicate (MinHash LSH, verified) with label
conflicts and leakage across existing splits. See `dedup.py` for the flow; the primitives
(digests, shingles, MinHash, LSH, the near-duplicate index) are `foundry.domain.dedup`."""

from foundry.ingestion.dedup.dedup import Deduplicator, check_options
from foundry.ingestion.dedup.result import (
    EVAL_DUPLICATE,
    EXACT_DUPLICATE,
    LABEL_CONFLICT,
    NEAR_DUPLICATE,
    Cluster,
    DedupResult,
    LabelConflict,
    Leakage,
    RowPairs,
)

__all__ = [
    "EVAL_DUPLICATE",
    "EXACT_DUPLICATE",
    "LABEL_CONFLICT",
    "NEAR_DUPLICATE",
    "Cluster",
    "DedupResult",
    "Deduplicator",
    "LabelConflict",
    "Leakage",
    "RowPairs",
    "check_options",
]
