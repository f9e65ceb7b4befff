"""TLS and mutual TLS from the settings: the checks, the server's credentials and the client's.

A server serves TLS when `tls_cert_file` and `tls_key_file` are set, and requires a client
certificate signed by `tls_ca_file` when `tls_client_auth` is on. A client (the typed client, the
CLI, a service calling a peer) speaks TLS when `tls_ca_file` or `tls_cert_file` is set: it verifies
servers against `tls_ca_file` (the system roots when unset) and presents `tls_cert_file` as its
client certificate when one is set. Bad TLS settings fail at start-up with one line saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.settings import Settings


class TlsSettingsError(FailedPreconditionError):
    """The TLS settings are inconsistent, or name a file that cannot be read."""

    reason = "TLS_SETTINGS"


def server_tls_enabled(settings: Settings) -> bool:
    return settings.tls_cert_file is not None and settings.tls_key_file is not None


def client_tls_enabled(settings: Settings) -> bool:
    return settings.tls_ca_file is not None or settings.tls_cert_file is not None


def check_tls(settings: Settings) -> None:
    """Raise `TlsSettingsError` (one line) unless the TLS settings are consistent and readable."""
    cert, key, ca = settings.tls_cert_file, settings.tls_key_file, settings.tls_ca_file
    if (cert is None) != (key is None):
        raise TlsSettingsError(
            "TLS needs both FOUNDRY_TLS_CERT_FILE and FOUNDRY_TLS_KEY_FILE, or neither "
            f"(cert: {cert or 'unset'}, key: {key or 'unset'})"
        )
    if settings.tls_client_auth and (ca is None or cert is None):
        raise TlsSettingsError(
            "FOUNDRY_TLS_CLIENT_AUTH (mutual TLS) needs FOUNDRY_TLS_CA_FILE to verify clients and "
            "FOUNDRY_TLS_CERT_FILE/FOUNDRY_TLS_KEY_FILE to serve TLS"
        )
    if settings.tls_server_name is not None and not client_tls_enabled(settings):
        raise TlsSettingsError("FOUNDRY_TLS_SERVER_NAME is set but TLS is off (no CA or certificate file)")
    for name, path in (
        ("FOUNDRY_TLS_CERT_FILE", cert),
        ("FOUNDRY_TLS_KEY_FILE", key),
        ("FOUNDRY_TLS_CA_FILE", ca),
    ):
        if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
            raise TlsSettingsError(f"{name}={path}: not a readable file")


def _read(path: Path | None) -> bytes | None:
    return None if path is None else path.read_bytes()


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The server's TLS credentials (client certificates required under mTLS), or None: plaintext."""
    check_tls(settings)
    if not server_tls_enabled(settings):
        return None
    key, cert = _read(settings.tls_key_file), _read(settings.tls_cert_file)
    assert key is not None and cert is not None
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=_read(settings.tls_ca_file) if settings.tls_client_auth else None,
        require_client_auth=settings.tls_client_auth,
    )


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """A client's TLS credentials (with its certificate when one is set), or None: plaintext."""
    check_tls(settings)
    if not client_tls_enabled(settings):
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(settings.tls_ca_file),
        private_key=_read(settings.tls_key_file),
        certificate_chain=_read(settings.tls_cert_file),
    )


def channel_options(settings: Settings) -> list[tuple[str, int | str]]:
    """The name a client checks the server's certificate against, when it is not the address's host."""
    if settings.tls_server_name is None:
        return []
    return [("grpc.ssl_target_name_override", settings.tls_server_name)]
