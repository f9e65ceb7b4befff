"""The augmentation service's settings: the shared ones and its own (`FOUNDRY_LLM_*`, the
endpoint of the LLM operators)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from foundry.runtime.settings import Settings


class AugmentationSettings(Settings):
    """Every knob of the augmentation service. Units are in the names."""

    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint (…/v1) of the LLM operators; None: they are unavailable"
    )
    llm_model: str = Field("default", description="model name sent to the LLM endpoint")
    llm_api_key: SecretStr | None = Field(None, description="bearer token of the LLM endpoint")
    llm_timeout_s: float = Field(60.0, gt=0, description="read timeout of one LLM request")
    llm_max_retries: int = Field(3, ge=0, description="retries of a failed LLM request (429, 5xx, network)")
    llm_retry_backoff_s: float = Field(
        0.5, ge=0, description="first retry's backoff ceiling, doubled per retry"
    )
    llm_max_concurrency: int = Field(8, ge=1, description="LLM requests in flight at once")
