"""`foundry stack up` with auth on gives its services a service token (FOUNDRY_SERVICE_TOKEN),
one per home dir, kept owner-only, and leaves the CLI's own token (FOUNDRY_AUTH_TOKEN, admin)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from foundry.cli import stack
from foundry.runtime.roles import Role
from foundry.runtime.settings import ServiceName, Settings
from foundry.runtime.tokens import TokenTable


def env_of(settings: Settings, service: ServiceName = ServiceName.LABELING) -> dict[str, str]:
    return stack._service_env(settings, stack.StackState(s3_endpoint="127.0.0.1:1"), service)


def test_with_auth_on_every_service_gets_the_same_service_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOUNDRY_AUTH_TOKEN", "admin-tok")
    monkeypatch.delenv("FOUNDRY_SERVICE_TOKEN", raising=False)
    settings = Settings(home_dir=tmp_path, auth_token=SecretStr("admin-tok"))
    envs = [env_of(settings, s) for s in ServiceName]
    tokens = {e["FOUNDRY_SERVICE_TOKEN"] for e in envs}
    assert len(tokens) == 1 and "admin-tok" not in tokens
    assert {e["FOUNDRY_AUTH_TOKEN"] for e in envs} == {"admin-tok"}  # still accepted as admin
    path = tmp_path / "stack" / "service.token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert env_of(settings)["FOUNDRY_SERVICE_TOKEN"] == path.read_text()  # a restart reuses it
    # what a service started with that environment accepts and sends
    service = Settings(
        auth_token=SecretStr("admin-tok"), service_token=SecretStr(envs[0]["FOUNDRY_SERVICE_TOKEN"])
    )
    table = TokenTable.from_settings(service)
    principal = table.verify(envs[0]["FOUNDRY_SERVICE_TOKEN"])
    assert principal is not None and principal.role == Role.SERVICE
    admin = table.verify("admin-tok")
    assert admin is not None and admin.role == Role.ADMIN


def test_a_given_service_token_is_used(tmp_path: Path) -> None:
    settings = Settings(home_dir=tmp_path, auth_token=SecretStr("a"), service_token=SecretStr("given"))
    assert env_of(settings)["FOUNDRY_SERVICE_TOKEN"] == "given"
    assert not (tmp_path / "stack" / "service.token").exists()


def test_with_auth_off_no_token_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOUNDRY_SERVICE_TOKEN", raising=False)
    assert "FOUNDRY_SERVICE_TOKEN" not in env_of(Settings(home_dir=tmp_path))
    assert not (tmp_path / "stack").exists()
