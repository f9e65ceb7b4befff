"""Listings that survive corruption: a manifest that fails its checks is reported, not fatal.

Every listing of stored manifests (dataset versions, model versions, base models) reads each
manifest through `read_listed`. Given no `corrupt` list it is strict: a bad manifest raises its
`CorruptionError` (DATA_LOSS), which is what reading that one version directly gives, and what
"the latest version" must give, since a manifest that cannot be read cannot say how new it is.
Given a list, it appends a `CorruptEntry` (what, where, the error's reason, a bounded message)
and the listing goes on with the rest; the List RPCs return those entries beside the items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from foundry.runtime.errors import CorruptionError, NotFoundError

T = TypeVar("T")

#: a corrupt entry's message is cut to this many characters
MAX_MESSAGE_CHARS = 500
#: the reason given to a version folder whose manifest is missing
MANIFEST_MISSING = "MANIFEST_MISSING"


@dataclass(frozen=True, slots=True)
class CorruptEntry:
    """One listed thing whose manifest could not be read or failed its checks."""

    #: what it is: "dataset_version", "model_version" or "base_model"
    kind: str
    name: str
    version_id: str
    #: the manifest's object key
    key: str
    #: the error's machine-readable reason (e.g. MANIFEST_MISMATCH, MANIFEST_MISSING, DATA_LOSS)
    reason: str
    message: str


def read_listed(
    read: Callable[[], T],
    *,
    kind: str,
    name: str,
    version_id: str,
    key: str,
    corrupt: list[CorruptEntry] | None,
    missing_is_corrupt: bool = False,
) -> T | None:
    """`read()`; on a `CorruptionError` (or, with `missing_is_corrupt`, a `NotFoundError`) raise
    it if `corrupt` is None, else append a `CorruptEntry` to `corrupt` and return None."""
    if corrupt is None:
        return read()
    try:
        return read()
    except CorruptionError as exc:
        reason, message = exc.reason, exc.message
    except NotFoundError as exc:
        if not missing_is_corrupt:
            raise
        reason, message = MANIFEST_MISSING, f"{key!r} is missing: {exc.message}"
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    corrupt.append(CorruptEntry(kind, name, version_id, key, reason, message))
    return None


__all__ = ["MANIFEST_MISSING", "CorruptEntry", "read_listed"]
