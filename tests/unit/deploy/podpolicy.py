"""Checks every pod the deployment runs must pass (rendered manifests and the trainer Jobs the
executor builds alike): the restricted Pod Security Standard, a read-only root filesystem,
resources, probes, pinned images. Each returns a list of problems (empty: fine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes_validate

#: the Kubernetes versions objects are validated against (oldest supported, newest)
K8S_VERSIONS = ("1.33.0", "1.37.0")
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


def validate(obj: dict[str, Any]) -> None:
    """`kubernetes-validate --strict` for every version in K8S_VERSIONS (raises on a problem)."""
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(`Kind/name`, pod spec) of every object that runs pods."""
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        spec = obj.get("spec", {})
        if kind in LONG_RUNNING or kind == "Job":
            yield f"{kind}/{name}", spec["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "PyTorchJob":
            for role, replica in spec["pytorchReplicaSpecs"].items():
                yield f"{kind}/{name}/{role}", replica["template"]["spec"]


def image_problems(image: str) -> list[str]:
    repo_and_tag = image.split("@", 1)[0]
    last = repo_and_tag.rsplit("/", 1)[-1]
    if ":" not in last:
        return [f"image {image} has no tag"]
    if last.rsplit(":", 1)[1] == "latest":
        return [f"image {image} uses the latest tag"]
    return []


def pod_problems(where: str, pod: dict[str, Any], *, long_running: bool) -> list[str]:
    problems = []
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile is not RuntimeDefault")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        problems.append(f"{where}: uses host namespaces")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for volume in volumes.values():
        allowed = {
            "name",
            "emptyDir",
            "configMap",
            "secret",
            "persistentVolumeClaim",
            "projected",
            "downwardAPI",
        }
        if set(volume) - allowed:
            problems.append(f"{where}: volume {volume['name']} is of a kind restricted forbids")
    for container in pod.get("initContainers", []) + pod["containers"]:
        at = f"{where}/{container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append(f"{at}: capabilities are not drop [ALL]")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{at}: root filesystem is not read-only")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        if sc.get("runAsUser") == 0 or security.get("runAsUser") == 0:
            problems.append(f"{at}: runs as root")
        if "seccompProfile" in sc and sc["seccompProfile"].get("type") != "RuntimeDefault":
            problems.append(f"{at}: seccompProfile is not RuntimeDefault")
        resources = container.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(part, {}):
                    problems.append(f"{at}: no {resource} {part}")
        problems += [f"{at}: {p}" for p in image_problems(container["image"])]
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        if "/tmp" not in mounts or "emptyDir" not in volumes.get(mounts["/tmp"], {}):
            problems.append(f"{at}: no writable emptyDir at /tmp")
        if long_running:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in container:
                    problems.append(f"{at}: no {probe}")
    return problems
