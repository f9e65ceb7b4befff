"""`foundry auth token`: mint a bearer token of a role and print its tokens-file entry (the hash,
never the token, is what a server stores; `runtime.tokens`)."""

from __future__ import annotations

from pathlib import Path

import typer

from foundry.cli.console import reports_errors
from foundry.runtime.roles import Role
from foundry.runtime.tokens import TokenEntry, TokensFileError, add_to_tokens_file, hash_token, mint_token

auth_app = typer.Typer(help="Bearer tokens and their roles.", no_args_is_help=True)


@auth_app.command("token")
@reports_errors
def token(
    role: Role = typer.Option(..., help="reader, writer, service or admin"),
    name: str = typer.Option(..., help="a name for logs and errors (who or what holds the token)"),
    add_to: Path | None = typer.Option(
        None, "--add-to", help="append the entry to this tokens file (FOUNDRY_AUTH_TOKENS_FILE)"
    ),
) -> None:
    """Mint a token; print it (once: it is stored nowhere) and its tokens-file entry."""
    secret = mint_token()
    entry = TokenEntry(name=name, role=role, sha256=hash_token(secret))
    if add_to is not None:
        try:
            add_to_tokens_file(add_to, entry)
        except TokensFileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo(f"token: {secret}")
    typer.echo(f"entry: {entry.model_dump_json()}")
    if add_to is not None:
        typer.echo(f"added to {add_to}")
