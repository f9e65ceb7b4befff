"""What the ModelVersion manifest records about an exported file: its sha256 and size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundry.runtime.hashing import file_sha256

ONNX_MEDIA_TYPE = "application/onnx"


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """A file written by the export: where it is, its sha256 and size in bytes."""

    path: Path
    sha256: str
    size_bytes: int
    media_type: str = ONNX_MEDIA_TYPE


def describe_artifact(path: str | Path, media_type: str = ONNX_MEDIA_TYPE) -> ArtifactInfo:
    """Hash and measure the file at `path`."""
    file_path = Path(path)
    return ArtifactInfo(
        path=file_path,
        sha256=file_sha256(file_path),
        size_bytes=file_path.stat().st_size,
        media_type=media_type,
    )


__all__ = ["ONNX_MEDIA_TYPE", "ArtifactInfo", "describe_artifact"]
