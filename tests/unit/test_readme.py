"""README.md stays true: its configuration tables name every setting, each under the settings class
that holds it, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from foundry.augmentation.settings import AugmentationSettings
from foundry.inference.settings import InferenceSettings
from foundry.ingestion.settings import IngestionSettings
from foundry.labeling.settings import LabelingSettings
from foundry.runtime.settings import Settings
from foundry.training.settings import TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


SERVICE_SETTINGS = (
    IngestionSettings,
    AugmentationSettings,
    LabelingSettings,
    TrainingSettings,
    InferenceSettings,
)
ROW = re.compile(r"^\| `FOUNDRY_([A-Z0-9_]+)` \|", flags=re.M)


def _documented(text: str) -> set[str]:
    return set(ROW.findall(text))


def test_configuration_table_matches_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    expected = {name.upper() for cls in (Settings, *SERVICE_SETTINGS) for name in cls.model_fields}
    documented = _documented(readme)
    assert documented == expected, (sorted(expected - documented), sorted(documented - expected))


def test_each_settings_class_has_its_own_configuration_table() -> None:
    section = (ROOT / "README.md").read_text().split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    tables = {
        heading: _documented(body)
        for heading, body in re.findall(r"^### (.+)\n((?:(?!^### ).*\n)*)", section, flags=re.M)
    }
    for cls in (Settings, *SERVICE_SETTINGS):
        own = {
            name.upper() for name in cls.model_fields if cls is Settings or name not in Settings.model_fields
        }
        (heading,) = [h for h in tables if f"`{cls.__module__}.{cls.__name__}`" in h]
        assert tables[heading] == own, (heading, sorted(own - tables[heading]), sorted(tables[heading] - own))


def test_makefile_targets_named_in_readme_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    named = set(re.findall(r"(?:^|`)make ([a-z][a-z0-9-]*)", (ROOT / "README.md").read_text(), flags=re.M))
    assert {"demo", "test"} <= named
    assert named <= targets, named - targets
