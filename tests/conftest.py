"""Shared fixtures: one real S3 server (SeaweedFS) per test session, a bucket per test.

- `s3_server` (session): a started `SeaweedS3Server` on 127.0.0.1 in a temporary folder,
  stopped at the end of the session; started only if a test asks for it.
- `settings`: `Settings` pointing at that server with its credentials, a fresh bucket name per
  test, a temporary home dir, and short retries (2 retries, 50 ms backoff).
- `make_settings`: a factory for such settings with fields overridden (`make_settings(s3_...=)`).
- `store`: an `ObjectStore` for those settings whose bucket exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from minio import Minio

from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.settings import Settings
from helpers.s3 import S3_ACCESS_KEY, S3_SECRET_KEY, settings_for


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3Server]:
    """A real S3 server for the whole session."""
    server = SeaweedS3Server(
        tmp_path_factory.mktemp("seaweedfs"), access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY
    )
    server.start(timeout_s=60)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_settings(s3_server: SeaweedS3Server, tmp_path: Path) -> Callable[..., Settings]:
    """A factory: `make_settings(**overrides)` gives settings like `settings`, fields overridden."""
    return lambda **overrides: settings_for(s3_server, tmp_path / "home", **overrides)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Settings for the session's server and a bucket of this test's own."""
    return make_settings()


@pytest.fixture
def plain_s3(settings: Settings) -> Minio:
    """A second, ordinary S3 client on the same server: what someone bypassing ObjectStore (and
    tampering with its objects) would use."""
    assert settings.s3_endpoint
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=False,
        region=settings.s3_region,
    )


@pytest.fixture
def store(settings: Settings) -> ObjectStore:
    """An object store on this test's bucket (created)."""
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    return store


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's console (made at import) 250 columns wide for this test, so tables print whole.
    Its private `_width` is patched, not `width`: rich keeps a width once one is set, and undoing a
    patched `width` would pin the console to whatever width it had, for every later test."""
    from foundry.cli import console as cli_console

    monkeypatch.setattr(cli_console.console, "_width", 250)
