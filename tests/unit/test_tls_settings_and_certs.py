"""`foundry.runtime.tlscerts` (checked by OpenSSL through the standard library's `ssl`, an
implementation other than the gRPC one the integration tests use) and the TLS settings checks."""

from __future__ import annotations

import ssl
import stat
from pathlib import Path

import pytest

from foundry.runtime.settings import Settings
from foundry.runtime.tls import TlsSettingsError, check_tls, client_tls_enabled, server_tls_enabled
from foundry.runtime.tlscerts import TlsFiles, issue, make_ca, write_local_tls


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return write_local_tls(tmp_path_factory.mktemp("tls") / "tls")


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, host: str) -> None:
    """A TLS handshake in memory; raises ssl.SSLError when either side refuses."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(c_in, c_out, server_hostname=host)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, end in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            c.write(b"x")  # TLS 1.3: the server checks the client's certificate after its Finished
            s_in.write(c_out.read())
            assert s.read(1) == b"x"
            return
    raise AssertionError("handshake did not finish")


def server_context(cert: Path, key: Path, ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)  # also checks that the key matches the certificate
    if ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(ca)
    return ctx


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def test_files_and_modes(files: TlsFiles) -> None:
    assert stat.S_IMODE(files.ca_file.parent.stat().st_mode) == 0o700
    for key in (files.server_key_file, files.client_key_file):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    for cert in (files.ca_file, files.server_cert_file, files.client_cert_file):
        assert cert.read_text().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1"])
def test_the_service_certificate_is_valid_for_the_local_names(files: TlsFiles, host: str) -> None:
    handshake(
        server_context(files.server_cert_file, files.server_key_file), client_context(files.ca_file), host
    )


def test_the_service_certificate_is_not_valid_for_other_names(files: TlsFiles) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(
            server_context(files.server_cert_file, files.server_key_file),
            client_context(files.ca_file),
            "example.com",
        )


def test_mutual_tls_with_the_cli_certificate(files: TlsFiles) -> None:
    server = server_context(files.server_cert_file, files.server_key_file, ca=files.ca_file)
    handshake(
        server, client_context(files.ca_file, files.client_cert_file, files.client_key_file), "localhost"
    )
    with pytest.raises(ssl.SSLError):  # no client certificate
        handshake(server, client_context(files.ca_file), "localhost")


def test_the_cli_certificate_cannot_serve(files: TlsFiles) -> None:
    """It is for client authentication only (extended key usage)."""
    with pytest.raises(ssl.SSLCertVerificationError, match="unsuitable certificate purpose"):
        handshake(
            server_context(files.client_cert_file, files.client_key_file),
            client_context(files.ca_file),
            "localhost",
        )


def test_a_certificate_from_another_ca_is_refused(files: TlsFiles, tmp_path: Path) -> None:
    other = issue(make_ca("another CA"), "other", ("localhost",))
    (tmp_path / "o.pem").write_bytes(other.cert_pem)
    (tmp_path / "o.key").write_bytes(other.key_pem)
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(
            server_context(tmp_path / "o.pem", tmp_path / "o.key"), client_context(files.ca_file), "localhost"
        )


def test_a_certificate_is_for_something() -> None:
    with pytest.raises(ValueError, match="server, a client or both"):
        issue(make_ca(), "nothing", server=False, client=False)


def test_check_tls(files: TlsFiles, tmp_path: Path) -> None:
    plain = Settings()
    check_tls(plain)
    assert not server_tls_enabled(plain) and not client_tls_enabled(plain)
    served = Settings(
        tls_cert_file=files.server_cert_file,
        tls_key_file=files.server_key_file,
        tls_ca_file=files.ca_file,
        tls_client_auth=True,
    )
    check_tls(served)
    assert server_tls_enabled(served) and client_tls_enabled(served)
    assert client_tls_enabled(Settings(tls_ca_file=files.ca_file))
    bad = [
        (
            Settings(tls_cert_file=files.server_cert_file),
            "both FOUNDRY_TLS_CERT_FILE and FOUNDRY_TLS_KEY_FILE",
        ),
        (Settings(tls_key_file=files.server_key_file), "or neither"),
        (
            Settings(
                tls_cert_file=files.server_cert_file, tls_key_file=files.server_key_file, tls_client_auth=True
            ),
            "needs FOUNDRY_TLS_CA_FILE",
        ),
        (Settings(tls_ca_file=files.ca_file, tls_client_auth=True), "needs FOUNDRY_TLS_CA_FILE"),
        (Settings(tls_server_name="foundry"), "FOUNDRY_TLS_SERVER_NAME is set but TLS is off"),
        (Settings(tls_ca_file=tmp_path / "missing.pem"), "missing.pem: not a readable file"),
        (Settings(tls_ca_file=tmp_path), "not a readable file"),
    ]
    for settings, says in bad:
        with pytest.raises(TlsSettingsError, match=says.replace("(", r"\(")) as info:
            check_tls(settings)
        assert "\n" not in str(info.value)
