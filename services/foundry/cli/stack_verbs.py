"""`foundry stack up / down / status` and `foundry demo`."""

from __future__ import annotations

import typer
from rich.table import Table

from foundry.cli import demo as demo_mod
from foundry.cli import stack as stack_mod
from foundry.cli.console import console, reports_errors
from foundry.runtime.settings import load_settings

stack_app = typer.Typer(
    help="The local stack: an embedded S3 server and the five services.", no_args_is_help=True
)


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
@reports_errors
def stack_up(
    timeout_s: float = typer.Option(90.0, help="how long to wait for SERVING"),
    tls: bool = typer.Option(
        False, "--tls", help="make a local CA and certificates; serve every service with mutual TLS"
    ),
) -> None:
    """Start the S3 server (unless FOUNDRY_S3_ENDPOINT is set) and every service; wait until SERVING."""
    settings = load_settings()
    with console.status("starting the stack..."):
        state = stack_mod.up(settings, timeout_s=timeout_s, tls=tls)
    console.print(f"object store: {state.s3_endpoint} (bucket {settings.s3_bucket})")
    if state.tls is not None:
        console.print(
            f"mutual TLS: CA {state.tls.ca_file}; the CLI presents {state.tls.client_cert_file}. Other "
            f"clients: FOUNDRY_TLS_CA_FILE={state.tls.ca_file} FOUNDRY_TLS_CERT_FILE={state.tls.client_cert_file} "
            f"FOUNDRY_TLS_KEY_FILE={state.tls.client_key_file}"
        )
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


@reports_errors
def demo(
    keep: bool = typer.Option(False, help="leave the stack running afterwards"),
    full: bool = typer.Option(False, help="train on all of WNUT-17 for 3 epochs (slower)"),
    tls: bool = typer.Option(False, "--tls", help="start the stack with mutual TLS (as `stack up --tls`)"),
) -> None:
    """Run the main job end to end on the embedded default."""
    demo_mod.run(load_settings(), console, keep_stack=keep, full=full, tls=tls)
