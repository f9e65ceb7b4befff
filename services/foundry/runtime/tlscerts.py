"""A local certificate authority for `foundry stack up --tls` and the tests: a CA, a certificate the
services serve with (and present to one another under mutual TLS) and one for the CLI.

Keys are ECDSA P-256 (pycryptodome generates and signs); certificates are X.509 v3, DER-encoded
here from RFC 5280's structures: basic constraints, key usage, extended key usage (serverAuth,
clientAuth), subject alternative names (DNS names and IP addresses) and key identifiers. Private
keys are written PKCS#8 PEM with mode 0600. Services never import this module; they only read the
files their settings name.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from Crypto.Hash import SHA1, SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
COMMON_NAME = "2.5.4.3"
ORGANIZATION = "2.5.4.10"
SUBJECT_KEY_ID, KEY_USAGE, SUBJECT_ALT_NAME = "2.5.29.14", "2.5.29.15", "2.5.29.17"
BASIC_CONSTRAINTS, AUTHORITY_KEY_ID, EXT_KEY_USAGE = "2.5.29.19", "2.5.29.35", "2.5.29.37"
SERVER_AUTH, CLIENT_AUTH = "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"
LOCAL_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


# --- DER (X.690), just what a certificate needs ---------------------------------------------------
def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = (n.bit_length() + 7) // 8  # long form: the count of length bytes, then the length
    return bytes([tag, 0x80 | size]) + n.to_bytes(size, "big") + body


def _seq(*items: bytes) -> bytes:
    return _tlv(0x30, b"".join(items))


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        while arc := arc >> 7:
            chunk.append(0x80 | (arc & 0x7F))
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _bits(data: bytes, unused: int = 0) -> bytes:
    return _tlv(0x03, bytes([unused]) + data)


def _time(when: dt.datetime) -> bytes:
    if when.year < 2050:
        return _tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())


def _name(common_name: str) -> bytes:
    def rdn(oid: str, value: str) -> bytes:
        return _tlv(0x31, _seq(_oid(oid), _tlv(0x0C, value.encode())))

    return _seq(rdn(ORGANIZATION, "SFT Foundry (local)"), rdn(COMMON_NAME, common_name))


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    return _seq(_oid(oid), *([_tlv(0x01, b"\xff")] if critical else []), _tlv(0x04, value))


def _general_names(hosts: Sequence[str]) -> bytes:
    names = []
    for host in hosts:
        try:
            names.append(_tlv(0x87, ipaddress.ip_address(host).packed))  # iPAddress [7]
        except ValueError:
            names.append(_tlv(0x82, host.encode("ascii")))  # dNSName [2]
    return _seq(*names)


def _pem(kind: str, der: bytes) -> bytes:
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----\n".encode()


# --- certificates -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Issued:
    """A certificate (PEM) and its private key (PKCS#8 PEM)."""

    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed CA that signs the other certificates."""

    key: ECC.EccKey
    name: bytes
    key_id: bytes
    cert_pem: bytes


def _key_id(key: ECC.EccKey) -> bytes:
    return SHA1.new(key.public_key().export_key(format="raw")).digest()


def _sign(
    subject: bytes,
    key: ECC.EccKey,
    issuer: bytes,
    issuer_key: ECC.EccKey,
    issuer_key_id: bytes,
    extensions: list[bytes],
    days: int,
) -> bytes:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    algorithm = _seq(_oid(ECDSA_WITH_SHA256))
    extensions = [
        *extensions,
        _extension(SUBJECT_KEY_ID, _tlv(0x04, _key_id(key))),
        _extension(AUTHORITY_KEY_ID, _seq(_tlv(0x80, issuer_key_id))),
    ]
    tbs = _seq(
        _tlv(0xA0, _int(2)),  # v3
        _int(secrets.randbits(63) + 1),
        algorithm,
        issuer,
        _seq(_time(now - dt.timedelta(hours=1)), _time(now + dt.timedelta(days=days))),
        subject,
        key.public_key().export_key(format="DER"),
        _tlv(0xA3, _seq(*extensions)),
    )
    signature = DSS.new(issuer_key, "fips-186-3", encoding="der").sign(SHA256.new(tbs))
    return _pem("CERTIFICATE", _seq(tbs, algorithm, _bits(signature)))


def make_ca(common_name: str = "SFT Foundry local CA", days: int = 3650) -> CertificateAuthority:
    key = ECC.generate(curve="P-256")
    name = _name(common_name)
    key_id = _key_id(key)
    extensions = [
        _extension(BASIC_CONSTRAINTS, _seq(_tlv(0x01, b"\xff")), critical=True),
        _extension(
            KEY_USAGE, _bits(b"\x86", unused=1), critical=True
        ),  # digitalSignature, keyCertSign, cRLSign
    ]
    return CertificateAuthority(key, name, key_id, _sign(name, key, name, key, key_id, extensions, days))


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
    key = ECC.generate(curve="P-256")
    usages = [_oid(oid) for oid, wanted in ((SERVER_AUTH, server), (CLIENT_AUTH, client)) if wanted]
    extensions = [
        _extension(BASIC_CONSTRAINTS, _seq(), critical=True),
        _extension(KEY_USAGE, _bits(b"\x80", unused=7), critical=True),  # digitalSignature
        _extension(EXT_KEY_USAGE, _seq(*usages)),
    ]
    if hosts:
        extensions.append(_extension(SUBJECT_ALT_NAME, _general_names(hosts)))
    cert = _sign(_name(common_name), key, ca.name, ca.key, ca.key_id, extensions, days)
    return Issued(cert, key.export_key(format="PEM").encode())


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
