"""The labeling service's settings: the shared ones and its own (`FOUNDRY_LABELING_*`)."""

from __future__ import annotations

from pydantic import Field

from foundry.runtime.settings import Settings


class LabelingSettings(Settings):
    """Every knob of the labeling service. Units are in the names."""

    labeling_rule_timeout_ms: int = Field(
        200, ge=1, description="longest one regex labeling rule may run on one item"
    )
    labeling_inference_timeout_s: float = Field(
        300.0, gt=0, description="deadline of one LoadModel or Predict call to the inference service"
    )
