"""Locks down the embedded SeaweedFS so that only its S3 API (with credentials) can change data.

Left to itself `weed mini` answers plain HTTP on 127.0.0.1 with no credentials: any local user
can PUT, GET and DELETE every object through the filer port (201/204), hand out write tokens
and delete whole buckets through the master port (`/dir/assign`, `/col/delete`), and write to
the volume port. `SeaweedS3Server` therefore starts it with:

- `-disableHttp`: the master and filer serve no HTTP API at all (every path answers 404); the
  S3 gateway talks to them over gRPC only, so S3 keeps working.
- a fresh `security.toml` in the data dir (the server's working directory, the first place
  SeaweedFS looks), mode 0600, written by `write_security_config` at every start with random
  JWT signing keys: the volume server accepts reads and writes only with a token the master
  signed for that one file id (`jwt.signing`, `jwt.signing.read`), the filer only with a token
  signed with `jwt.filer_signing(.read)` (should its HTTP API ever be on). The volume port has
  to stay open, since the S3 gateway uploads chunks to it, but without a token it answers 401.
- the data dir itself at mode 0700, so the volume files are not readable by other users.

What this does not close: the components' gRPC ports (HTTP port + 10000) and unix sockets
still take unauthenticated calls from local processes; SeaweedFS protects those only with
mutual TLS (`[grpc.*]` certificates in the same file), which needs a local CA.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECURITY_FILE = "security.toml"
#: seconds a signed token is valid (SeaweedFS's default)
TOKEN_LIFETIME_S = 10
#: the sections that carry a signing key
SIGNED_SECTIONS = ("jwt.signing", "jwt.signing.read", "jwt.filer_signing", "jwt.filer_signing.read")
#: the `weed mini` flag that turns off the master's and filer's HTTP APIs
DISABLE_HTTP_FLAG = "-disableHttp"


def security_config(keys: dict[str, str]) -> str:
    """The text of a `security.toml` with one signing key per section of `SIGNED_SECTIONS`."""
    lines = ["# written by foundry.runtime.seaweed_security at each start; secrets, keep 0600"]
    for section in SIGNED_SECTIONS:
        lines += [
            "",
            f"[{section}]",
            f'key = "{keys[section]}"',
            f"expires_after_seconds = {TOKEN_LIFETIME_S}",
        ]
    lines += ["", "[access]", "ui = false", "", "[filer.expose_directory_metadata]", "enabled = false", ""]
    return "\n".join(lines)


def write_security_config(data_dir: Path) -> Path:
    """Write a `security.toml` with new random keys into `data_dir` (mode 0600) and make
    `data_dir` private (0700); returns the file's path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    path = data_dir / SECURITY_FILE
    text = security_config({section: secrets.token_urlsafe(32) for section in SIGNED_SECTIONS})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return path
