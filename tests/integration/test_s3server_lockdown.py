"""The embedded SeaweedFS takes changes only through S3 with credentials: unauthenticated HTTP
writes, reads and deletes on its master, filer and volume ports are refused."""

from __future__ import annotations

import io
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from foundry.runtime.s3server import SeaweedS3Server
from foundry.runtime.seaweed_security import SECURITY_FILE, SIGNED_SECTIONS, write_security_config
from foundry.runtime.settings import Settings

BUCKET = "lockdown-probe"
REFUSED = {401, 403, 404, 405}


def _http(method: str, url: str, body: bytes | None = None) -> int | str:
    """The HTTP status of one plain request without credentials, or 'refused'."""
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (ConnectionError, urllib.error.URLError):
        return "refused"


@pytest.fixture
def s3(s3_server: SeaweedS3Server, settings: Settings) -> Minio:
    secret = settings.s3_secret_key.get_secret_value()
    client = Minio(s3_server.endpoint, access_key=settings.s3_access_key, secret_key=secret, secure=False)
    if not client.bucket_exists(BUCKET):
        client.make_bucket(BUCKET)
    client.put_object(BUCKET, "kept.txt", io.BytesIO(b"kept"), 4)
    return client


def test_unauthenticated_http_cannot_write_or_delete_anything(s3_server: SeaweedS3Server, s3: Minio) -> None:
    ports = s3_server.ports
    filer = f"http://127.0.0.1:{ports.filer}"
    master = f"http://127.0.0.1:{ports.master}"
    volume = f"http://127.0.0.1:{ports.volume}"
    attempts = {
        "filer GET": _http("GET", f"{filer}/buckets/{BUCKET}/kept.txt"),
        "filer PUT": _http("PUT", f"{filer}/buckets/{BUCKET}/evil.txt", b"evil"),
        "filer POST": _http("POST", f"{filer}/buckets/{BUCKET}/evil2.txt", b"evil"),
        "filer DELETE": _http("DELETE", f"{filer}/buckets/{BUCKET}/kept.txt"),
        "filer DELETE dir": _http("DELETE", f"{filer}/buckets/{BUCKET}/?recursive=true"),
        "master assign": _http("POST", f"{master}/dir/assign"),
        "master lookup": _http("GET", f"{master}/dir/lookup?volumeId=1"),
        "master delete collection": _http("POST", f"{master}/col/delete?collection={BUCKET}"),
        "master vacuum": _http("POST", f"{master}/vol/vacuum"),
        "volume PUT": _http("PUT", f"{volume}/1,0123456789", b"evil"),
        "volume POST": _http("POST", f"{volume}/1,0123456789", b"evil"),
        "volume DELETE": _http("DELETE", f"{volume}/1,0123456789"),
    }
    allowed = {what: status for what, status in attempts.items() if status not in REFUSED | {"refused"}}
    assert allowed == {}
    # S3 with credentials still works, and nothing was changed behind its back
    assert s3.get_object(BUCKET, "kept.txt").read() == b"kept"
    names = sorted(o.object_name or "" for o in s3.list_objects(BUCKET))
    assert names == ["kept.txt"]
    s3.put_object(BUCKET, "new.txt", io.BytesIO(b"new" * 100_000), 300_000)
    assert s3.get_object(BUCKET, "new.txt").read() == b"new" * 100_000
    s3.remove_object(BUCKET, "new.txt")
    with pytest.raises(S3Error):
        Minio(
            s3_server.endpoint, access_key=s3_server.access_key, secret_key="wrong", secure=False
        ).list_buckets()


def test_security_config_is_private_and_fresh_per_start(s3_server: SeaweedS3Server) -> None:
    path = s3_server.data_dir / SECURITY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(s3_server.data_dir.stat().st_mode) == 0o700
    text = path.read_text(encoding="utf-8")
    for section in SIGNED_SECTIONS:
        assert f"[{section}]" in text
    keys = [line for line in text.splitlines() if line.startswith("key = ")]
    assert len(keys) == len(SIGNED_SECTIONS) and len(set(keys)) == len(keys)
    assert all(len(line) > 40 for line in keys)
    assert "-disableHttp" in s3_server.command()


def test_each_write_makes_new_keys(tmp_path: Path) -> None:
    first = write_security_config(tmp_path / "d").read_text(encoding="utf-8")
    second = write_security_config(tmp_path / "d").read_text(encoding="utf-8")
    assert first != second
    assert stat.S_IMODE((tmp_path / "d" / SECURITY_FILE).stat().st_mode) == 0o600
