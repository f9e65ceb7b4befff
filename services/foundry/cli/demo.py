"""`foundry demo`: the main job end to end on the embedded default.

Today: the stack comes up, all five services answer SERVING, an artifact is stored in the object
store and read back verified by its sha256, the bundled WNUT-17 corpus (its train, dev and test
files as the three splits) is ingested through the ingestion service and its statistics printed
with a plot of its label distribution, and the stack goes down again (unless it was already
running, or `--keep`). Each service's issue grows this into the full pipeline.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from foundry.cli import ingest as ingest_mod
from foundry.cli import stack as stack_mod
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.hashing import content_sha256
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings


def run(settings: Settings, console: Console, keep_stack: bool = False) -> None:
    started = time.perf_counter()
    already_up = all(h.status == "SERVING" for h in stack_mod.status(settings))
    console.rule("1. stack up")
    with console.status("starting the object store and the five services..."):
        state = stack_mod.up(settings)
    console.print(f"object store: {state.s3_endpoint}")
    try:
        _check_health(settings, console)
        _store_artifact(settings.model_copy(update={"s3_endpoint": state.s3_endpoint}), console)
        _ingest_wnut17(settings, console)
    finally:
        if not (keep_stack or already_up):
            console.rule("stack down")
            console.print(f"stopped: {', '.join(stack_mod.down(settings))}")
    console.print(f"[bold green]demo finished[/bold green] in {time.perf_counter() - started:.1f}s")


def _check_health(settings: Settings, console: Console) -> None:
    console.rule("2. health of every service (grpc.health.v1)")
    rows = stack_mod.status(settings)
    table = Table()
    for column in ("service", "address", "health"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.name, row.address, row.status)
    console.print(table)
    bad = [r.name for r in rows if r.status != "SERVING"]
    if bad:
        raise FailedPreconditionError(f"not SERVING: {', '.join(bad)}")


def _store_artifact(settings: Settings, console: Console) -> None:
    console.rule("3. an artifact stored and read back")
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    payload = os.urandom(3 * 1024 * 1024) + b"sft-foundry demo artifact"
    key = f"demo/artifact-{content_sha256(payload)[:16]}.bin"
    info = store.put_bytes(key, payload)
    back = store.get_bytes(key)  # verified against the recorded sha256
    if back != payload:
        raise FailedPreconditionError(f"{key} came back different")
    console.print(
        f"s3://{settings.s3_bucket}/{key}: {info.size_bytes:,} bytes, sha256 {(info.sha256 or '')[:16]}…, verified"
    )
    store.delete(key)


WNUT17 = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17"


def _ingest_wnut17(settings: Settings, console: Console) -> None:
    console.rule("4. ingest WNUT-17 (train, dev and test files → one version with three splits)")
    files = [
        ingest_mod.FileArg.parse(f"{WNUT17 / 'wnut17train.conll'}:train"),
        ingest_mod.FileArg.parse(f"{WNUT17 / 'emerging.dev.conll'}:validation"),
        ingest_mod.FileArg.parse(f"{WNUT17 / 'emerging.test.annotated'}:test"),
    ]
    response = ingest_mod.upload(
        settings,
        console,
        files,
        name="wnut17",
        task=ingest_mod.parse_task("ner"),
        fmt=ingest_mod.FORMAT_CONLL,
        recipe=ingest_mod.load_recipe(None, {"pii.enabled": True}),
    )
    ingest_mod.response_summary(console, response)
    plot = ingest_mod.show(
        console, response.dataset_version, settings.home_dir / "demo" / "wnut17_labels.png"
    )
    if plot:
        console.print(f"label distribution plot: {plot}")
