"""Erasing a data subject: every example that holds their pseudonym (or raw value) goes.

The subject is named by the pseudonym the PII step wrote (`<EMAIL_3f2a9c1d>`, brackets
optional), or by the raw value and its type, from which the pseudonym is computed with this
server's secret exactly as the PII step computes it (same detector normalization, same HMAC).
Given a raw value, rows that hold the value itself (data ingested without PII masking) match
too.

Every readable version of every dataset is scanned. Each version with a matching row is replaced:
a new version without those rows (parent: the old version; recipe: producer "erasure" and the
erasure id, never the subject) is written, then the old version is deleted, forced, with a
tombstone whose reason names the erasure. A version whose every row matches is only deleted.
The erase log `erasures/<erasure_id>.json` records when, by whom, why, the PII type, which
versions were replaced by which and how many rows went, and the model versions that were trained
on an erased version (they are not deleted: retrain them). It never holds the raw value nor the
pseudonym.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from foundry.domain.retention.deletion import delete_dataset_version
from foundry.domain.retention.lineage import models_trained_on
from foundry.domain.retention.tombstones import bounded
from foundry.ingestion.options import PiiMode, PiiType
from foundry.ingestion.pii.detector import PiiDetector, PiiHit
from foundry.ingestion.pii.placeholders import Placeholders
from foundry.runtime import datasets
from foundry.runtime.errors import CorruptionError, FieldViolation, InvalidArgumentError, NotFoundError
from foundry.runtime.examples import Example
from foundry.runtime.manifest import DatasetManifest, utc_now_iso
from foundry.runtime.objectstore import ObjectStore

ERASURES_PREFIX = "erasures/"
PSEUDONYM_PATTERN = re.compile(r"^<?([A-Z][A-Z_]*_[0-9a-f]{4,64})>?$")
MAX_VALUE_CHARS = 1024


@dataclass(frozen=True)
class Subject:
    """What marks a subject's rows: the strings any of which a matching row contains."""

    needles: tuple[str, ...]
    pii_type: str

    def matches(self, example: Example) -> bool:
        return any(needle in text for text in _texts(example) for needle in self.needles)


def _texts(example: Example) -> Iterator[str]:
    if example.text:
        yield example.text
    if example.tokens:
        yield " ".join(example.tokens)
        yield from example.tokens
    for message in example.messages or ():
        yield message.content
    yield from example.meta.values()


def subject_from(secret: bytes, pii_type: PiiType | None, value: str, pseudonym: str) -> Subject:
    """The subject named by exactly one of `value` (with `pii_type`) and `pseudonym`."""
    if bool(value) == bool(pseudonym):
        raise InvalidArgumentError(
            "name the subject by exactly one of value and pseudonym",
            violations=[FieldViolation("value", "give value (with pii_type) or pseudonym, not both")],
        )
    if pseudonym:
        match = PSEUDONYM_PATTERN.fullmatch(pseudonym.strip())
        if match is None:
            raise InvalidArgumentError(
                "pseudonym must look like <EMAIL_3f2a9c1d>",
                violations=[FieldViolation("pseudonym", "expected <TYPE_hex> as the PII step writes it")],
            )
        body = match.group(1)
        kind = body.rsplit("_", 1)[0]
        return Subject((f"<{body}>",), kind.lower())
    if pii_type is None:
        raise InvalidArgumentError(
            "a raw value needs its pii_type", violations=[FieldViolation("pii_type", "required with value")]
        )
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidArgumentError(
            f"value is longer than {MAX_VALUE_CHARS} characters",
            violations=[FieldViolation("value", "too long")],
        )
    hit = _hit(pii_type, value.strip())
    pseudonym_of = Placeholders(PiiMode.PSEUDONYMIZE, secret)(hit)
    return Subject((pseudonym_of, value.strip()), pii_type.value)


def _hit(pii_type: PiiType, value: str) -> PiiHit:
    """The detector's hit for the whole value (its normalized form), else the value as it is."""
    for hit in PiiDetector([pii_type]).find(value):
        if hit.kind is pii_type:
            return hit
    return PiiHit(0, len(value), pii_type, value)


@dataclass
class ErasedVersion:
    old: str
    new: str
    examples_removed: int


@dataclass
class ErasureLog:
    erasure_id: str
    pii_type: str
    requested_by: str
    reason: str
    dry_run: bool
    versions: list[ErasedVersion] = field(default_factory=list)
    examples_removed: int = 0
    versions_scanned: int = 0
    unreadable_versions: list[str] = field(default_factory=list)
    models_trained_on_erased: list[str] = field(default_factory=list)
    erased_at: str = field(default_factory=utc_now_iso)


def erase_subject(
    store: ObjectStore, subject: Subject, *, requested_by: str, reason: str, dry_run: bool = False
) -> ErasureLog:
    """Replace every version holding `subject`'s rows (see the module's docstring)."""
    log = ErasureLog(
        erasure_id=uuid.uuid4().hex,
        pii_type=subject.pii_type,
        requested_by=bounded(requested_by),
        reason=bounded(reason),
        dry_run=dry_run,
    )
    for manifest in _all_versions(store, log):
        log.versions_scanned += 1
        kept: list[Example] = []
        removed = 0
        for example in datasets.iter_examples(store, manifest):
            if subject.matches(example):
                removed += 1
            else:
                kept.append(example)
        if not removed:
            continue
        log.examples_removed += removed
        log.models_trained_on_erased.extend(str(m) for m in models_trained_on(store, manifest.ref))
        new = "" if dry_run or not kept else str(_rewrite(store, manifest, kept, log.erasure_id).ref)
        log.versions.append(ErasedVersion(str(manifest.ref), new, removed))
        if not dry_run:
            delete_dataset_version(
                store,
                manifest.name,
                manifest.version_id,
                force=True,
                deleted_by=requested_by,
                reason=f"erasure {log.erasure_id}",
            )
    if not dry_run:
        data = json.dumps(asdict(log), indent=2, sort_keys=True, ensure_ascii=False).encode("utf-8")
        store.put_bytes(f"{ERASURES_PREFIX}{log.erasure_id}.json", data, content_type="application/json")
    return log


def _all_versions(store: ObjectStore, log: ErasureLog) -> list[DatasetManifest]:
    """Every readable version, listed before anything is written; unreadable ones are named."""
    found: list[DatasetManifest] = []
    for name in datasets.list_datasets(store):
        prefix = f"datasets/{name}/versions/"
        for child in store.list_prefixes(prefix):
            version_id = child[len(prefix) : -1]
            try:
                found.append(datasets.get_manifest(store, name, version_id))
            except NotFoundError:
                continue  # a deleted version's empty folder
            except (CorruptionError, InvalidArgumentError):
                log.unreadable_versions.append(f"{name}@{version_id}")
    return found


def _rewrite(
    store: ObjectStore, old: DatasetManifest, kept: list[Example], erasure_id: str
) -> DatasetManifest:
    return datasets.write_dataset_version(
        store,
        old.name,
        old.task,
        kept,
        label_set=old.label_set,
        parents=[old.ref],
        recipe={"producer": "erasure", "erasure_id": erasure_id, "parent": str(old.ref)},
        statistics={"rows": len(kept)},
        normalization=old.normalization,
    )
