"""Reading and validating a local Hugging Face model folder before it is imported.

`scan_model_folder` walks the folder (hidden files and folders such as `.git` and
`.gitattributes` are skipped; symbolic links to files are followed, links to folders are not)
and checks everything before a byte is uploaded, reporting every problem at once as one
`InvalidArgumentError` whose field violations name the files:

- weights in safetensors only: pickle-based and other weight formats are refused
  (`foundry.domain.base_models.weights`), and at least one `.safetensors` file must be present,
  each with a well-formed header; a sharded index must name only shards that exist;
- `config.json`: present, a JSON object with a `model_type`;
- `tokenizer.json`: present and loadable by the `tokenizers` library (a fast tokenizer);
- every path is usable as part of an object key.

What it returns describes the model for its manifest: the files with their sha256 and size,
the config, the parameter count (from the safetensors headers) and the tokenizer's vocabulary
size.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from foundry.domain.base_models.weights import (
    SAFETENSORS_SUFFIX,
    refused_format,
    safetensors_parameter_count,
)
from foundry.runtime.errors import FieldViolation, InvalidArgumentError
from foundry.runtime.examples import Task
from foundry.runtime.hashing import file_sha256
from foundry.runtime.keys import key_problem

CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
SHARD_INDEX_SUFFIX = ".safetensors.index.json"
#: model types that are decoders (fine-tuned for chat); everything else is taken for an encoder
DECODER_MODEL_TYPES = frozenset(
    {"gpt2", "gpt_neox", "gptj", "llama", "mistral", "mixtral", "qwen2", "qwen3", "phi", "phi3", "gemma"}
    | {"gemma2", "gemma3", "gemma3_text", "olmo", "olmo2", "opt", "bloom", "falcon", "smollm3", "granite"}
)
ENCODER_TASKS = (Task.TEXT_CLASSIFICATION, Task.MULTILABEL_CLASSIFICATION, Task.TOKEN_CLASSIFICATION)

_MEDIA_TYPES = {".json": "application/json", ".txt": "text/plain", ".md": "text/markdown"}


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One file of the folder: its key-safe relative path, where it is, its sha256 and size."""

    path: str
    local_path: Path
    sha256: str
    size_bytes: int

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES.get(Path(self.path).suffix.lower(), "application/octet-stream")


@dataclass(frozen=True, slots=True)
class ScannedFolder:
    """A validated model folder and what its manifest says about it."""

    files: list[LocalFile]
    config: dict[str, Any]
    model_type: str
    architectures: list[str]
    num_parameters: int
    vocab_size: int
    max_position_embeddings: int
    has_chat_template: bool
    tasks: list[Task]


def scan_model_folder(folder: str | Path) -> ScannedFolder:
    """Validate `folder` and describe it; `InvalidArgumentError` lists every problem found."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidArgumentError(
            f"model folder {str(root)!r} does not exist or is not a folder",
            reason="MODEL_FOLDER_NOT_FOUND",
            violations=[FieldViolation("folder", f"{str(root)!r} is not a folder")],
        )
    paths = _walk(root)
    violations: list[FieldViolation] = []
    for rel in paths:
        if (problem := key_problem(rel)) is not None:
            violations.append(FieldViolation(f"files[{rel}]", f"unusable file name: {problem}"))
        elif (kind := refused_format(root / rel)) is not None:
            violations.append(
                FieldViolation(
                    f"files[{rel}]",
                    f"{rel} is {kind}; weights are accepted in safetensors format only "
                    "(pickle-based files can run code when loaded): convert it to .safetensors",
                )
            )
    num_parameters = _check_weights(root, paths, violations)
    config = _read_config(root, paths, violations)
    vocab_size = _read_tokenizer(root, paths, violations)
    if violations:
        names = ", ".join(v.field for v in violations[:5])
        raise InvalidArgumentError(
            f"model folder {str(root)!r} cannot be imported ({names})",
            reason="INVALID_MODEL_FOLDER",
            violations=violations,
        )
    files = [_describe(root, rel) for rel in paths]
    model_type = str(config["model_type"])
    architectures = [str(a) for a in config.get("architectures") or []]
    return ScannedFolder(
        files=files,
        config=config,
        model_type=model_type,
        architectures=architectures,
        num_parameters=num_parameters,
        vocab_size=vocab_size,
        max_position_embeddings=int(config.get("max_position_embeddings") or config.get("n_positions") or 0),
        has_chat_template=_has_chat_template(root, paths),
        tasks=_tasks_for(config, model_type, architectures),
    )


def _walk(root: Path) -> list[str]:
    """Relative POSIX paths of the regular files under `root`, sorted; hidden entries skipped."""
    found: list[str] = []
    for directory, subdirs, names in os.walk(root, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in names:
            full = Path(directory) / name
            if not name.startswith(".") and full.is_file():
                found.append(full.relative_to(root).as_posix())
    return sorted(found)


def _check_weights(root: Path, paths: list[str], violations: list[FieldViolation]) -> int:
    """Validate the safetensors files and any shard index; return the parameter count."""
    weights = [p for p in paths if p.endswith(SAFETENSORS_SUFFIX)]
    if not weights:
        violations.append(
            FieldViolation("files", "no .safetensors weights found (model.safetensors or shards)")
        )
    total = 0
    for rel in weights:
        try:
            total += safetensors_parameter_count(root / rel)
        except (ValueError, UnicodeDecodeError) as exc:
            violations.append(FieldViolation(f"files[{rel}]", f"not a valid safetensors file: {exc}"))
    present = set(paths)
    for index in (p for p in paths if p.endswith(SHARD_INDEX_SUFFIX)):
        try:
            weight_map = json.loads((root / index).read_text(encoding="utf-8"))["weight_map"]
            shards = {str(s) for s in weight_map.values()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            violations.append(FieldViolation(f"files[{index}]", f"not a valid shard index: {exc}"))
            continue
        base = Path(index).parent
        for shard in sorted(shards):
            if (base / shard).as_posix() not in present:
                violations.append(
                    FieldViolation(f"files[{index}]", f"names shard {shard!r}, which is missing")
                )
    return total


def _read_config(root: Path, paths: list[str], violations: list[FieldViolation]) -> dict[str, Any]:
    if CONFIG_FILE not in paths:
        violations.append(FieldViolation(f"files[{CONFIG_FILE}]", "config.json is required"))
        return {}
    try:
        config = json.loads((root / CONFIG_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        violations.append(FieldViolation(f"files[{CONFIG_FILE}]", f"not valid JSON: {exc}"))
        return {}
    if not isinstance(config, dict) or not isinstance(config.get("model_type"), str):
        violations.append(FieldViolation(f"files[{CONFIG_FILE}]", "must be a JSON object with a model_type"))
        return {}
    return config


def _read_tokenizer(root: Path, paths: list[str], violations: list[FieldViolation]) -> int:
    if TOKENIZER_FILE not in paths:
        violations.append(
            FieldViolation(f"files[{TOKENIZER_FILE}]", "a fast tokenizer (tokenizer.json) is required")
        )
        return 0
    try:
        tokenizer = Tokenizer.from_file(str(root / TOKENIZER_FILE))
    except Exception as exc:  # the tokenizers library raises plain Exception on bad files
        violations.append(FieldViolation(f"files[{TOKENIZER_FILE}]", f"not a loadable fast tokenizer: {exc}"))
        return 0
    return int(tokenizer.get_vocab_size(with_added_tokens=True))


def _has_chat_template(root: Path, paths: list[str]) -> bool:
    if any(name in paths for name in CHAT_TEMPLATE_FILES):
        return True
    if TOKENIZER_CONFIG_FILE not in paths:
        return False
    try:
        tokenizer_config = json.loads((root / TOKENIZER_CONFIG_FILE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(tokenizer_config, dict) and bool(tokenizer_config.get("chat_template"))


def _tasks_for(config: dict[str, Any], model_type: str, architectures: list[str]) -> list[Task]:
    """Decoders are fine-tuned for chat, encoders for the classification tasks."""
    decoder = (
        bool(config.get("is_decoder"))
        or model_type in DECODER_MODEL_TYPES
        or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures)
    )
    return [Task.CHAT] if decoder else list(ENCODER_TASKS)


def _describe(root: Path, rel: str) -> LocalFile:
    local = root / rel
    return LocalFile(path=rel, local_path=local, sha256=file_sha256(local), size_bytes=local.stat().st_size)


__all__ = ["CONFIG_FILE", "TOKENIZER_FILE", "LocalFile", "ScannedFolder", "scan_model_folder"]
