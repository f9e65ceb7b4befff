"""TLS and mutual TLS on real servers on 127.0.0.1: the runtime's server and the suite's channels
(`foundry.client.channel`), with certificates from `foundry.runtime.tlscerts`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import probe_service
from foundry.client.channel import health_status, open_aio_channel
from foundry.client.ingestion import IngestionClient
from foundry.runtime.errors import UnavailableError
from foundry.runtime.server import FoundryServer
from foundry.runtime.settings import Settings
from foundry.runtime.tlscerts import TlsFiles, issue, make_ca, write_local_tls
from helpers.servers import ingestion_server


@dataclass(frozen=True)
class Pki:
    local: TlsFiles  # the CA, the services' pair, the CLI's pair (as `foundry stack up --tls`)
    other_ca_file: Path  # a second CA
    other_cert_file: Path  # a client certificate from the second CA
    other_key_file: Path
    named_ca_file: Path  # a third CA, which signed:
    named_cert_file: Path  # a server certificate for `foundry-ingestion.internal` only
    named_key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    local = write_local_tls(root / "local")
    other_ca = make_ca("another CA")
    other = issue(other_ca, "intruder", ("localhost", "127.0.0.1"))
    (root / "other-ca.pem").write_bytes(other_ca.cert_pem)
    (root / "other.pem").write_bytes(other.cert_pem)
    (root / "other.key").write_bytes(other.key_pem)
    named_ca = make_ca("a CA for names")
    named = issue(named_ca, "ingestion", ("foundry-ingestion.internal",), client=False)
    (root / "named-ca.pem").write_bytes(named_ca.cert_pem)
    (root / "named.pem").write_bytes(named.cert_pem)
    (root / "named.key").write_bytes(named.key_pem)
    return Pki(
        local,
        root / "other-ca.pem",
        root / "other.pem",
        root / "other.key",
        root / "named-ca.pem",
        root / "named.pem",
        root / "named.key",
    )


def serving(pki: Pki, mutual: bool) -> Settings:
    return Settings(
        grpc_port=0,
        metrics_port=0,
        tls_cert_file=pki.local.server_cert_file,
        tls_key_file=pki.local.server_key_file,
        tls_ca_file=pki.local.ca_file,
        tls_client_auth=mutual,
    )


@asynccontextmanager
async def probe_server(settings: Settings) -> AsyncIterator[str]:
    server = FoundryServer(settings, probe_service.definition())
    await server.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        await server.drain(0)


async def echo(address: str, settings: Settings) -> bytes:
    async with open_aio_channel(address, settings) as channel:
        call = channel.unary_unary(f"/{probe_service.SERVICE}/Echo")
        reply: bytes = await call(b"ping", timeout=10)
        return reply


async def refused(address: str, settings: Settings) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await echo(address, settings)
    return info.value.code()


def ca_only(pki: Pki) -> Settings:
    return Settings(tls_ca_file=pki.local.ca_file)


def cli(pki: Pki) -> Settings:
    files = pki.local
    return Settings(
        tls_ca_file=files.ca_file, tls_cert_file=files.client_cert_file, tls_key_file=files.client_key_file
    )


async def test_tls_server_answers_a_tls_client_and_refuses_plaintext(pki: Pki) -> None:
    async with probe_server(serving(pki, mutual=False)) as address:
        assert await echo(address, ca_only(pki)) == b"ping"
        assert await refused(address, Settings()) == grpc.StatusCode.UNAVAILABLE
        # and the health check that `foundry stack` uses, over TLS and not
        assert await asyncio.to_thread(health_status, address, ca_only(pki)) == "SERVING"
        assert await asyncio.to_thread(health_status, address, Settings()) == "UNREACHABLE"


async def test_a_client_that_does_not_trust_the_servers_ca_is_refused(pki: Pki) -> None:
    async with probe_server(serving(pki, mutual=False)) as address:
        assert await refused(address, Settings(tls_ca_file=pki.other_ca_file)) == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(pki: Pki) -> None:
    async with probe_server(serving(pki, mutual=True)) as address:
        assert await echo(address, cli(pki)) == b"ping"
        # the services' own certificate is a client certificate too (service-to-service calls)
        peer = Settings(
            tls_ca_file=pki.local.ca_file,
            tls_cert_file=pki.local.server_cert_file,
            tls_key_file=pki.local.server_key_file,
        )
        assert await echo(address, peer) == b"ping"
        assert await refused(address, ca_only(pki)) == grpc.StatusCode.UNAVAILABLE
        assert await refused(address, Settings()) == grpc.StatusCode.UNAVAILABLE
        intruder = Settings(
            tls_ca_file=pki.local.ca_file, tls_cert_file=pki.other_cert_file, tls_key_file=pki.other_key_file
        )
        assert await refused(address, intruder) == grpc.StatusCode.UNAVAILABLE


async def test_server_name_override_checks_the_certificate_against_that_name(pki: Pki) -> None:
    server = Settings(
        grpc_port=0, metrics_port=0, tls_cert_file=pki.named_cert_file, tls_key_file=pki.named_key_file
    )
    ca = pki.named_ca_file
    async with probe_server(server) as address:
        # the certificate names foundry-ingestion.internal, not 127.0.0.1
        assert await refused(address, Settings(tls_ca_file=ca)) == grpc.StatusCode.UNAVAILABLE
        named = Settings(tls_ca_file=ca, tls_server_name="foundry-ingestion.internal")
        assert await echo(address, named) == b"ping"


async def test_the_typed_client_works_over_mutual_tls(
    pki: Pki, make_settings: Callable[..., Settings]
) -> None:
    base = make_settings(
        tls_cert_file=pki.local.server_cert_file,
        tls_key_file=pki.local.server_key_file,
        tls_ca_file=pki.local.ca_file,
        tls_client_auth=True,
    )
    async with ingestion_server(base) as (server, _):
        address = f"127.0.0.1:{server.port}"
        with IngestionClient(cli(pki), address) as client:
            assert await asyncio.to_thread(client.all_datasets) == []
        no_cert = ca_only(pki).model_copy(update={"client_max_attempts": 1})
        with IngestionClient(no_cert, address) as client, pytest.raises(UnavailableError):
            await asyncio.to_thread(client.all_datasets)  # no client certificate: the handshake fails


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"FOUNDRY_TLS_CERT_FILE": "{cert}"}, "both FOUNDRY_TLS_CERT_FILE and FOUNDRY_TLS_KEY_FILE"),
        (
            {"FOUNDRY_TLS_CLIENT_AUTH": "true"},
            "FOUNDRY_TLS_CLIENT_AUTH (mutual TLS) needs FOUNDRY_TLS_CA_FILE",
        ),
        (
            {"FOUNDRY_TLS_CERT_FILE": "{cert}", "FOUNDRY_TLS_KEY_FILE": "/nonexistent/key.pem"},
            "FOUNDRY_TLS_KEY_FILE=/nonexistent/key.pem: not a readable file",
        ),
    ],
)
def test_a_service_with_bad_tls_settings_refuses_to_start_in_one_line(
    pki: Pki, env: dict[str, str], says: str
) -> None:
    values = {k: v.format(cert=pki.local.server_cert_file) for k, v in env.items()}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FOUNDRY_")}
    proc = subprocess.run(
        [sys.executable, "-m", "foundry.labeling"],
        env={**clean, **values, "FOUNDRY_GRPC_PORT": "0", "FOUNDRY_METRICS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("refusing to start: ") and says in lines[0], proc.stderr


async def test_the_plaintext_health_port_serves_health_alone(pki: Pki) -> None:
    """For probes that cannot speak TLS (the kubelet's): grpc.health.v1, and nothing else."""
    settings = serving(pki, mutual=True).model_copy(update={"health_port": 0})
    server = FoundryServer(settings, probe_service.definition())
    await server.start()
    try:
        assert server.health_port
        health_address = f"127.0.0.1:{server.health_port}"
        assert await asyncio.to_thread(health_status, health_address, Settings()) == "SERVING"
        assert (
            await asyncio.to_thread(health_status, health_address, Settings(), probe_service.SERVICE)
            == "SERVING"
        )
        assert await refused(health_address, Settings()) == grpc.StatusCode.UNIMPLEMENTED
        await server.drain(0)
        assert await asyncio.to_thread(health_status, health_address, Settings()) == "UNREACHABLE"
    finally:
        await server.drain(0)
