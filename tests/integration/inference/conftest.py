"""Fixtures of the inference tests (see inference_models.py and chat_models.py)."""

from chat_models import chat_models
from inference_models import models

__all__ = ["chat_models", "models"]
