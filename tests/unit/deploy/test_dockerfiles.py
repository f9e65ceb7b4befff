"""deploy/docker: multi-stage, non-root, pinned images; the inference image carries no torch."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "deploy" / "docker"
ROLES = ("service", "inference", "trainer")
PINNED = re.compile(r"^[\w./-]+:\d[\w.-]*@sha256:[0-9a-f]{64}$")


def dockerfile(role: str) -> str:
    return (DOCKER / f"{role}.Dockerfile").read_text()


@pytest.mark.parametrize("role", ROLES)
def test_multi_stage_non_root_and_pinned(role: str) -> None:
    text = dockerfile(role)
    bases = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, flags=re.M)
    assert len(bases) == 1 and PINNED.match(bases[0]), bases  # version tag and digest
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, flags=re.M)
    assert [name for _, name in stages] == ["build", "runtime"]
    assert all(image == "${PYTHON_IMAGE}" for image, _ in stages)
    assert "COPY --from=build /opt/foundry /opt/foundry" in text
    users = re.findall(r"^USER (\S+)$", text, flags=re.M)
    assert users == ["10001:10001"]  # numeric: runAsNonRoot can verify it
    assert ":latest" not in text


def test_inference_image_installs_onnxruntime_gpu_and_refuses_torch() -> None:
    text = dockerfile("inference")
    assert "ARG LOCK=gpu" in text and "onnxruntime-gpu" in text
    assert "onnxruntime-gpu==" in (ROOT / "requirements" / "gpu.txt").read_text()
    assert "must not be in the inference image" in text  # the build fails if torch sneaks in
    assert "TORCH" not in text and not re.search(r"pip install[^\n]*torch", text)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = [*project["dependencies"], *project["optional-dependencies"]["gpu"]]
    assert not [d for d in installed if re.match(r"(torch|transformers)\b", d)]


def test_trainer_image_has_cuda_torch_and_the_service_image_cpu_torch() -> None:
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128" in dockerfile("trainer")
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in dockerfile("service")
    assert "ARG LOCK=service" in dockerfile("service")
    header = (ROOT / "requirements" / "service.txt").read_text().splitlines()[0]
    assert "[train,k8s,label]" in header  # k8s: the training control plane's executor


@pytest.mark.parametrize("role", ROLES)
def test_images_install_from_a_hashed_lock(role: str) -> None:
    text = dockerfile(role)
    (lock,) = re.findall(r"^ARG LOCK=(\w+)$", text, flags=re.M)
    assert (ROOT / "requirements" / f"{lock}.txt").is_file()
    assert '--no-deps --require-hashes -r "requirements/${LOCK}.txt"' in text
    assert not re.search(r"pip install [\"']?\.\[", text)  # nothing resolved at build time


def test_dockerignore_is_an_allow_list_for_every_image() -> None:
    texts = {(DOCKER / f"{role}.Dockerfile.dockerignore").read_text() for role in ROLES}
    assert len(texts) == 1
    lines = [line for line in texts.pop().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*" and {"!pyproject.toml", "!README.md", "!requirements/", "!services/"} <= set(lines)
