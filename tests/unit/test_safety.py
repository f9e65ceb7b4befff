"""Safe defaults at start-up (`runtime.safety`): on loopback one warning naming each insecure
default; elsewhere a one-line refusal naming every reason, unless FOUNDRY_INSECURE=1."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from foundry.ingestion.settings import IngestionSettings
from foundry.runtime.safety import StartupRefused, check_safe_defaults, insecure_defaults, is_loopback
from foundry.runtime.settings import Settings

AUTH = "auth is off (set FOUNDRY_AUTH_TOKENS_FILE or FOUNDRY_AUTH_TOKEN)"
S3 = "FOUNDRY_S3_SECRET_KEY is the built-in default"
PII = "FOUNDRY_PII_SECRET is the built-in default"
TLS = "TLS is off (FOUNDRY_TLS_CERT_FILE unset)"


def secure(**overrides: object) -> IngestionSettings:
    values: dict[str, object] = {
        "grpc_host": "0.0.0.0",
        "auth_token": SecretStr("t"),
        "s3_secret_key": SecretStr("own-s3-secret"),
        "pii_secret": SecretStr("own-pii-secret"),
        "tls_cert_file": Path("/etc/foundry/tls.crt"),
        "tls_key_file": Path("/etc/foundry/tls.key"),
    }
    values.update(overrides)
    return IngestionSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("", False),
        ("foundry.example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_each_insecure_default_is_named() -> None:
    assert insecure_defaults(Settings()) == [AUTH, S3, TLS]
    assert insecure_defaults(IngestionSettings()) == [AUTH, S3, PII, TLS]
    assert insecure_defaults(secure()) == []
    assert insecure_defaults(secure(pii_secret=SecretStr("foundry-dev-pii-secret"))) == [PII]
    assert insecure_defaults(secure(auth_token=None, tls_cert_file=None)) == [AUTH, TLS]


def test_outside_loopback_a_service_refuses_in_one_line_naming_every_reason() -> None:
    with pytest.raises(StartupRefused) as refused:
        check_safe_defaults(IngestionSettings(grpc_host="0.0.0.0"))
    message = str(refused.value)
    assert "\n" not in message and "0.0.0.0" in message and "FOUNDRY_INSECURE=1" in message
    for reason in (AUTH, S3, PII, TLS):
        assert reason in message
    with pytest.raises(StartupRefused, match="TLS is off"):
        check_safe_defaults(secure(tls_cert_file=None))


def test_insecure_overrides_the_refusal_with_a_warning() -> None:
    warning = check_safe_defaults(IngestionSettings(grpc_host="0.0.0.0", insecure=True))
    assert warning is not None and "\n" not in warning and "FOUNDRY_INSECURE=1" in warning
    for reason in (AUTH, S3, PII, TLS):
        assert reason in warning


def test_on_loopback_one_warning_names_each_insecure_default() -> None:
    warning = check_safe_defaults(Settings(grpc_host="127.0.0.1", s3_secret_key=SecretStr("own")))
    assert warning is not None and "\n" not in warning
    assert AUTH in warning and TLS in warning and S3 not in warning


def test_a_secure_configuration_starts_without_a_warning() -> None:
    assert check_safe_defaults(secure()) is None
