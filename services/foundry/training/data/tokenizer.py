"""The base model's fast tokenizer, as this package uses it.

`TokenizerInfo.of` accepts a Hugging Face fast tokenizer (anything with `backend_tokenizer`,
as `AutoTokenizer` returns) or a `tokenizers.Tokenizer`, and keeps a private copy of the Rust
tokenizer with padding and truncation switched off (a `tokenizer.json` may switch them on: the
MiniLM one pads everything to 128), so that encoding here decides both itself. Only
`tokenizers` is imported: the inference service, which has no torch or transformers, can encode
words the same way.

`sha256` identifies the tokenizer for the tokenization cache: the sha256 of the normalized
copy's `tokenizer.json` serialization (vocabulary, normalizer, pre-tokenizer, model, post
processor, added tokens).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from tokenizers import Tokenizer

_PAD_TOKENS = ("[PAD]", "<pad>", "<|pad|>", "<|endoftext|>")


@dataclass(frozen=True)
class TokenizerInfo:
    """A normalized copy of a fast tokenizer and what batching needs to know about it."""

    backend: Tokenizer
    sha256: str
    pad_token_id: int
    #: special tokens the post-processor adds to one sequence ([CLS] and [SEP]: 2)
    num_special_tokens: int
    #: whether the model takes `token_type_ids` (BERT does, RoBERTa does not)
    uses_token_type_ids: bool

    @classmethod
    def of(cls, tokenizer: Any) -> TokenizerInfo:
        """Wrap a Hugging Face fast tokenizer or a `tokenizers.Tokenizer`."""
        source = (
            tokenizer if isinstance(tokenizer, Tokenizer) else getattr(tokenizer, "backend_tokenizer", None)
        )
        if not isinstance(source, Tokenizer):
            raise TypeError(
                f"{type(tokenizer).__name__} is not a fast tokenizer (it has no backend_tokenizer)"
            )
        backend = Tokenizer.from_str(source.to_str())
        backend.no_padding()
        backend.no_truncation()
        serialized = backend.to_str()
        processor = backend.post_processor
        input_names = getattr(tokenizer, "model_input_names", None)
        return cls(
            backend=backend,
            sha256=hashlib.sha256(serialized.encode("utf-8")).hexdigest(),
            pad_token_id=_pad_token_id(tokenizer, source),
            num_special_tokens=processor.num_special_tokens_to_add(False) if processor is not None else 0,
            uses_token_type_ids="token_type_ids" in input_names if input_names is not None else True,
        )

    def truncating(self, max_length: int) -> Tokenizer:
        """A copy of the backend that truncates each sequence (special tokens included)."""
        copy = Tokenizer.from_str(self.backend.to_str())
        copy.enable_truncation(max_length)
        return copy


def _pad_token_id(tokenizer: Any, backend: Tokenizer) -> int:
    """The pad id: the HF tokenizer's, else the backend's padding config, else a known pad token."""
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if isinstance(pad_id, int):
        return pad_id
    padding = backend.padding
    if padding is not None:
        return int(padding["pad_id"])
    for token in _PAD_TOKENS:
        token_id = backend.token_to_id(token)
        if token_id is not None:
            return token_id
    return 0
