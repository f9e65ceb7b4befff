"""De-duplication: exact (content digest) and near-duplicate (MinHash LSH, verified) with label
conflicts and leakage across existing splits. See `dedup.py` for the flow and `near.py` for the
near-duplicate engine."""

from foundry.ingestion.dedup.content import content_digest, content_key, label_signature
from foundry.ingestion.dedup.dedup import Deduplicator, check_options
from foundry.ingestion.dedup.lsh import optimal_params
from foundry.ingestion.dedup.near import NearDuplicateIndex, NearPairs
from foundry.ingestion.dedup.result import (
    EXACT_DUPLICATE,
    LABEL_CONFLICT,
    NEAR_DUPLICATE,
    Cluster,
    DedupResult,
    LabelConflict,
    Leakage,
    RowPairs,
)
from foundry.ingestion.dedup.shingles import ShingleSets, shingle_sets

__all__ = [
    "EXACT_DUPLICATE",
    "LABEL_CONFLICT",
    "NEAR_DUPLICATE",
    "Cluster",
    "DedupResult",
    "Deduplicator",
    "LabelConflict",
    "Leakage",
    "NearDuplicateIndex",
    "NearPairs",
    "RowPairs",
    "ShingleSets",
    "check_options",
    "content_digest",
    "content_key",
    "label_signature",
    "optimal_params",
    "shingle_sets",
]
