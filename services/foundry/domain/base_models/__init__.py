"""Base models: local Hugging Face model folders imported into the object store.

There is no model hub: training starts from base models imported here (the `ImportBaseModel`
RPC streams a folder to the service, which calls `import_base_model`).

- `import_base_model(store, name, folder, source=...)`: validate the folder (safetensors
  weights only, `config.json` and a fast `tokenizer.json` required), upload its files under
  `base-models/<name>/<version_id>/files/`, write the manifest last. The version id is the
  sha256 over the files' paths and sha256s.
- `get_base_model(store, name, version_id="")` (latest when empty), `list_base_models(store,
  name=None)`: manifests read back with their version id checked against their files.
- `materialize(store, manifest, cache_dir) -> Path`: the files in a local folder, downloaded and
  verified by sha256, reused when already present and intact.

Modules: `manifest` (record, keys, version id), `weights` (safetensors-only checks), `folder`
(scanning a local folder), `store` (import, get, list), `cache` (materialize).
"""

from foundry.domain.base_models.cache import is_verified, materialize
from foundry.domain.base_models.folder import ScannedFolder, scan_model_folder
from foundry.domain.base_models.manifest import (
    BASE_MODELS_PREFIX,
    BaseModelFile,
    BaseModelManifest,
    compute_version_id,
    file_key,
    manifest_key,
    validate_base_model_name,
    validate_base_model_version_id,
)
from foundry.domain.base_models.store import get_base_model, import_base_model, list_base_models

__all__ = [
    "BASE_MODELS_PREFIX",
    "BaseModelFile",
    "BaseModelManifest",
    "ScannedFolder",
    "compute_version_id",
    "file_key",
    "get_base_model",
    "import_base_model",
    "is_verified",
    "list_base_models",
    "manifest_key",
    "materialize",
    "scan_model_folder",
    "validate_base_model_name",
    "validate_base_model_version_id",
]
