"""requirements/*.txt: every lock pins, with hashes, a version of every package pyproject.toml asks for.

A pyproject.toml edited without `make lock` fails here (a new dependency missing from a lock, or a
locked version its new range no longer allows), not on a fresh clone.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
sys.path.insert(0, str(ROOT / "tools"))
from lock import SETS, WITH_TORCH  # noqa: E402

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def locked(name: str) -> dict[str, Version]:
    """name -> version for every pin of requirements/NAME.txt; each pin carries a sha256 hash."""
    text = (LOCKS / f"{name}.txt").read_text()
    pins: dict[str, Version] = {}
    for block in re.split(r"\n(?=\S)", text):
        if match := PIN.match(block):
            assert "--hash=sha256:" in block, f"{name}.txt: {match[1]} has no hash"
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def wanted(extras: list[str]) -> list[Requirement]:
    """The direct requirements of the project with `extras` (self-references expanded)."""
    todo, seen, out = list(extras), set(), [Requirement(r) for r in PROJECT["dependencies"]]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for line in PROJECT["optional-dependencies"][extra]:
            req = Requirement(line)
            if canonicalize_name(req.name) == canonicalize_name(PROJECT["name"]):
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


@pytest.mark.parametrize("name", list(SETS))
def test_lock_satisfies_pyproject(name: str) -> None:
    extras, extra_lines = SETS[name]
    pins = locked(name)
    assert "torch" not in pins  # installed first from TORCH_SPEC
    for req in [*wanted(extras), *(Requirement(line) for line in extra_lines)]:
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(req.name)
        if key == "torch":
            assert name in WITH_TORCH
            continue
        assert key in pins, f"requirements/{name}.txt lacks {req}: run `make lock`"
        assert req.specifier.contains(pins[key], prereleases=True), (
            f"requirements/{name}.txt pins {key}=={pins[key]}, outside {req}: run `make lock`"
        )


def test_image_locks_agree_with_the_dev_lock() -> None:
    dev = locked("dev")
    for name in SETS:
        for key, version in locked(name).items():
            if key in dev:
                assert version == dev[key], f"{name}.txt pins {key}=={version}, dev.txt {dev[key]}"
