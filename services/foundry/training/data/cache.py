"""The tokenization cache: encoded splits kept in the object store and reused across jobs.

A dataset version is immutable and so is a tokenizer, so an encoded split is a pure function of
(dataset version id, tokenizer sha256, max length, task and label map, overflow handling, the
encoding format): `cache_key` hashes exactly these, and the split is stored at

    cache/tokenized/<dataset version id>/<key>/<split>.npz

(`runtime.datasets.derived_prefix`: deleting or erasing a dataset version deletes its entries).

through `ObjectStore` (its sha256 recorded on write and verified on every read). A task with its
own encoding (chat: a template renders each conversation first) passes a `SplitEncoder`, whose
`fingerprint` joins the key fields. Two jobs that
encode the same split at the same time write the same bytes; either write wins.

A cached object that fails verification (its bytes no longer match their recorded sha256, or
they do not parse, or their header names another key) raises `CorruptionError` from
`load_cached`; `load_or_encode` then logs it, encodes again and overwrites the object, unless
told to fail (`rebuild_corrupt=False`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from foundry.runtime.datasets import DERIVED_PREFIX, derived_prefix, iter_examples
from foundry.runtime.errors import CorruptionError, FailedPreconditionError, NotFoundError
from foundry.runtime.examples import Example, Split
from foundry.runtime.hashing import canonical_json_sha256
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.training.data.encode import Overflow, encode_split
from foundry.training.data.encoded import EncodedSplit
from foundry.training.data.labels import LabelMap
from foundry.training.data.tokenizer import TokenizerInfo

log = logging.getLogger("foundry.training.cache")

CACHE_PREFIX = DERIVED_PREFIX
#: bump whenever `encode_split` would give different arrays for the same inputs
ENCODING_FORMAT = 1
NPZ_CONTENT_TYPE = "application/x-npz"


class SplitEncoder(Protocol):
    """An encoding of its own for a task (chat): what identifies it, and the encoding itself."""

    @property
    def fingerprint(self) -> dict[str, Any]: ...

    def encode(self, examples: Sequence[Example], max_length: int) -> EncodedSplit: ...


def cache_key(
    dataset_version_id: str,
    tokenizer: TokenizerInfo,
    max_length: int,
    label_map: LabelMap,
    overflow: Overflow,
) -> str:
    """The hex sha256 naming an encoded version (all of its splits)."""
    return canonical_json_sha256(_key_fields(dataset_version_id, tokenizer, max_length, label_map, overflow))


def _key_fields(
    dataset_version_id: str,
    tokenizer: TokenizerInfo,
    max_length: int,
    label_map: LabelMap,
    overflow: Overflow,
) -> dict[str, Any]:
    return {
        "format": ENCODING_FORMAT,
        "dataset_version_id": dataset_version_id,
        "tokenizer_sha256": tokenizer.sha256,
        "max_length": max_length,
        "label_map": label_map.to_dict(),
        "overflow": overflow.value,
    }


def cache_object_key(dataset_version_id: str, key: str, split: Split) -> str:
    return f"{derived_prefix(dataset_version_id)}{key}/{split.value}.npz"


def load_cached(store: ObjectStore, dataset_version_id: str, key: str, split: Split) -> EncodedSplit | None:
    """The cached split, None if there is none; `CorruptionError` if it fails verification."""
    object_key = cache_object_key(dataset_version_id, key, split)
    try:
        data = store.get_bytes(object_key)
    except NotFoundError:
        return None
    encoded, meta = EncodedSplit.from_npz(data, source=f"cache object {object_key!r}")
    if meta.get("key") != key or meta.get("split") != split.value:
        raise CorruptionError(
            f"cache object {object_key!r} holds another encoding ({meta.get('key')}/{meta.get('split')})",
            reason="CACHE_KEY_MISMATCH",
            metadata={"key": object_key},
        )
    return encoded


def load_or_encode(
    store: ObjectStore,
    manifest: DatasetManifest,
    split: Split,
    tokenizer: TokenizerInfo | Any,
    max_length: int,
    label_map: LabelMap,
    *,
    overflow: Overflow = Overflow.WINDOW,
    rebuild_corrupt: bool = True,
    encoder: SplitEncoder | None = None,
    store_miss: bool = True,
) -> tuple[EncodedSplit, bool]:
    """The encoded `split` of a dataset version, from the cache when it is there (hit True),
    else encoded from the version's shards and stored for the next job (hit False; with
    `store_miss=False` it is not stored: a worker rank other than 0 writes nothing).

    `tokenizer` is a `TokenizerInfo` or a fast tokenizer to wrap in one."""
    info = tokenizer if isinstance(tokenizer, TokenizerInfo) else TokenizerInfo.of(tokenizer)
    if manifest.task is not label_map.task:
        raise FailedPreconditionError(
            f"dataset version {manifest.ref} is a {manifest.task.value} dataset, not {label_map.task.value}",
            reason="DATASET_TASK_MISMATCH",
        )
    fields = _key_fields(manifest.version_id, info, max_length, label_map, overflow)
    if encoder is not None:
        fields.update(encoder.fingerprint)
    key = canonical_json_sha256(fields)
    try:
        cached = load_cached(store, manifest.version_id, key, split)
    except CorruptionError as exc:
        if not rebuild_corrupt:
            raise
        log.warning("tokenization cache object is corrupt; encoding again: %s", exc)
        cached = None
    if cached is not None:
        return cached, True
    examples = list(iter_examples(store, manifest, splits=[split]))
    if encoder is not None:
        encoded = encoder.encode(examples, max_length)
    else:
        encoded = encode_split(examples, info, label_map, max_length, overflow=overflow)
    if store_miss:
        meta = {"key": key, "split": split.value, "dataset": str(manifest.ref), **fields}
        store.put_bytes(
            cache_object_key(manifest.version_id, key, split),
            encoded.to_npz(meta),
            content_type=NPZ_CONTENT_TYPE,
        )
    return encoded, False
