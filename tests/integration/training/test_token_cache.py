"""The tokenization cache against a real S3 server: miss, hit, separate keys, tampering."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from minio import Minio
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from foundry.runtime.datasets import write_dataset_version
from foundry.runtime.errors import CorruptionError, FailedPreconditionError
from foundry.runtime.examples import Example, Split, Task
from foundry.runtime.manifest import DatasetManifest
from foundry.runtime.objectstore import ObjectStore
from foundry.runtime.settings import Settings
from foundry.training.data import EncodedSplit, Overflow, TokenizerInfo, label_map_for, load_or_encode
from foundry.training.data.cache import cache_key, cache_object_key, load_cached

WNUT_DEV = Path(__file__).resolve().parents[3] / "examples" / "data" / "wnut17" / "emerging.dev.conll"
SPLITS = (Split.TRAIN, Split.VALIDATION)


def read_examples(limit: int) -> list[Example]:
    examples: list[Example] = []
    words: list[str] = []
    tags: list[str] = []
    for line in WNUT_DEV.read_text(encoding="utf-8").splitlines():
        if line.strip():
            word, tag = line.rsplit("\t", 1)
            words.append(word)
            tags.append(tag)
        elif words:
            split = SPLITS[len(examples) % 4 == 3]
            examples.append(Example(id=f"dev-{len(examples)}", split=split, tokens=words, tags=tags))
            words, tags = [], []
            if len(examples) == limit:
                break
    return examples


@pytest.fixture(scope="module")
def examples() -> list[Example]:
    return read_examples(200)


@pytest.fixture(scope="module")
def tokenizer(examples: list[Example]) -> TokenizerInfo:
    counts = Counter(word.lower() for e in examples for word in e.tokens or ())
    chars = sorted({ch for word in counts for ch in word})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *sorted(w for w, n in counts.items() if n >= 3)]
    vocab += [*chars, *(f"##{ch}" for ch in chars)]
    backend = Tokenizer(
        models.WordPiece({t: i for i, t in enumerate(dict.fromkeys(vocab))}, unk_token="[UNK]")
    )
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return TokenizerInfo.of(backend)


@pytest.fixture
def manifest(store: ObjectStore, examples: list[Example]) -> DatasetManifest:
    types = sorted({tag[2:] for e in examples for tag in e.tags or () if tag != "O"})
    return write_dataset_version(store, "wnut-slice", Task.TOKEN_CLASSIFICATION, examples, label_set=types)


def assert_same(a: EncodedSplit, b: EncodedSplit) -> None:
    assert a.example_ids == b.example_ids and a.task is b.task and a.max_length == b.max_length
    for name in ("input_ids", "offsets", "labels", "word_ids", "row_example", "word_labels", "word_offsets"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_second_load_is_a_hit_with_identical_arrays(
    store: ObjectStore, manifest: DatasetManifest, tokenizer: TokenizerInfo, examples: list[Example]
) -> None:
    label_map = label_map_for(manifest.task, manifest.label_set)
    first, hit = load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, label_map)
    assert not hit
    assert first.num_examples == sum(e.split is Split.TRAIN for e in examples)
    second, hit = load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, label_map)
    assert hit
    assert_same(first, second)
    key = cache_key(manifest.version_id, tokenizer, 32, label_map, Overflow.WINDOW)
    assert store.keys("cache/tokenized/") == [cache_object_key(manifest.version_id, key, Split.TRAIN)]

    # another split, max length or overflow is another cache entry
    validation, hit = load_or_encode(store, manifest, Split.VALIDATION, tokenizer, 32, label_map)
    assert not hit and validation.num_examples == sum(e.split is Split.VALIDATION for e in examples)
    assert not load_or_encode(store, manifest, Split.TRAIN, tokenizer, 16, label_map)[1]
    assert not load_or_encode(
        store, manifest, Split.TRAIN, tokenizer, 32, label_map, overflow=Overflow.TRUNCATE
    )[1]
    assert store.count("cache/tokenized/") == 4


def test_a_tampered_cache_object_is_detected(
    store: ObjectStore,
    settings: Settings,
    manifest: DatasetManifest,
    tokenizer: TokenizerInfo,
    plain_s3: Minio,
) -> None:
    label_map = label_map_for(manifest.task, manifest.label_set)
    original, _ = load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, label_map)
    key = cache_key(manifest.version_id, tokenizer, 32, label_map, Overflow.WINDOW)
    object_key = cache_object_key(manifest.version_id, key, Split.TRAIN)
    recorded = store.stat(object_key).sha256
    assert recorded is not None

    # someone rewrites the object behind the store's back, keeping the recorded sha256
    forged = bytearray(store.get_bytes(object_key))
    forged[len(forged) // 2] ^= 0xFF
    plain_s3.put_object(
        settings.s3_bucket, object_key, io.BytesIO(bytes(forged)), len(forged), metadata={"sha256": recorded}
    )
    with pytest.raises(CorruptionError, match="tokenized"):
        load_cached(store, manifest.version_id, key, Split.TRAIN)
    with pytest.raises(CorruptionError):
        load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, label_map, rebuild_corrupt=False)

    # by default the cache heals: encoded again, stored again, then a hit
    rebuilt, hit = load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, label_map)
    assert not hit
    assert_same(rebuilt, original)
    assert load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, label_map)[1]

    # well-formed bytes stored under another encoding's key are caught too
    other_key = cache_key(manifest.version_id, tokenizer, 64, label_map, Overflow.WINDOW)
    store.put_bytes(
        cache_object_key(manifest.version_id, other_key, Split.TRAIN), store.get_bytes(object_key)
    )
    with pytest.raises(CorruptionError, match="another encoding"):
        load_cached(store, manifest.version_id, other_key, Split.TRAIN)


def test_a_dataset_of_another_task_is_refused(
    store: ObjectStore, manifest: DatasetManifest, tokenizer: TokenizerInfo
) -> None:
    text_map = label_map_for(Task.TEXT_CLASSIFICATION, ["a", "b"])
    with pytest.raises(FailedPreconditionError, match="token_classification"):
        load_or_encode(store, manifest, Split.TRAIN, tokenizer, 32, text_map)
