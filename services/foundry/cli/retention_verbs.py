"""`foundry datasets rm`, `foundry datasets erase-subject`, `foundry models rm` and `foundry gc`:
deletion and retention, each one call of the ingestion or training service."""

from __future__ import annotations

import typer

from foundry.api.common.v1 import retention_pb2
from foundry.api.ingestion.v1 import ingest_recipe_pb2
from foundry.api.ingestion.v1 import ingestion_service_pb2 as pb
from foundry.cli.console import console, reports_errors
from foundry.client.ingestion import IngestionClient
from foundry.client.training import TrainingClient
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.settings import load_settings

PII_TYPES = {
    name.removeprefix("PII_TYPE_").lower().replace("_", "-"): number
    for name, number in ingest_recipe_pb2.PiiType.items()
    if number != 0
}


def _versioned(ref: str) -> tuple[str, str]:
    name, _, version_id = ref.partition("@")
    if not name or not version_id:
        raise InvalidArgumentError(
            f"name the version as NAME@VERSION_ID, not {ref!r}",
            violations=[FieldViolation("ref", "expected NAME@VERSION_ID")],
        )
    return name, version_id


def _print_tombstone(what: str, tombstone: retention_pb2.Tombstone) -> None:
    forced = " (forced)" if tombstone.forced else ""
    console.print(
        f"deleted {what} {tombstone.name}@{tombstone.version_id}{forced}: "
        f"{tombstone.objects_deleted} objects, {tombstone.bytes_deleted} bytes"
    )
    for dependent in tombstone.dependents:
        console.print(f"  its lineage stays in: {dependent}")


@reports_errors
def datasets_rm(
    ref: str = typer.Argument(..., help="NAME@VERSION_ID"),
    force: bool = typer.Option(
        False, help="delete even though other versions, models or projects depend on it"
    ),
    reason: str = typer.Option("", help="why (kept in the tombstone)"),
) -> None:
    """Delete a dataset version (refused while something depends on it, unless --force)."""
    name, version_id = _versioned(ref)
    with IngestionClient(load_settings()) as client:
        _print_tombstone(
            "dataset version", client.delete_version(name, version_id, force=force, reason=reason)
        )


@reports_errors
def models_rm(
    ref: str = typer.Argument(..., help="NAME@VERSION_ID"),
    force: bool = typer.Option(False, help="delete even though model versions were trained from it"),
    reason: str = typer.Option("", help="why (kept in the tombstone)"),
) -> None:
    """Delete a model version (refused while model versions trained from it exist, unless --force)."""
    name, version_id = _versioned(ref)
    with TrainingClient(load_settings()) as client:
        _print_tombstone("model version", client.delete_model(name, version_id, force=force, reason=reason))


@reports_errors
def erase_subject(
    value: str = typer.Option("", help="the raw value (with --type); the server computes its pseudonym"),
    pii_type: str = typer.Option("", "--type", help=f"type of --value: {', '.join(PII_TYPES)}"),
    pseudonym: str = typer.Option("", help="the pseudonym as stored, e.g. <EMAIL_3f2a9c1d>"),
    reason: str = typer.Option("", help="why (kept in the erase log)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="only report what would be erased"),
) -> None:
    """Erase a data subject's examples from every dataset version (new versions without them)."""
    if pii_type and pii_type not in PII_TYPES:
        raise InvalidArgumentError(
            f"unknown --type {pii_type!r}",
            violations=[FieldViolation("type", f"one of {', '.join(PII_TYPES)}")],
        )
    request = pb.EraseSubjectRequest(
        pii_type=PII_TYPES.get(pii_type, ingest_recipe_pb2.PII_TYPE_UNSPECIFIED),
        value=value,
        pseudonym=pseudonym,
        reason=reason,
        dry_run=dry_run,
    )
    with IngestionClient(load_settings()) as client:
        log = client.erase_subject(request)
    verb = "would remove" if log.dry_run else "removed"
    console.print(
        f"erasure {log.erasure_id}: {verb} {log.examples_removed} examples from {len(log.versions)} "
        f"of {log.versions_scanned} versions"
    )
    for version in log.versions:
        console.print(
            f"  {version.old_version} -> {version.new_version or '(nothing left)'}: -{version.examples_removed}"
        )
    for model in log.models_trained_on_erased:
        console.print(f"  model trained on erased data (retrain it): {model}")
    for unreadable in log.unreadable_versions:
        console.print(f"  not scanned (unreadable): {unreadable}")


@reports_errors
def gc(
    apply: bool = typer.Option(False, "--apply", help="delete the orphans (default: only report them)"),
    grace_s: float = typer.Option(3600.0, help="objects younger than this are never collected"),
) -> None:
    """Find orphan shards and model files (no manifest names them); --apply deletes them."""
    with IngestionClient(load_settings()) as client:
        report = client.collect_garbage(pb.CollectGarbageRequest(apply=apply, grace_s=grace_s))
    verb = "deleted" if report.applied else "found (dry run; --apply deletes them)"
    console.print(f"orphans {verb}: {report.orphan_objects} objects, {report.orphan_bytes} bytes")
    for key in report.keys:
        console.print(f"  {key}")
    for name in report.skipped_datasets:
        console.print(f"  skipped dataset {name}: a manifest cannot be read")
