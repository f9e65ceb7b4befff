"""Token counts for dataset statistics: lengths in tokens of a base model's tokenizer.

`StatisticsOptions.tokenizer` names an imported base model (`foundry.domain.base_models`);
`load_token_counter(store, name)` reads that model's `tokenizer.json` from the object store
(verified by its sha256) into a `tokenizers.Tokenizer`, so the chat statistics (prompt and
response lengths) are counted in the tokens the model will see. Only `tokenizers` is needed; an
unknown name is NOT_FOUND naming `recipe.statistics.tokenizer`, before any row is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer

from foundry.domain.base_models import get_base_model
from foundry.runtime.errors import FailedPreconditionError, FieldViolation, NotFoundError
from foundry.runtime.objectstore import ObjectStore

FIELD = "recipe.statistics.tokenizer"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class TokenCounter:
    """Counts tokens (no special tokens added) with a named tokenizer."""

    name: str
    tokenizer: Tokenizer

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text."""
        if not texts:
            return []
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def load_token_counter(store: ObjectStore, name: str) -> TokenCounter:
    """The counter of base model `name`'s tokenizer (see the module docstring)."""
    try:
        manifest = get_base_model(store, name)
    except NotFoundError as exc:
        raise NotFoundError(
            f"no base model named {name!r} to count tokens with",
            reason=exc.reason,
            violations=[FieldViolation(FIELD, "no such base model")],
        ) from exc
    entry = next((f for f in manifest.files if f.path == TOKENIZER_FILE), None)
    if entry is None:
        raise FailedPreconditionError(
            f"base model {name!r} has no {TOKENIZER_FILE} (a fast tokenizer is needed to count tokens)",
            reason="FAST_TOKENIZER_REQUIRED",
            violations=[FieldViolation(FIELD, f"the base model has no {TOKENIZER_FILE}")],
        )
    data = store.get_bytes(entry.key, expected_sha256=entry.sha256)
    tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return TokenCounter(manifest.name, tokenizer)


__all__ = ["TokenCounter", "load_token_counter"]
