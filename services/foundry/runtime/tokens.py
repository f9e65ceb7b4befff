"""Bearer tokens and their roles: the tokens file, minting, and the constant-time check.

A tokens file (`FOUNDRY_AUTH_TOKENS_FILE`) holds no token, only each token's sha256, its role and
a name for logs and errors:

    {"tokens": [{"name": "ci", "role": "reader", "sha256": "<64 lowercase hex>"}]}

Tokens are random (`mint_token`: 32 bytes from `secrets`), so an unsalted sha256 cannot be
reversed or guessed. A presented token is hashed and compared with `hmac.compare_digest` against
every stored hash (no early exit). Besides the file, `FOUNDRY_AUTH_TOKEN` is accepted as an admin
token (the single shared token of earlier versions) and `FOUNDRY_SERVICE_TOKEN` as a service token
(what the services of one deployment send to one another), each unless the file lists it: then
the file's role holds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from foundry.runtime.roles import Role
from foundry.runtime.settings import Settings

TOKEN_PREFIX = "fdy_"


class TokensFileError(ValueError):
    """The tokens file is missing, malformed, or lists a name or a token twice."""


class TokenEntry(BaseModel):
    """One token of a tokens file: its hash, role and name (never the token)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class TokensFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: list[TokenEntry]


def auth_enabled(settings: Settings) -> bool:
    """Auth is on once a tokens file or a token is configured (an empty tokens file admits nobody)."""
    return any(
        v is not None for v in (settings.auth_tokens_file, settings.auth_token, settings.service_token)
    )


def hash_token(token: str) -> str:
    """Lowercase hex sha256 of the token's UTF-8 bytes: what a tokens file stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint_token() -> str:
    """A new random token (256 bits, URL-safe)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def load_tokens_file(path: Path) -> list[TokenEntry]:
    """The entries of a tokens file; a clear error for a missing or malformed file or duplicates."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TokensFileError(f"tokens file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise TokensFileError(f"tokens file {path} is not JSON: {exc}") from exc
    try:
        entries = TokensFile.model_validate(raw).tokens
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TokensFileError(f"tokens file {path}: {where}: {first['msg']}") from exc
    _check_unique(entries, path)
    return entries


def _check_unique(entries: Sequence[TokenEntry], path: Path) -> None:
    names, hashes = set(), set()
    for entry in entries:
        if entry.name in names:
            raise TokensFileError(f"tokens file {path}: name {entry.name!r} twice")
        if entry.sha256 in hashes:
            raise TokensFileError(f"tokens file {path}: the token of {entry.name!r} is listed twice")
        names.add(entry.name)
        hashes.add(entry.sha256)


@dataclass(frozen=True)
class Principal:
    """Who a verified token belongs to."""

    name: str
    role: Role


class TokenTable:
    """The tokens a server accepts, by hash; `verify` is constant-time over the whole table."""

    def __init__(self, entries: Sequence[TokenEntry]) -> None:
        self._entries = [(bytes.fromhex(e.sha256), Principal(e.name, e.role)) for e in entries]

    def __len__(self) -> int:
        return len(self._entries)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenTable:
        """The tokens file, plus FOUNDRY_AUTH_TOKEN as admin and FOUNDRY_SERVICE_TOKEN as service
        unless the file lists them (then the file's role holds)."""
        entries = load_tokens_file(settings.auth_tokens_file) if settings.auth_tokens_file else []
        for secret, name, role in (
            (settings.auth_token, "FOUNDRY_AUTH_TOKEN", Role.ADMIN),
            (settings.service_token, "FOUNDRY_SERVICE_TOKEN", Role.SERVICE),
        ):
            if secret is None:
                continue
            digest = hash_token(secret.get_secret_value())
            if all(e.sha256 != digest for e in entries):
                entries.append(TokenEntry(name=name, role=role, sha256=digest))
        return cls(entries)

    def verify(self, token: str) -> Principal | None:
        """The principal of `token`, or None; compares against every entry in constant time."""
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found: Principal | None = None
        for stored, principal in self._entries:
            if hmac.compare_digest(digest, stored):
                found = principal
        return found


def add_to_tokens_file(path: Path, entry: TokenEntry) -> None:
    """Append `entry` to the tokens file at `path` (created when missing), written atomically;
    a name or hash already there is refused."""
    entries = load_tokens_file(path) if path.exists() else []
    entries = [*entries, entry]
    _check_unique(entries, path)
    text = TokensFile(tokens=entries).model_dump_json(indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
