"""ObjectStore against a real SeaweedFS S3 server: round trips, integrity, errors."""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from minio import Minio
from pydantic import SecretStr

from foundry.runtime.errors import (
    CorruptionError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    UnavailableError,
)
from foundry.runtime.objectstore import SHA256_HEADER, ObjectStore
from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.settings import Settings

MiB = 1024 * 1024


def random_chunks(total: int, chunk: int = 1_000_003) -> Iterator[bytes]:
    """`total` random bytes in odd-sized chunks (so no chunk lines up with a part)."""
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        sent += size
        yield os.urandom(size)


def test_20mib_multipart_round_trip_of_unknown_length(
    store: ObjectStore, settings: Settings, tmp_path: Path
) -> None:
    data = b"".join(random_chunks(20 * MiB))
    info = store.put_stream(
        "big/blob.bin", iter([data[i : i + 999_999] for i in range(0, len(data), 999_999)])
    )
    assert info.size_bytes == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    stat = store.stat("big/blob.bin")
    assert stat.sha256 == info.sha256 and stat.size_bytes == len(data)
    assert stat.part_count == math.ceil(len(data) / settings.s3_part_size_bytes) == 2  # stored multipart
    assert store.get_bytes("big/blob.bin") == data
    assert b"".join(store.iter_chunks("big/blob.bin", chunk_bytes=3 * MiB)) == data
    got = store.get_file("big/blob.bin", tmp_path / "out" / "blob.bin")
    assert (tmp_path / "out" / "blob.bin").read_bytes() == data
    assert got.sha256 == info.sha256 and got.size_bytes == len(data)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["blob.bin"]  # no temporary left


def test_put_stream_from_a_reader_and_put_file(store: ObjectStore, tmp_path: Path) -> None:
    payload = b"line\n" * 10_000
    assert store.put_stream("a/reader", io.BytesIO(payload)).sha256 == hashlib.sha256(payload).hexdigest()
    assert store.get_bytes("a/reader") == payload
    source = tmp_path / "src.txt"
    source.write_bytes(payload[:777])
    info = store.put_file("a/file.txt", source, content_type="text/plain")
    assert info.size_bytes == 777 and store.get_bytes("a/file.txt") == payload[:777]
    assert store.put_stream("a/empty", iter([])).size_bytes == 0
    assert store.get_bytes("a/empty") == b""
    assert list(store.iter_chunks("a/empty")) == []


def test_put_get_list_stat_delete(store: ObjectStore) -> None:
    for key in ("x/1", "x/2", "x/sub/3", "y/4"):
        store.put_bytes(key, key.encode(), metadata={"origin": "test"})
    assert store.get_bytes("x/sub/3") == b"x/sub/3"
    assert [i.key for i in store.list("x/")] == ["x/1", "x/2", "x/sub/3"]
    assert [i.key for i in store.list("x/", recursive=False)] == ["x/1", "x/2"]
    assert list(store.list_prefixes("x/")) == ["x/sub/"]
    assert list(store.list_prefixes("")) == ["x/", "y/"]
    assert store.count() == 4
    stat = store.stat("x/1")
    assert stat.size_bytes == 3 and stat.sha256 == hashlib.sha256(b"x/1").hexdigest()
    assert stat.last_modified is not None and stat.etag
    assert store.exists("x/1") and not store.exists("x/nope")
    store.delete("x/1")
    store.delete("x/1")  # idempotent
    assert not store.exists("x/1")
    with pytest.raises(NotFoundError, match="x/1"):
        store.get_bytes("x/1")
    with pytest.raises(NotFoundError):
        store.stat("x/1")
    with pytest.raises(NotFoundError):
        list(store.iter_chunks("x/1"))


def test_keys_are_validated_before_any_call(store: ObjectStore) -> None:
    for bad in ("", "/abs", "a//b", "a/../b", "a\\b", "a/./b", "tab\there"):
        with pytest.raises(InvalidArgumentError, match="invalid object key"):
            store.put_bytes(bad, b"x")
        with pytest.raises(InvalidArgumentError):
            store.get_bytes(bad)
    with pytest.raises(InvalidArgumentError):
        store.put_bytes("ok", b"x", metadata={"sha256": "forged"})


def test_tampered_bytes_with_the_recorded_hash_kept_are_detected(
    store: ObjectStore, settings: Settings, tmp_path: Path, plain_s3: Minio
) -> None:
    original = store.put_bytes("t/obj", b"the original bytes")
    assert original.sha256 is not None
    other = plain_s3
    forged = b"the tampered bytes!"
    other.put_object(
        settings.s3_bucket, "t/obj", io.BytesIO(forged), len(forged), metadata={"sha256": original.sha256}
    )
    assert (other.stat_object(settings.s3_bucket, "t/obj").metadata or {})[SHA256_HEADER] == original.sha256
    with pytest.raises(CorruptionError, match="t/obj") as caught:
        store.get_bytes("t/obj")
    assert caught.value.reason == "OBJECT_HASH_MISMATCH"
    with pytest.raises(CorruptionError, match="t/obj"):
        store.get_file("t/obj", tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    chunks: list[bytes] = []
    with pytest.raises(CorruptionError, match="t/obj"):
        for chunk in store.iter_chunks("t/obj", chunk_bytes=4):
            chunks.append(chunk)
    assert b"".join(chunks) == forged[: len(b"".join(chunks))] and len(b"".join(chunks)) < len(forged)


def test_tampered_object_without_recorded_hash_is_detected(
    store: ObjectStore, settings: Settings, plain_s3: Minio
) -> None:
    store.put_bytes("t/obj", b"data")
    plain_s3.put_object(settings.s3_bucket, "t/obj", io.BytesIO(b"data"), 4)
    with pytest.raises(CorruptionError, match="t/obj") as caught:
        store.get_bytes("t/obj")
    assert caught.value.reason == "OBJECT_HASH_MISSING"
    with pytest.raises(CorruptionError, match="t/obj"):
        next(store.iter_chunks("t/obj"))


def test_expected_sha256_must_match_the_recorded_one(store: ObjectStore) -> None:
    info = store.put_bytes("e/obj", b"abc")
    assert info.sha256 is not None
    assert store.get_bytes("e/obj", expected_sha256=info.sha256) == b"abc"
    with pytest.raises(CorruptionError, match="e/obj"):
        store.get_bytes("e/obj", expected_sha256="0" * 64)


def test_wrong_credentials_give_a_clear_failed_precondition(make_settings: Callable[..., Settings]) -> None:
    for overrides in ({"s3_secret_key": SecretStr("wrong-secret")}, {"s3_access_key": "nobody"}):
        settings = make_settings(**overrides)
        store = ObjectStore.from_settings(settings)
        with pytest.raises(FailedPreconditionError) as caught:
            store.ensure_bucket()
        error = caught.value
        assert error.reason == "OBJECT_STORE_CREDENTIALS"
        assert f"the object store at http://{settings.s3_endpoint} rejected the credentials" in error.message
        assert f"access key {settings.s3_access_key!r}" in error.message
        assert "wrong-secret" not in str(error)


def test_a_stopped_server_gives_unavailable_in_bounded_time(tmp_path: Path) -> None:
    server = SeaweedS3Server(tmp_path / "s3", access_key="k-stop", secret_key="s-stop-secret")
    server.start(timeout_s=60)
    settings = Settings(
        s3_endpoint=server.endpoint,
        s3_access_key="k-stop",
        s3_secret_key=SecretStr("s-stop-secret"),
        s3_bucket="stopped",
        s3_max_retries=3,
        s3_retry_backoff_s=0.05,
        s3_timeout_s=2,
    )
    store = ObjectStore.from_settings(settings)
    store.ensure_bucket()
    store.put_bytes("k", b"v")
    server.stop()
    started = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        store.get_bytes("k")
    assert time.monotonic() - started < 5
    assert caught.value.reason == "OBJECT_STORE_UNAVAILABLE"
    assert f"http://{server.endpoint}" in caught.value.message
    assert "4 attempts" in caught.value.message
    with pytest.raises(UnavailableError):
        store.put_bytes("k2", b"v")
    with pytest.raises(UnavailableError):
        list(store.list())
