"""The augmentation tests reuse the inference tests' helpers: a real NER model version made by the
training worker (`inference_models.models`) and the inference service as it runs
(`served.served`). Those modules live beside the inference tests, in a folder without a package,
so its path is added here (pytest adds a test folder's own path the same way)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))

from inference_models import models

__all__ = ["models"]
