"""`ObjectStore`: every artifact's bytes go through here, to MinIO or any S3 server.

Integrity: every write records the sha256 of the object's bytes in its user metadata
(`x-amz-meta-sha256`) and every read recomputes it while the bytes stream in. A mismatch, or an
object with no recorded sha256, raises `CorruptionError` naming the key
(`foundry.runtime.integrity`).

Writes of unknown length (`put_stream`) are spooled first, hashed on the way, then uploaded with
the sha256 already in the object's metadata (`foundry.runtime.spool` says why). Sources whose
size is known (`put_bytes`, `put_file`) are hashed up front and not copied; the bytes are
hashed again as they go out, so a file that changes during its upload is caught (the object is
then deleted and `FailedPreconditionError` raised).

Objects larger than one part are uploaded as multipart (parts of `s3_part_size_bytes`).

Every call goes through `S3Caller`: bounded retries with backoff on transient errors, then the
translation of S3 errors into domain errors (see `foundry.runtime.s3calls`; the client is built in
`foundry.runtime.s3client`). Keys are validated before any call (see `foundry.runtime.keys`).
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

from minio import Minio

from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError, NotFoundError
from foundry.runtime.hashing import HASH_CHUNK_BYTES, HashingReader, content_sha256, file_sha256
from foundry.runtime.integrity import check_digest, read_foreign, read_verified, recorded_sha256
from foundry.runtime.keys import validate_bucket, validate_key, validate_prefix
from foundry.runtime.objectinfo import SHA256_HEADER, SHA256_METADATA, ObjectInfo
from foundry.runtime.s3calls import S3Caller
from foundry.runtime.s3client import connect
from foundry.runtime.settings import Settings
from foundry.runtime.spool import ByteSource, spooled

__all__ = ["SHA256_HEADER", "ObjectInfo", "ObjectStore"]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
#: parts of a multipart upload sent at once
PARALLEL_PARTS = 3


class ObjectStore:
    """Verified reads and writes of objects in one bucket, with retries and domain errors."""

    def __init__(
        self,
        client: Minio,
        bucket: str,
        caller: S3Caller,
        *,
        part_size_bytes: int,
        spool_dir: Path | None = None,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._caller = caller
        self._part_size_bytes = part_size_bytes
        self._spool_dir = str(spool_dir) if spool_dir is not None else None

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        """A store for `settings.s3_bucket` on `settings.s3_endpoint` (call `ensure_bucket` next)."""
        client, caller = connect(settings)
        return cls(client, settings.s3_bucket, caller, part_size_bytes=settings.s3_part_size_bytes)

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def endpoint_url(self) -> str:
        return self._caller.target.endpoint_url

    # --- bucket ------------------------------------------------------------------------------

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (called once at start-up)."""

        def ensure() -> None:
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket)
            except Exception as exc:  # another process may have won the race
                if getattr(exc, "code", None) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

        self._caller.call("ensure_bucket", None, ensure)

    # --- writes ------------------------------------------------------------------------------

    def put_bytes(
        self,
        key: str,
        data: bytes | bytearray | memoryview,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store `data` at `key`, recording its sha256."""
        validate_key(key)
        payload = bytes(data)
        return self._upload(
            key, lambda: io.BytesIO(payload), len(payload), content_sha256(payload), content_type, metadata
        )

    def put_file(
        self,
        key: str,
        path: str | Path,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store the file at `path` under `key` (hashed first, then uploaded; read twice)."""
        validate_key(key)
        file_path = Path(path)
        sha256 = file_sha256(file_path)
        size = file_path.stat().st_size
        with open(file_path, "rb") as handle:

            def rewind() -> BinaryIO:
                handle.seek(0)
                return handle

            return self._upload(key, rewind, size, sha256, content_type, metadata)

    def put_stream(
        self,
        key: str,
        source: ByteSource,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store a stream of unknown length: a binary reader, or an iterable of byte chunks.

        The stream is spooled (memory up to one part, then a local temporary file) while it is
        hashed, then uploaded; see the module docstring for why.
        """
        validate_key(key)
        with spooled(source, max_memory_bytes=self._part_size_bytes, spool_dir=self._spool_dir) as spool:
            return self._upload(key, spool.rewind, spool.size_bytes, spool.sha256, content_type, metadata)

    def _upload(
        self,
        key: str,
        open_source: Callable[[], BinaryIO],
        size: int,
        sha256: str,
        content_type: str,
        metadata: Mapping[str, str] | None,
    ) -> ObjectInfo:
        """Upload `size` bytes from a re-openable source whose sha256 is already known."""
        user_metadata = dict(metadata or {})
        if any(name.lower() in (SHA256_METADATA, SHA256_HEADER) for name in user_metadata):
            raise InvalidArgumentError(
                f"metadata {SHA256_METADATA!r} is reserved for the recorded content hash",
                metadata={"key": key},
            )
        user_metadata[SHA256_METADATA] = sha256
        reader: HashingReader | None = None

        def put() -> str:
            nonlocal reader
            reader = HashingReader(open_source())
            result = self._client.put_object(
                self._bucket,
                key,
                reader,  # type: ignore[arg-type]
                size,
                content_type=content_type,
                metadata=user_metadata,  # type: ignore[arg-type]
                part_size=self._part_size_bytes,
                num_parallel_uploads=PARALLEL_PARTS,
            )
            return (result.etag or "").strip('"')

        etag = self._caller.call("put", key, put)
        assert reader is not None
        if reader.size_bytes != size or reader.hexdigest() != sha256:
            self.delete(key)
            raise FailedPreconditionError(
                f"the source of {key!r} changed while it was uploaded (expected {size} bytes with "
                f"sha256 {sha256}, sent {reader.size_bytes} bytes with sha256 {reader.hexdigest()}); "
                "the object was removed",
                reason="SOURCE_CHANGED_DURING_UPLOAD",
                metadata={"key": key},
            )
        return ObjectInfo(key=key, sha256=sha256, size_bytes=size, etag=etag, last_modified=None)

    # --- reads -------------------------------------------------------------------------------

    def get_bytes(self, key: str, *, expected_sha256: str | None = None) -> bytes:
        """The verified bytes of `key`.

        `expected_sha256`, when given, must also equal the recorded sha256 (for callers that
        hold their own record of it, like a dataset manifest); otherwise `CorruptionError`.
        """
        validate_key(key)

        def download() -> bytes:
            buffer = io.BytesIO()
            self._download(key, buffer, expected_sha256)
            return buffer.getvalue()

        return self._caller.call("get", key, download)

    def get_file(self, key: str, path: str | Path, *, expected_sha256: str | None = None) -> ObjectInfo:
        """Download `key` to `path`, verified, atomically (a temporary file, then renamed).

        Nothing appears at `path` unless the bytes matched their sha256.
        """
        validate_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            with open(partial, "wb") as handle:

                def download() -> ObjectInfo:
                    handle.seek(0)
                    handle.truncate()
                    return self._download(key, handle, expected_sha256)

                info = self._caller.call("get", key, download)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return info

    def iter_chunks(
        self, key: str, *, chunk_bytes: int = HASH_CHUNK_BYTES, expected_sha256: str | None = None
    ) -> Iterator[bytes]:
        """Stream the bytes of `key` in chunks of at most `chunk_bytes`.

        The sha256 is checked when the stream ends, *before* the last chunk is handed out: a
        consumer that reaches the end of the iteration has seen only verified bytes, and on a
        mismatch gets `CorruptionError` instead of the last chunk. A missing recorded sha256 is
        reported before the first chunk. Opening the object is retried on transient errors; a
        failure in the middle of the stream is not (it raises `UnavailableError`): use
        `get_file` or `get_bytes` when the whole object is wanted anyway.
        """
        validate_key(key)
        response = self._caller.call("get", key, lambda: self._client.get_object(self._bucket, key))
        try:
            recorded = recorded_sha256(self._bucket, key, response.headers, expected_sha256)
            digest = hashlib.sha256()
            pending: bytes | None = None
            try:
                for chunk in response.stream(chunk_bytes, decode_content=False):
                    digest.update(chunk)
                    if pending is not None:
                        yield pending
                    pending = chunk
            except Exception as exc:
                self._caller.fail(exc, "get", key)
            check_digest(self._bucket, key, digest.hexdigest(), recorded)
            if pending:
                yield pending
        finally:
            response.close()
            response.release_conn()

    def fetch_foreign(
        self, bucket: str, key: str, sink: IO[bytes], *, expected_sha256: str | None = None
    ) -> ObjectInfo:
        """Copy an object that was not written through ObjectStore (a user's file in any bucket)
        into `sink`, hashing it on the way.

        It carries no recorded sha256 unless ObjectStore wrote it: the bytes are checked against
        `expected_sha256` when the caller gives one, and against a recorded sha256 when there is
        one; a mismatch raises CorruptionError. The returned info holds the computed sha256.
        """
        validate_key(key)
        validate_bucket(bucket)

        def download() -> ObjectInfo:
            sink.seek(0)
            sink.truncate()
            response = self._client.get_object(bucket, key)
            try:
                return read_foreign(response, bucket, key, sink, expected_sha256)
            finally:
                response.close()
                response.release_conn()

        return self._caller.call("get", key, download)

    def _download(self, key: str, sink: IO[bytes], expected_sha256: str | None) -> ObjectInfo:
        """One GET of `key` into `sink`, hashed and verified; returns what the headers said."""
        response = self._client.get_object(self._bucket, key)
        try:
            return read_verified(response, self._bucket, key, sink, expected_sha256)
        finally:
            response.close()
            response.release_conn()

    # --- metadata, listing, deletion ---------------------------------------------------------

    def stat(self, key: str) -> ObjectInfo:
        """What the store records about `key` (NotFoundError if absent)."""
        validate_key(key)
        obj = self._caller.call("stat", key, lambda: self._client.stat_object(self._bucket, key))
        recorded = (obj.metadata or {}).get(SHA256_HEADER)
        return ObjectInfo(
            key=key,
            sha256=recorded if isinstance(recorded, str) else None,
            size_bytes=obj.size or 0,
            etag=(obj.etag or "").strip('"'),
            last_modified=obj.last_modified,
        )

    def exists(self, key: str) -> bool:
        """Whether an object is stored at `key`."""
        try:
            self.stat(key)
        except NotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove `key`; removing an absent key is not an error."""
        validate_key(key)
        self._caller.call("delete", key, lambda: self._client.remove_object(self._bucket, key))

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """The objects whose keys start with `prefix`, in key order.

        Not recursive: only the objects directly under `prefix` (up to the next '/'); see
        `list_prefixes` for the "folders". Listings carry no user metadata, so `sha256` is None.
        """
        for obj in self._list(prefix, recursive):
            if not obj.is_dir:
                yield ObjectInfo(
                    key=str(obj.object_name),
                    sha256=None,
                    size_bytes=obj.size or 0,
                    etag=(obj.etag or "").strip('"'),
                    last_modified=obj.last_modified,
                )

    def list_prefixes(self, prefix: str = "") -> Iterator[str]:
        """The "folders" directly under `prefix`: each common prefix, ending in '/'."""
        for obj in self._list(prefix, recursive=False):
            if obj.is_dir:
                yield str(obj.object_name)

    def _list(self, prefix: str, recursive: bool) -> Iterator[Any]:
        """List with retries: a listing that fails midway resumes after the last key it gave."""
        validate_prefix(prefix)
        last: str | None = None
        attempt = 0
        while True:
            try:
                for obj in self._client.list_objects(
                    self._bucket, prefix=prefix or None, recursive=recursive, start_after=last
                ):
                    yield obj
                    last = str(obj.object_name)
                return
            except Exception as exc:
                self._caller.check(exc, attempt, "list", prefix or None)
                attempt += 1

    def count(self, prefix: str = "") -> int:
        """How many objects are stored under `prefix`."""
        return sum(1 for _ in self.list(prefix))

    def keys(self, prefix: str = "") -> builtins.list[str]:
        """The keys stored under `prefix`, in order."""
        return [info.key for info in self.list(prefix)]
