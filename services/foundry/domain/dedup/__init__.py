"""De-duplication primitives: content digests and keys, shingles, MinHash, LSH and the
near-duplicate index (`near.py`), shared by ingestion's de-duplication step and augmentation's
filters. The orchestration (exact and near steps, label conflicts, leakage) is `foundry.ingestion.dedup`."""

from foundry.domain.dedup.content import ChatDedupScope, content_digest, content_key, label_signature
from foundry.domain.dedup.lsh import optimal_params
from foundry.domain.dedup.near import NearDuplicateIndex, NearPairs
from foundry.domain.dedup.shingles import ShingleSets, shingle_sets

__all__ = [
    "ChatDedupScope",
    "NearDuplicateIndex",
    "NearPairs",
    "ShingleSets",
    "content_digest",
    "content_key",
    "label_signature",
    "optimal_params",
    "shingle_sets",
]
