"""The test S3 server's credentials and settings that talk to it (the fixtures in tests/conftest.py
use them; tests that start a server of their own do too)."""

from __future__ import annotations

import uuid
from pathlib import Path

from pydantic import SecretStr

from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.settings import Settings

S3_ACCESS_KEY = "foundry-test"
S3_SECRET_KEY = "foundry-test-secret-key"


def settings_for(server: SeaweedS3Server, home_dir: Path, **overrides: object) -> Settings:
    """Settings that talk to `server` with its credentials, in a fresh bucket; `overrides` win."""
    values: dict[str, object] = {
        "s3_endpoint": server.endpoint,
        "s3_access_key": S3_ACCESS_KEY,
        "s3_secret_key": SecretStr(S3_SECRET_KEY),
        "s3_bucket": f"test-{uuid.uuid4().hex[:16]}",
        "s3_secure": False,
        "s3_max_retries": 2,
        "s3_retry_backoff_s": 0.05,
        "home_dir": home_dir,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
