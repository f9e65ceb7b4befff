"""A model version's serving bundle, fetched from the object store into a local disk cache.

A bundle is what serving needs and nothing more: the ONNX graph of the chosen variant
(`onnx/model.onnx` fp32 or `onnx/model.int8.onnx`), the tokenizer (`hf/tokenizer.json`, run
with the `tokenizers` library), the label map (the manifest's `id_to_label`, checked against
`label_map.json`), and the pre/post-processing settings from the training spec (sequence length,
multi-label threshold). The Hugging Face weights stay in the store.

Every file is downloaded by `ObjectStore.get_file` with the manifest's sha256 (verified while it
streams) into `<cache>/<name>/<version_id>/<path>`; a cached file is reused only when its sha256
still matches, so a corrupted cache heals itself and a tampered store object is refused
(`CorruptionError`, DATA_LOSS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from foundry.domain.modelversions import ModelArtifact, ModelVersion, get_model_version
from foundry.domain.textnorm import NormalizationOptions
from foundry.runtime.errors import FailedPreconditionError, NotFoundError
from foundry.runtime.examples import Task
from foundry.runtime.hashing import file_sha256
from foundry.runtime.objectstore import ObjectStore

#: the file names of the fp32 and int8 ONNX graphs (under `onnx/` in a model version)
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_PATH = "hf/tokenizer.json"
CONFIG_PATH = "hf/config.json"
LABEL_MAP_PATH = "label_map.json"
DEFAULT_SEQUENCE_LENGTH = 128
SERVED_TASKS = (Task.TOKEN_CLASSIFICATION, Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION)


class Variant(StrEnum):
    """Which ONNX graph of a version is served."""

    FP32 = "fp32"
    INT8 = "int8"

    @property
    def onnx_path(self) -> str:
        return "onnx/" + (FP32_FILE if self is Variant.FP32 else INT8_FILE)


@dataclass(frozen=True)
class ModelBundle:
    """A fetched, verified bundle on local disk."""

    name: str
    version_id: str
    variant: Variant
    task: Task
    labels: tuple[str, ...]
    onnx_path: Path
    tokenizer_path: Path
    #: longest sequence the model reads, special tokens included (the training sequence length)
    max_seq_length: int
    multilabel_threshold: float
    manifest: ModelVersion

    @property
    def normalization(self) -> NormalizationOptions | None:
        """The text normalization of the data the model was trained on (None: none recorded)."""
        raw = self.manifest.normalization
        return None if raw is None else NormalizationOptions.from_dict(raw)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version_id[:12]}:{self.variant.value}"


def fetch_bundle(
    store: ObjectStore, name: str, version_id: str, variant: Variant, cache_dir: Path
) -> ModelBundle:
    """Resolve `name@version_id` (empty: the latest promoted version) and fetch its bundle."""
    manifest = get_model_version(store, name, version_id, verify_artifacts=False)
    task = Task(manifest.task)
    if task not in SERVED_TASKS:
        raise FailedPreconditionError(
            f"model {name}@{manifest.version_id[:12]} is a {task.value} model; Predict serves "
            "token and text classification",
            reason="TASK_NOT_SERVED",
        )
    folder = cache_dir / manifest.name / manifest.version_id
    paths = {}
    for path in (variant.onnx_path, TOKENIZER_PATH, CONFIG_PATH, LABEL_MAP_PATH):
        try:
            artifact = manifest.artifact(path)
        except NotFoundError as exc:
            raise FailedPreconditionError(
                f"model version {name}@{manifest.version_id[:12]} has no {path} (variant {variant.value})",
                reason="VARIANT_NOT_EXPORTED" if path.startswith("onnx/") else "BUNDLE_INCOMPLETE",
            ) from exc
        paths[path] = fetch_artifact(store, artifact, folder / path)
    stored_labels = json.loads(paths[LABEL_MAP_PATH].read_text("utf-8"))["labels"]
    if list(stored_labels) != list(manifest.id_to_label):
        raise FailedPreconditionError(
            f"label_map.json of {name}@{manifest.version_id[:12]} disagrees with its manifest",
            reason="BUNDLE_INCONSISTENT",
        )
    config: dict[str, Any] = json.loads(paths[CONFIG_PATH].read_text("utf-8"))
    spec = manifest.spec
    max_len = int(spec.get("max_seq_length") or DEFAULT_SEQUENCE_LENGTH)
    max_len = min(max_len, int(config.get("max_position_embeddings", max_len)))
    return ModelBundle(
        name=manifest.name,
        version_id=manifest.version_id,
        variant=variant,
        task=task,
        labels=tuple(manifest.id_to_label),
        onnx_path=paths[variant.onnx_path],
        tokenizer_path=paths[TOKENIZER_PATH],
        max_seq_length=max_len,
        multilabel_threshold=float(spec.get("multilabel_threshold", 0.5)),
        manifest=manifest,
    )


def fetch_artifact(store: ObjectStore, artifact: ModelArtifact, target: Path) -> Path:
    """`target`, downloaded (sha256-verified) unless a file with the right sha256 is there."""
    if (
        target.is_file()
        and target.stat().st_size == artifact.size_bytes
        and file_sha256(target) == artifact.sha256
    ):
        return target
    store.get_file(artifact.key, target, expected_sha256=artifact.sha256)
    return target


__all__ = ["FP32_FILE", "INT8_FILE", "ModelBundle", "Variant", "fetch_artifact", "fetch_bundle"]
