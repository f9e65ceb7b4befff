"""Tokens and their roles (`runtime.tokens`, `foundry auth token`): the tokens file holds hashes
only, tokens are checked against every entry, FOUNDRY_AUTH_TOKEN stays an admin token."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from foundry.cli.main import app
from foundry.runtime.roles import Role
from foundry.runtime.settings import Settings
from foundry.runtime.tokens import (
    TokenEntry,
    TokensFileError,
    TokenTable,
    auth_enabled,
    hash_token,
    load_tokens_file,
    mint_token,
)


def write(path: Path, entries: list[dict[str, str]]) -> Path:
    path.write_text(json.dumps({"tokens": entries}))
    return path


def test_cli_mints_a_token_and_the_file_holds_only_its_hash(tmp_path: Path) -> None:
    tokens_file = tmp_path / "tokens.json"
    minted = {}
    for role, name in (("reader", "ci"), ("writer", "etl")):
        result = CliRunner().invoke(
            app, ["auth", "token", "--role", role, "--name", name, "--add-to", str(tokens_file)]
        )
        assert result.exit_code == 0, result.output
        match = re.search(r"^token: (\S+)$", result.output, re.M)
        assert match
        minted[name] = match.group(1)
        assert json.loads(result.output.split("entry: ", 1)[1].splitlines()[0])["sha256"] == hash_token(
            match.group(1)
        )
    text = tokens_file.read_text()
    assert not [t for t in minted.values() if t in text]
    table = TokenTable.from_settings(Settings(auth_tokens_file=tokens_file))
    ci, etl = table.verify(minted["ci"]), table.verify(minted["etl"])
    assert ci is not None and (ci.name, ci.role) == ("ci", Role.READER)
    assert etl is not None and (etl.name, etl.role) == ("etl", Role.WRITER)
    again = CliRunner().invoke(
        app, ["auth", "token", "--role", "admin", "--name", "ci", "--add-to", str(tokens_file)]
    )
    assert again.exit_code == 1 and "'ci' twice" in again.output
    assert len(load_tokens_file(tokens_file)) == 2


def test_minted_tokens_are_long_and_distinct() -> None:
    tokens = {mint_token() for _ in range(100)}
    assert len(tokens) == 100 and min(len(t) for t in tokens) >= 40


def test_unknown_tokens_are_refused() -> None:
    table = TokenTable([TokenEntry(name="a", role=Role.READER, sha256=hash_token("right"))])
    assert table.verify("wrong") is None
    assert table.verify("") is None
    assert table.verify(hash_token("right")) is None  # the hash itself is no token


def test_env_tokens_are_admin_and_service_unless_the_file_says_otherwise(tmp_path: Path) -> None:
    settings = Settings(auth_token=SecretStr("shared"), service_token=SecretStr("svc"))
    table = TokenTable.from_settings(settings)
    assert [(p.name, p.role) for p in map(table.verify, ("shared", "svc")) if p] == [
        ("FOUNDRY_AUTH_TOKEN", Role.ADMIN),
        ("FOUNDRY_SERVICE_TOKEN", Role.SERVICE),
    ]
    listed = write(tmp_path / "t.json", [{"name": "me", "role": "reader", "sha256": hash_token("shared")}])
    table = TokenTable.from_settings(Settings(auth_token=SecretStr("shared"), auth_tokens_file=listed))
    principal = table.verify("shared")
    assert principal is not None and (principal.name, principal.role) == ("me", Role.READER)


def test_auth_is_on_with_any_token_source(tmp_path: Path) -> None:
    assert not auth_enabled(Settings())
    empty = write(tmp_path / "empty.json", [])
    assert auth_enabled(Settings(auth_tokens_file=empty))  # an empty file admits nobody
    assert len(TokenTable.from_settings(Settings(auth_tokens_file=empty))) == 0
    assert auth_enabled(Settings(auth_token=SecretStr("x")))
    assert auth_enabled(Settings(service_token=SecretStr("x")))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        (json.dumps({"tokens": [{"name": "a", "role": "root", "sha256": "0" * 64}]}), "tokens.0.role"),
        (json.dumps({"tokens": [{"name": "a", "role": "reader", "sha256": "plaintext"}]}), "tokens.0.sha256"),
        (
            json.dumps({"tokens": [{"name": "a", "role": "reader", "token": "x", "sha256": "0" * 64}]}),
            "tokens.0.token",
        ),
        (
            json.dumps({"tokens": [{"name": "a", "role": "reader", "sha256": "0" * 64}] * 2}),
            "name 'a' twice",
        ),
        (
            json.dumps(
                {
                    "tokens": [
                        {"name": "a", "role": "reader", "sha256": "0" * 64},
                        {"name": "b", "role": "admin", "sha256": "0" * 64},
                    ]
                }
            ),
            "the token of 'b' is listed twice",
        ),
    ],
)
def test_a_bad_tokens_file_is_refused_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(TokensFileError, match=re.escape(message)):
        load_tokens_file(path)


def test_a_missing_tokens_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokensFileError, match="No such file"):
        TokenTable.from_settings(Settings(auth_tokens_file=tmp_path / "absent.json"))
