"""What a hit is replaced with: a plain mask (`<EMAIL>`) or a consistent pseudonym (`<EMAIL_3f2a9c1d>`).

A pseudonym is the type's mask name and the first `digest_hex_chars` hex characters of
HMAC-SHA256(secret, type value + NUL + normalized value), e.g. `"email\\x00john@example.com"`.
The same value under the same secret always gets the same placeholder (within a dataset and
across datasets and runs), different secrets give unrelated placeholders, and without the
secret a placeholder cannot be tested against a guessed value. Normalization (see the
detectors) makes spellings of one value agree: `(415) 555-2671` and `+1 415 555 2671` share one.

Eight hex characters (32 bits) keep placeholders short; two distinct values of one type
collide with probability about n² / 2³³ for n distinct values (one expected collision at 93k
values), which merges two pseudonyms and never leaks a value. Ask for more characters where
that matters.

The secret is held in an HMAC object only: it is never stored as an attribute, printed by
`repr`, or logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from foundry.ingestion.options import PiiMode, PiiType
from foundry.ingestion.pii.detector import PiiHit
from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError

DEFAULT_DIGEST_HEX_CHARS = 8
_MAX_CACHED = 1 << 16


def mask(kind: PiiType) -> str:
    """The plain mask of a type: `<EMAIL>`, `<PAYMENT_CARD>`, ..."""
    return f"<{kind.name}>"


class Placeholders:
    """Makes the placeholder of each hit for one mode (and, to pseudonymize, one secret)."""

    def __init__(
        self,
        mode: PiiMode,
        secret: bytes | str | None = None,
        *,
        digest_hex_chars: int = DEFAULT_DIGEST_HEX_CHARS,
    ) -> None:
        if not 4 <= digest_hex_chars <= 64:
            raise InvalidArgumentError(
                f"digest_hex_chars must be within [4, 64], not {digest_hex_chars}",
                reason="INVALID_PII_OPTIONS",
            )
        self.mode = mode
        self.digest_hex_chars = digest_hex_chars
        self._masks = {kind: mask(kind) for kind in PiiType}
        self._keyed: hmac.HMAC | None = None
        self._cache: dict[tuple[PiiType, str], str] = {}
        if mode is PiiMode.PSEUDONYMIZE:
            key = secret.encode("utf-8") if isinstance(secret, str) else secret
            if not key:
                raise FailedPreconditionError(
                    "PII pseudonymization needs a secret: none is configured on this server",
                    reason="PII_SECRET_MISSING",
                )
            self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return f"Placeholders(mode={self.mode.value!r}, digest_hex_chars={self.digest_hex_chars})"

    def __call__(self, hit: PiiHit) -> str:
        """The placeholder that replaces `hit`."""
        if self._keyed is None:
            return self._masks[hit.kind]
        key = (hit.kind, hit.value)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        keyed = self._keyed.copy()
        keyed.update(f"{hit.kind.value}\x00{hit.value}".encode())
        placeholder = f"<{hit.kind.name}_{keyed.hexdigest()[: self.digest_hex_chars]}>"
        if len(self._cache) >= _MAX_CACHED:
            self._cache.clear()
        self._cache[key] = placeholder
        return placeholder


def replace_hits(text: str, hits: Sequence[PiiHit], placeholders: Placeholders, offset: int = 0) -> str:
    """`text` with every hit (non-overlapping, in order; offsets minus `offset`) replaced."""
    pieces: list[str] = []
    position = 0
    for hit in hits:
        start, end = hit.start - offset, hit.end - offset
        pieces.append(text[position:start])
        pieces.append(placeholders(hit))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
