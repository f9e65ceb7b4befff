"""A chat model version's generation bundle, fetched from the object store into a local cache.

What generation needs and nothing more: the ONNX graph of the chosen variant (`onnx/model.onnx`
or `onnx/model.int8.onnx`, with the key/value cache contract of
`foundry.domain.causallm`) and, from the
Hugging Face checkpoint, `hf/tokenizer.json`, `hf/tokenizer_config.json`,
`hf/generation_config.json`, `hf/config.json` and `hf/chat_template.jinja` when the version has
it. Each file is downloaded by `ObjectStore.get_file` against the manifest's sha256 into
`<cache>/<name>/<version_id>/`; a cached file is reused only while its sha256 still matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foundry.domain.bundle import Variant, fetch_artifact
from foundry.domain.modelversions import get_model_version
from foundry.inference.generation.chat import (
    CHAT_TEMPLATE_FILE,
    CONFIG_FILE,
    GENERATION_CONFIG_FILE,
    TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
)
from foundry.runtime.errors import FailedPreconditionError
from foundry.runtime.examples import Task
from foundry.runtime.objectstore import ObjectStore

HF = "hf/"
REQUIRED = (TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, GENERATION_CONFIG_FILE, CONFIG_FILE)
OPTIONAL = (CHAT_TEMPLATE_FILE,)
ONNX_FILE = "model.onnx"


@dataclass(frozen=True, slots=True)
class ChatBundle:
    """A fetched, verified generation bundle: `folder` holds `model.onnx` (the chosen variant)
    and the tokenizer files."""

    name: str
    version_id: str
    variant: Variant
    folder: Path

    @property
    def onnx_path(self) -> Path:
        return self.folder / ONNX_FILE


def fetch_chat_bundle(
    store: ObjectStore, name: str, version_id: str, variant: Variant, cache_dir: Path
) -> ChatBundle:
    """Resolve `name@version_id` (empty: the latest promoted version) and fetch its bundle."""
    manifest = get_model_version(store, name, version_id, verify_artifacts=False)
    short = f"{manifest.name}@{manifest.version_id[:12]}"
    if manifest.task != Task.CHAT.value:
        raise FailedPreconditionError(
            f"model {short} is a {manifest.task} model; Generate serves chat models", reason="TASK_NOT_SERVED"
        )
    folder = cache_dir / manifest.name / manifest.version_id / f"generate-{variant.value}"
    by_path = {a.path: a for a in manifest.artifacts}
    wanted = {variant.onnx_path: ONNX_FILE} | {HF + f: f for f in REQUIRED}
    wanted |= {HF + f: f for f in OPTIONAL if HF + f in by_path}
    for path, local in wanted.items():
        artifact = by_path.get(path)
        if artifact is None:
            raise FailedPreconditionError(
                f"model version {short} has no {path} (variant {variant.value})",
                reason="VARIANT_NOT_EXPORTED" if path.startswith("onnx/") else "BUNDLE_INCOMPLETE",
            )
        fetch_artifact(store, artifact, folder / local)
    return ChatBundle(manifest.name, manifest.version_id, variant, folder)


__all__ = ["ONNX_FILE", "ChatBundle", "fetch_chat_bundle"]
