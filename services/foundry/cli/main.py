"""`foundry`: the local stack, the demo, and one verb per RPC family."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from foundry.cli import demo as demo_mod
from foundry.cli import stack as stack_mod
from foundry.runtime.errors import FoundryError
from foundry.runtime.settings import load_settings

app = typer.Typer(help="SFT Foundry: data → augment → label → train → export → serve.", no_args_is_help=True)
stack_app = typer.Typer(
    help="The local stack: an embedded S3 server and the five services.", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")
console = Console()


def _fail(error: FoundryError) -> None:
    console.print(f"[red]error:[/red] {error}")
    raise typer.Exit(1)


def _health_table() -> bool:
    rows = stack_mod.status(load_settings())
    table = Table(title="SFT Foundry services")
    for column in ("service", "address", "pid", "health"):
        table.add_column(column)
    for row in rows:
        colour = "green" if row.status == "SERVING" else "red"
        table.add_row(row.name, row.address, str(row.pid or "-"), f"[{colour}]{row.status}[/{colour}]")
    console.print(table)
    return all(r.status == "SERVING" for r in rows)


@stack_app.command("up")
def stack_up(timeout_s: float = typer.Option(90.0, help="how long to wait for SERVING")) -> None:
    """Start the S3 server (unless FOUNDRY_S3_ENDPOINT is set) and every service; wait until SERVING."""
    settings = load_settings()
    with console.status("starting the stack..."):
        try:
            state = stack_mod.up(settings, timeout_s=timeout_s)
        except FoundryError as exc:
            _fail(exc)
    console.print(f"object store: {state.s3_endpoint} (bucket {settings.s3_bucket})")
    _health_table()


@stack_app.command("down")
def stack_down() -> None:
    """Drain and stop every service, then the embedded S3 server."""
    stopped = stack_mod.down(load_settings())
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Each service's health, as a plain gRPC health client sees it."""
    if not _health_table():
        raise typer.Exit(1)


@app.command()
def demo(keep: bool = typer.Option(False, help="leave the stack running afterwards")) -> None:
    """Run the main job end to end on the embedded default."""
    try:
        demo_mod.run(load_settings(), console, keep_stack=keep)
    except FoundryError as exc:
        _fail(exc)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
