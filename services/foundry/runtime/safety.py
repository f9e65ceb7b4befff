"""Safe defaults at start-up: what is insecure in a service's settings, and what to do about it.

Insecure: auth off (no tokens file, no token), a secret left at its built-in default (every
`SecretStr` setting with a default, such as `FOUNDRY_S3_SECRET_KEY` and ingestion's
`FOUNDRY_PII_SECRET`), and no TLS certificate. On a loopback address (127.0.0.0/8, ::1,
localhost) the service starts and logs one warning naming each; on any other address it refuses
to start, in one line naming every reason, unless `FOUNDRY_INSECURE=1`.
"""

from __future__ import annotations

import ipaddress

from pydantic import SecretStr

from foundry.runtime.settings import Settings
from foundry.runtime.tokens import auth_enabled


class StartupRefused(RuntimeError):
    """The service must not start with these settings (the message says why, in one line)."""


def is_loopback(host: str) -> bool:
    """Whether `host` (a gRPC bind host) is reachable only from this machine."""
    bare = host.strip().strip("[]").lower()
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False  # a host name, or "" (every interface)


def _env_name(field: str) -> str:
    return f"FOUNDRY_{field.upper()}"


def insecure_defaults(settings: Settings) -> list[str]:
    """Each insecure default in effect, as a short phrase naming the setting to change."""
    reasons = []
    if not auth_enabled(settings):
        reasons.append("auth is off (set FOUNDRY_AUTH_TOKENS_FILE or FOUNDRY_AUTH_TOKEN)")
    for name, info in type(settings).model_fields.items():
        default, value = info.default, getattr(settings, name)
        if (
            isinstance(default, SecretStr)
            and isinstance(value, SecretStr)
            and value.get_secret_value() == default.get_secret_value()
        ):
            reasons.append(f"{_env_name(name)} is the built-in default")
    if settings.tls_cert_file is None:
        reasons.append("TLS is off (FOUNDRY_TLS_CERT_FILE unset)")
    return reasons


def check_safe_defaults(settings: Settings) -> str | None:
    """Raise `StartupRefused` for a non-loopback start with insecure defaults unless
    `FOUNDRY_INSECURE=1`; otherwise the one warning to log (naming each), or None."""
    reasons = insecure_defaults(settings)
    if not reasons:
        return None
    host = settings.grpc_host
    listed = "; ".join(reasons)
    if is_loopback(host):
        return f"insecure defaults (acceptable on loopback {host} only): {listed}"
    if settings.insecure:
        return f"FOUNDRY_INSECURE=1: serving on {host} with insecure defaults: {listed}"
    raise StartupRefused(f"refusing to serve on {host}: {listed} (or set FOUNDRY_INSECURE=1)")
