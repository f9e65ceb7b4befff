"""The CLI's one console, and `reports_errors`: every command's failure printed the same way
with exit code 1: a service's answer as `CODE: message`, a local mistake as `error: message`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from foundry.client.errors import call_status
from foundry.runtime.errors import FoundryError

P = ParamSpec("P")
R = TypeVar("R")

console = Console()


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: a domain error (local, or a service's status mapped back by
    `foundry.client`) is printed and the command exits 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except FoundryError as exc:
            status = call_status(exc)
            if status is None:
                console.print(f"[red]error:[/red] {exc}")
            else:
                console.print(f"[red]{status.code}[/red]: {status.details}")
            raise typer.Exit(1) from exc

    return run
