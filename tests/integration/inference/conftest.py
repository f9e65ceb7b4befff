"""Fixtures of the inference tests (see inference_models.py)."""

from inference_models import models

__all__ = ["models"]
