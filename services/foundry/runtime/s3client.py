"""Build the minio client and its `S3Caller` from `Settings`.

The client gets a urllib3 `PoolManager` with the connect and read timeouts of
`settings.s3_timeout_s` and urllib3's own retries turned off, so that the bounded retry loop of
`S3Caller` is the only one. The region is given, so the client never asks the server for a
bucket's location.
"""

from __future__ import annotations

import os

import certifi
import urllib3
from minio import Minio
from minio.helpers import check_bucket_name

from foundry.runtime.errors import FailedPreconditionError, InvalidArgumentError
from foundry.runtime.s3calls import S3Caller, S3Target
from foundry.runtime.settings import Settings

#: connections kept per host (parallel part uploads use up to 3)
POOL_MAXSIZE = 10


def split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """`host:port` and whether to use TLS, accepting an optional http:// or https:// prefix."""
    for scheme, is_secure in (("https://", True), ("http://", False)):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme) :].rstrip("/"), is_secure
    return endpoint.rstrip("/"), secure


def connect(settings: Settings) -> tuple[Minio, S3Caller]:
    """A minio client for `settings` and the caller that runs its calls (no request is made)."""
    if not settings.s3_endpoint:
        raise FailedPreconditionError(
            "no object store configured: set FOUNDRY_S3_ENDPOINT (host:port), "
            "or run `foundry stack up`, which starts one",
            reason="OBJECT_STORE_NOT_CONFIGURED",
        )
    try:
        check_bucket_name(settings.s3_bucket, strict=True)
    except ValueError as exc:
        raise InvalidArgumentError(
            f"invalid bucket name {settings.s3_bucket!r} (FOUNDRY_S3_BUCKET): {exc}",
            reason="INVALID_BUCKET_NAME",
        ) from exc
    endpoint, secure = split_endpoint(settings.s3_endpoint, settings.s3_secure)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=settings.s3_timeout_s, read=settings.s3_timeout_s),
        retries=False,
        maxsize=POOL_MAXSIZE,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    client = Minio(
        endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=secure,
        region=settings.s3_region,
        http_client=http,
    )
    target = S3Target(
        endpoint_url=f"{'https' if secure else 'http'}://{endpoint}",
        access_key=settings.s3_access_key,
        bucket=settings.s3_bucket,
    )
    return client, S3Caller(target, settings.s3_max_retries, settings.s3_retry_backoff_s)
