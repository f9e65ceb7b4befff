"""Training data: label maps, tokenization with word alignment, batching, and the token cache.

- `labels`: `LabelMap` (O + B-/I- tags per entity type, or the sorted classes);
- `tokenizer`: `TokenizerInfo`, a normalized copy of the base model's fast tokenizer and its hash;
- `encode`: `encode_split`, examples → `EncodedSplit` (first sub-token carries the word label);
- `encoded`: `EncodedSplit`, the columnar encoded split, its `.npz` form and the way back to words;
- `batching`: length-grouped, seeded, DDP-sharded batch plans;
- `collate`: dynamic padding to torch tensors (imports torch; import it from its module);
- `cache`: `load_or_encode`, the tokenization cache in the object store.

Everything but `collate` needs only numpy and `tokenizers`.
"""

from foundry.training.data.batching import eval_batches, train_batches
from foundry.training.data.cache import cache_key, load_cached, load_or_encode
from foundry.training.data.encode import Overflow, encode_split
from foundry.training.data.encoded import EncodedSplit, EncodingStats
from foundry.training.data.labels import IGNORE_INDEX, LabelMap, label_map_for
from foundry.training.data.tokenizer import TokenizerInfo

__all__ = [
    "IGNORE_INDEX",
    "EncodedSplit",
    "EncodingStats",
    "LabelMap",
    "Overflow",
    "TokenizerInfo",
    "cache_key",
    "encode_split",
    "eval_batches",
    "label_map_for",
    "load_cached",
    "load_or_encode",
    "train_batches",
]
