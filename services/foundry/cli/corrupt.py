"""How the `ls` commands show what a listing could not read: each version whose manifest is
corrupt or missing, marked CORRUPT with the reason, under the table of the versions that are fine
(the List RPCs return those in their `corrupt` field)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from foundry.api.common.v1 import listing_pb2


def corrupt_table(entries: Sequence[listing_pb2.CorruptEntry]) -> Table:
    """One row per corrupt entry: name, version, CORRUPT, reason, message."""
    table = Table(title="corrupt (left out above; reading one answers DATA_LOSS)", title_style="red")
    for column in ("name", "version", "state", "reason", "message"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.name, e.version_id[:12], "[red]CORRUPT[/red]", e.reason, e.message)
    return table


def print_listing(console: Console, table: Table, corrupt: Sequence[listing_pb2.CorruptEntry]) -> None:
    """Print a listing's table, then its corrupt entries if there are any."""
    console.print(table)
    if corrupt:
        console.print(corrupt_table(corrupt))
