"""The ingestion service's settings: the shared ones and its own (`FOUNDRY_PII_SECRET`,
`FOUNDRY_INGEST_*`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from foundry.runtime.settings import Settings


class IngestionSettings(Settings):
    """Every knob of the ingestion service. Units are in the names."""

    pii_secret: SecretStr = Field(
        SecretStr("foundry-dev-pii-secret"),
        description="key of the consistent PII pseudonyms (HMAC); set your own in production",
    )
    ingest_max_upload_bytes: int = Field(4 * 1024**3, gt=0, description="largest upload, all files together")
    ingest_work_dir: Path | None = Field(
        None, description="local scratch for uploads; None: the system temp dir"
    )
