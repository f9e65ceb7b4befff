"""`foundry demo`: the main job end to end on the embedded default.

Today: the stack comes up, all five services answer SERVING, an artifact is stored in the object
store and read back verified by its sha256, and the stack goes down again (unless it was already
running, or `--keep`). Each service's issue grows this into the full pipeline.
"""

from __future__ import annotations

import os
import time

from rich.console import Console
from rich.table import Table

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
