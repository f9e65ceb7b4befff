"""sha256 helpers: bytes, files in chunks, canonical JSON."""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import pytest

from foundry.runtime.hashing import (
    HashingReader,
    canonical_json,
    canonical_json_sha256,
    content_sha256,
    file_sha256,
)


def test_content_sha256_is_hex_sha256() -> None:
    assert content_sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert content_sha256(bytearray(b"abc")) == hashlib.sha256(b"abc").hexdigest()
    assert content_sha256(memoryview(b"abc")) == hashlib.sha256(b"abc").hexdigest()


def test_file_sha256_reads_in_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_sha256(path, chunk_bytes=1000) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_canonical_json_sorts_keys_drops_whitespace_keeps_unicode() -> None:
    assert (
        canonical_json({"b": 1, "a": [1, 2, {"d": None, "c": "é"}]})
        == '{"a":[1,2,{"c":"é","d":null}],"b":1}'.encode()
    )
    assert canonical_json({"b": 1, "a": 2}) == canonical_json({"a": 2, "b": 1})
    assert canonical_json_sha256({"x": "🙂"}) == hashlib.sha256('{"x":"🙂"}'.encode()).hexdigest()


def test_canonical_json_refuses_nan_and_non_json() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": math.nan})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


def test_hashing_reader_hashes_what_passes_through() -> None:
    reader = HashingReader(io.BytesIO(b"hello world"))
    assert reader.read(5) + reader.read() == b"hello world"
    assert reader.size_bytes == 11
    assert reader.hexdigest() == hashlib.sha256(b"hello world").hexdigest()
