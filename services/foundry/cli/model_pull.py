"""`foundry models pull NAME[@VERSION] DIR`: a model version's artifacts (checkpoint, tokenizer,
ONNX graphs, label map, metrics report, curves, parity report) downloaded into a folder.

The manifest comes from the training service (`GetModel`); every artifact is read from the
object store through `ObjectStore.iter_chunks`, which checks the bytes against the sha256
recorded when they were written and against the manifest's (`ArtifactRef.sha256`) before the last
chunk is handed out. Each file is written next to its place and renamed into it only once
verified, so nothing unverified ever appears under DIR. Paths keep the bundle's layout
(`onnx/model.onnx`, `checkpoint/...`); a path that would leave DIR is refused.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from foundry.api.common.v1 import artifact_pb2, model_pb2
from foundry.runtime.errors import CorruptionError, FieldViolation, InvalidArgumentError
from foundry.runtime.objectstore import ObjectStore


@dataclass(frozen=True, slots=True)
class Pulled:
    """One downloaded artifact."""

    path: Path
    kind: str
    size_bytes: int
    sha256: str


def kind_name(kind: int) -> str:
    """`ARTIFACT_KIND_ONNX_FP32` → "onnx_fp32"."""
    return artifact_pb2.ArtifactKind.Name(kind).removeprefix("ARTIFACT_KIND_").lower()  # type: ignore[arg-type]


def kind_names() -> list[str]:
    return [
        kind_name(v)
        for v in artifact_pb2.ArtifactKind.values()
        if v != artifact_pb2.ARTIFACT_KIND_UNSPECIFIED
    ]


def selected(version: model_pb2.ModelVersion, kinds: Sequence[str]) -> list[model_pb2.ModelArtifact]:
    """The version's artifacts of the given kinds (all of them for none); `InvalidArgumentError`
    for an unknown kind."""
    known = kind_names()
    unknown = [k for k in kinds if k not in known]
    if unknown:
        raise InvalidArgumentError(
            f"unknown artifact kind {unknown[0]!r}; one of {', '.join(known)}",
            violations=[FieldViolation("--kind", unknown[0])],
        )
    return [a for a in version.artifacts if not kinds or kind_name(a.kind) in kinds]


def target_path(folder: Path, artifact_path: str) -> Path:
    """Where an artifact goes under `folder`; `InvalidArgumentError` for a path that leaves it."""
    relative = PurePosixPath(artifact_path)
    if not artifact_path or relative.is_absolute() or ".." in relative.parts:
        raise InvalidArgumentError(
            f"artifact path {artifact_path!r} would leave the target folder",
            violations=[FieldViolation("artifacts.path", artifact_path)],
        )
    return folder.joinpath(*relative.parts)


def pull(
    store: ObjectStore,
    console: Console,
    version: model_pb2.ModelVersion,
    folder: Path,
    kinds: Sequence[str] = (),
) -> list[Pulled]:
    """Download the selected artifacts of `version` into `folder`, verified, with a progress bar."""
    artifacts = selected(version, kinds)
    targets = [target_path(folder, a.path) for a in artifacts]
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    pulled: list[Pulled] = []
    with Progress(*columns, console=console, transient=True) as progress:
        total = progress.add_task(
            f"{version.name}@{version.version_id[:12]}", total=sum(a.ref.size_bytes for a in artifacts)
        )
        for artifact, target in zip(artifacts, targets, strict=True):
            progress.update(total, description=artifact.path)
            pulled.append(_pull_one(store, artifact, target, lambda n: progress.advance(total, n)))
    return pulled


def _pull_one(
    store: ObjectStore, artifact: model_pb2.ModelArtifact, target: Path, advance: Callable[[int], None]
) -> Pulled:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    digest, size = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as handle:
            for chunk in store.iter_chunks(artifact.ref.key, expected_sha256=artifact.ref.sha256):
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)
                advance(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())
        if digest.hexdigest() != artifact.ref.sha256:  # the store checked it; this checks the file
            raise CorruptionError(
                f"{artifact.path}: the bytes written hash to {digest.hexdigest()}, the manifest says "
                f"{artifact.ref.sha256}",
                reason="OBJECT_HASH_MISMATCH",
                metadata={"key": artifact.ref.key},
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return Pulled(target, kind_name(artifact.kind), size, artifact.ref.sha256)


__all__ = ["Pulled", "kind_name", "kind_names", "pull", "selected", "target_path"]
