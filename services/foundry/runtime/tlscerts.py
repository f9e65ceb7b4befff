"""A local certificate authority for `foundry stack up --tls` and the tests: a CA, a certificate the
services serve with (and present to one another under mutual TLS) and one for the CLI.

Keys are ECDSA P-256; certificates are X.509 v3 built with the `cryptography` package: basic
constraints, key usage, extended key usage (serverAuth, clientAuth), subject alternative names
(DNS names and IP addresses) and key identifiers. Private keys are written PKCS#8 PEM with mode
0600. Services never import this module; they only read the files their settings name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Issued:
    """A certificate (PEM) and its private key (PKCS#8 PEM)."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that signs the other certificates."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SFT Foundry"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _key_usage(*, sign_certs: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=sign_certs,
        crl_sign=sign_certs,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def make_ca(common_name: str = "SFT Foundry local CA", days: int = 3650) -> CertificateAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign_certs=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(key, cert)


def issue(
    ca: CertificateAuthority,
    common_name: str,
    hosts: Sequence[str] = LOCAL_HOSTS,
    *,
    server: bool = True,
    client: bool = True,
    days: int = 825,
) -> Issued:
    """A leaf certificate signed by `ca`, valid for `hosts` (DNS names or IP addresses), for serving
    TLS (`server`), authenticating as a client under mutual TLS (`client`), or both."""
    if not (server or client):
        raise ValueError("a certificate must be for a server, a client or both")
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [
        oid
        for oid, wanted in (
            (ExtendedKeyUsageOID.SERVER_AUTH, server),
            (ExtendedKeyUsageOID.CLIENT_AUTH, client),
        )
        if wanted
    ]
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        _builder(_name(common_name), ca.cert.subject, key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
        )
    cert = builder.sign(ca.key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem)


# --- files ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsFiles:
    """Where `write_local_tls` put the CA certificate and the two certificate/key pairs."""

    ca_file: Path
    server_cert_file: Path
    server_key_file: Path
    client_cert_file: Path
    client_key_file: Path


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    tmp.replace(path)


def write_local_tls(directory: Path, hosts: Sequence[str] = LOCAL_HOSTS) -> TlsFiles:
    """A fresh CA, a service certificate (serverAuth and clientAuth, for `hosts`) and a CLI client
    certificate, written under `directory` (mode 0700; keys 0600). The CA's key is not kept."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca = make_ca()
    service = issue(ca, "foundry-service", hosts, server=True, client=True)
    cli = issue(ca, "foundry-cli", (), server=False, client=True)
    files = TlsFiles(
        ca_file=directory / "ca.pem",
        server_cert_file=directory / "service.pem",
        server_key_file=directory / "service.key",
        client_cert_file=directory / "client.pem",
        client_key_file=directory / "client.key",
    )
    _write(files.ca_file, ca.cert_pem, 0o644)
    _write(files.server_cert_file, service.cert_pem, 0o644)
    _write(files.server_key_file, service.key_pem, 0o600)
    _write(files.client_cert_file, cli.cert_pem, 0o644)
    _write(files.client_key_file, cli.key_pem, 0o600)
    return files
