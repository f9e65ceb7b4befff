"""Dataset shard IO that every service uses: write a version, read it back verified.

Writing (`write_dataset_version`) streams examples into Parquet shards of `shard_rows` rows,
uploads each under its content address (skipped when that shard is already stored with that
sha256), derives the version id from the content (see `foundry.runtime.manifest`) and writes the
manifest LAST. A version is visible only once its manifest exists, so a write that fails midway
(the examples iterator raises, the store goes away) leaves no version behind; the shards it had
already uploaded stay as orphans, harmless and reused by a later write of the same rows (a
garbage collector may remove shards no manifest names). Writing a version that already exists
writes nothing and returns the stored manifest unchanged.

Reading verifies everything: the manifest's bytes against the sha256 the store recorded, its
version id against its content, and each shard's bytes against the sha256 in the manifest (which
must also be the one the store recorded), its schema and its row count.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import islice
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from foundry.runtime.errors import CorruptionError, FailedPreconditionError, NotFoundError
from foundry.runtime.examples import (
    EXAMPLE_SCHEMA,
    SCHEMA_VERSION,
    Example,
    Split,
    Task,
    batch_to_examples,
    examples_to_batch,
)
from foundry.runtime.hashing import canonical_json_sha256, content_sha256
from foundry.runtime.listing import CorruptEntry, read_listed
from foundry.runtime.manifest import (
    DATASET_NAME_PATTERN,
    DATASETS_PREFIX,
    VERSION_ID_PATTERN,
    DatasetManifest,
    ShardInfo,
    VersionRef,
    compute_version_id,
    manifest_key,
    shard_key,
    validate_dataset_name,
    validate_version_id,
    versions_prefix,
)
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.shards import PARQUET_CONTENT_TYPE, encode_table, iter_shard_batches

DEFAULT_SHARD_ROWS = 50_000
DEFAULT_BATCH_ROWS = 4_096


def write_dataset_version(
    store: ObjectStore,
    name: str,
    task: Task,
    examples: Iterable[Example],
    *,
    label_set: Sequence[str] = (),
    parents: Sequence[VersionRef] = (),
    recipe: Mapping[str, Any] | None = None,
    statistics: Mapping[str, Any] | None = None,
    normalization: Mapping[str, bool] | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
) -> DatasetManifest:
    """Write `examples` as a new version of dataset `name` and return its manifest.

    `recipe` (JSON-able) says how the rows were made; its canonical hash joins the version id.
    `statistics` (JSON-able) are stored as given; `normalization` records how the text was
    normalized (None: not recorded). If a version with the same content already
    exists, nothing is written and its stored manifest is returned (with its own statistics).
    """
    batch_rows = min(DEFAULT_BATCH_ROWS, max(shard_rows, 1))
    batches = (examples_to_batch(chunk) for chunk in _chunks(examples, batch_rows))
    return write_dataset_version_batches(
        store,
        name,
        task,
        batches,
        label_set=label_set,
        parents=parents,
        recipe=recipe,
        statistics=statistics,
        normalization=normalization,
        shard_rows=shard_rows,
    )


def _chunks(items: Iterable[Example], size: int) -> Iterator[list[Example]]:
    rows = iter(items)
    while chunk := list(islice(rows, size)):
        yield chunk


def write_dataset_version_batches(
    store: ObjectStore,
    name: str,
    task: Task,
    batches: Iterable[pa.RecordBatch],
    *,
    label_set: Sequence[str] = (),
    parents: Sequence[VersionRef] = (),
    recipe: Mapping[str, Any] | None = None,
    statistics: Mapping[str, Any] | None = None,
    normalization: Mapping[str, bool] | None = None,
    shard_rows: int = DEFAULT_SHARD_ROWS,
) -> DatasetManifest:
    """`write_dataset_version` for rows that are already Arrow record batches of `EXAMPLE_SCHEMA`
    (no Python objects per row). Shards hold `shard_rows` rows whatever the batch sizes, so the
    same rows give the same shards and version id however they were batched."""
    validate_dataset_name(name)
    if shard_rows < 1:
        raise ValueError("shard_rows must be at least 1")
    recipe_dict = dict(recipe or {})
    recipe_hash = canonical_json_sha256(recipe_dict)
    split_counts = dict.fromkeys((split.value for split in Split), 0)
    shards: list[ShardInfo] = []
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    for batch in batches:
        for value in batch.column("split").to_pylist():
            split_counts[value] += 1
        pending.append(batch)
        pending_rows += batch.num_rows
        while pending_rows >= shard_rows:
            table = pa.Table.from_batches(pending, schema=EXAMPLE_SCHEMA)
            shards.append(_store_table(store, name, table.slice(0, shard_rows)))
            rest = table.slice(shard_rows)
            pending, pending_rows = rest.combine_chunks().to_batches(), rest.num_rows
    if pending_rows:
        shards.append(_store_table(store, name, pa.Table.from_batches(pending, schema=EXAMPLE_SCHEMA)))
    version_id = compute_version_id(
        schema_version=SCHEMA_VERSION,
        task=task,
        label_set=list(label_set),
        shard_sha256s=[shard.sha256 for shard in shards],
        parents=list(parents),
        recipe_hash=recipe_hash,
    )
    key = manifest_key(name, version_id)
    if store.exists(key):
        return get_manifest(store, name, version_id)
    manifest = DatasetManifest(
        name=name,
        version_id=version_id,
        task=task,
        label_set=list(label_set),
        schema_version=SCHEMA_VERSION,
        shards=shards,
        split_counts=split_counts,
        statistics=dict(statistics or {}),
        parents=list(parents),
        recipe=recipe_dict,
        recipe_hash=recipe_hash,
        normalization=None if normalization is None else dict(normalization),
    )
    store.put_bytes(key, manifest.to_json().encode("utf-8"), content_type="application/json")
    return manifest


def _store_table(store: ObjectStore, name: str, table: pa.Table) -> ShardInfo:
    """Encode and upload one shard unless it is already stored with the same sha256."""
    data = encode_table(table)
    sha256 = content_sha256(data)
    key = shard_key(name, sha256)
    try:
        stored = store.stat(key).sha256 == sha256
    except NotFoundError:
        stored = False
    if not stored:
        store.put_bytes(key, data, content_type=PARQUET_CONTENT_TYPE)
    return ShardInfo(key=key, sha256=sha256, rows=table.num_rows, size_bytes=len(data))


def get_manifest(store: ObjectStore, name: str, version_id: str) -> DatasetManifest:
    """The verified manifest of `name@version_id` (NotFoundError if there is no such version)."""
    key = manifest_key(name, validate_version_id(version_id))
    try:
        data = store.get_bytes(key)
    except NotFoundError as exc:
        raise NotFoundError(
            f"dataset version {name}@{version_id} not found",
            reason="DATASET_VERSION_NOT_FOUND",
            metadata={"name": name, "version_id": version_id},
        ) from exc
    try:
        manifest = DatasetManifest.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptionError(f"manifest {key!r} is malformed: {exc}", metadata={"key": key}) from exc
    content_id = manifest.content_version_id()
    if manifest.name != name or manifest.version_id != version_id or content_id != version_id:
        raise CorruptionError(
            f"manifest {key!r} does not match its address: it names {manifest.name}@{manifest.version_id} "
            f"and its content hashes to version id {content_id}",
            reason="MANIFEST_MISMATCH",
            metadata={"key": key},
        )
    return manifest


def list_datasets(store: ObjectStore) -> list[str]:
    """The names of the datasets that have at least one visible version, sorted."""
    names = [prefix[len(DATASETS_PREFIX) : -1] for prefix in store.list_prefixes(DATASETS_PREFIX)]
    return sorted(
        name
        for name in names
        if DATASET_NAME_PATTERN.fullmatch(name) and next(store.list_prefixes(versions_prefix(name)), None)
    )


#: objects derived from a dataset version's rows (the training tokenization cache) live under
#: `derived_prefix(version_id)`, so that deleting or erasing the version removes them too
DERIVED_PREFIX = "cache/tokenized/"


def derived_prefix(version_id: str) -> str:
    """Where the objects derived from dataset version `version_id`'s rows are kept."""
    return f"{DERIVED_PREFIX}{version_id}/"


def list_versions(
    store: ObjectStore, name: str, *, corrupt: list[CorruptEntry] | None = None
) -> list[DatasetManifest]:
    """The verified manifests of every version of `name`, newest first (empty if none).

    A version whose manifest is malformed, fails its checks or is missing raises
    `CorruptionError`, or, given a `corrupt` list, is appended to it and left out
    (`foundry.runtime.listing`). Folders not named like a version id are not versions."""
    prefix = versions_prefix(name)
    version_ids = [p[len(prefix) : -1] for p in store.list_prefixes(prefix)]
    manifests: list[DatasetManifest] = []
    for version_id in version_ids:
        if not VERSION_ID_PATTERN.fullmatch(version_id) or _emptied(store, name, version_id):
            continue
        manifest = read_listed(
            partial(get_manifest, store, name, version_id),
            kind="dataset_version",
            name=name,
            version_id=version_id,
            key=manifest_key(name, version_id),
            corrupt=corrupt,
            missing_is_corrupt=True,
        )
        if manifest is not None:
            manifests.append(manifest)
    return sorted(manifests, key=lambda m: (m.created_at, m.version_id), reverse=True)


def _emptied(store: ObjectStore, name: str, version_id: str) -> bool:
    """Whether a listed version folder holds no object: a deleted version's folder may still be
    listed by the store (S3 servers backed by a file system keep empty folders). A folder that
    holds objects but no manifest is a corrupt version, not a deleted one."""
    return next(store.list(f"{versions_prefix(name)}{version_id}/"), None) is None


def resolve_version(store: ObjectStore, name: str, version_id: str = "") -> DatasetManifest:
    """`name@version_id`, or the newest version of `name` when no id is given; NOT_FOUND
    (reason DATASET_NOT_FOUND) when the dataset has no version."""
    validate_dataset_name(name)
    if version_id:
        return get_manifest(store, name, version_id)
    versions = list_versions(store, name)
    if not versions:
        raise NotFoundError(
            f"dataset {name!r} has no versions", reason="DATASET_NOT_FOUND", metadata={"name": name}
        )
    return versions[0]


def iter_batches(
    store: ObjectStore,
    manifest: DatasetManifest,
    *,
    splits: Iterable[Split] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Any]:
    """The rows of a version as `pa.RecordBatch`es of at most `batch_rows`, shard by shard.

    `splits` keeps only the rows of those splits (empty batches are skipped).
    """
    if manifest.schema_version != SCHEMA_VERSION:
        raise FailedPreconditionError(
            f"dataset version {manifest.ref} has schema version {manifest.schema_version}; "
            f"this code reads version {SCHEMA_VERSION}",
            reason="UNSUPPORTED_SCHEMA_VERSION",
        )
    keep = pa.array([Split(s).value for s in splits], pa.string()) if splits is not None else None
    for shard in manifest.shards:
        data = store.get_bytes(shard.key, expected_sha256=shard.sha256)
        for batch in iter_shard_batches(shard.key, data, expected_rows=shard.rows, batch_rows=batch_rows):
            selected = (
                batch if keep is None else batch.filter(pc.is_in(batch.column("split"), value_set=keep))
            )
            if selected.num_rows:
                yield selected


def iter_examples(
    store: ObjectStore,
    manifest: DatasetManifest,
    *,
    splits: Iterable[Split] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[Example]:
    """The examples of a version, in order, verified (see `iter_batches`)."""
    for batch in iter_batches(store, manifest, splits=splits, batch_rows=batch_rows):
        yield from batch_to_examples(batch)
