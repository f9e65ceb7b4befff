"""README.md stays true: its configuration table names every setting, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from foundry.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_table_matches_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `FOUNDRY_([A-Z0-9_]+)` \|", readme, flags=re.M))
    expected = {name.upper() for name in Settings.model_fields}
    assert documented == expected, (sorted(expected - documented), sorted(documented - expected))


def test_makefile_targets_named_in_readme_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.M))
    named = set(re.findall(r"(?:^|`)make ([a-z][a-z0-9-]*)", (ROOT / "README.md").read_text(), flags=re.M))
    assert {"demo", "test"} <= named
    assert named <= targets, named - targets
