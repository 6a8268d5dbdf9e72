"""Résumé blobs in an S3-compatible bucket (AWS S3, MinIO, s3proxy, Ceph RGW …), with boto3.

Same content-addressed keys as :class:`~ingest.blobs.LocalBlobStore`, under an optional prefix:
``s3://bucket/prefix`` stores ``prefix/sha256/ab/cd/<hex>``. Every upload asks for server-side
encryption (``PVARA_S3_SSE``). An object's ``LastModified`` is its "stored at" time: storing
the same bytes again copies the object onto itself, which renews it, so the grace period of
:meth:`delete` and of the daily sweep counts from the newest submission, as on local disk.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from core.settings import Settings
from ingest.blobs import (
    KEY_PATTERN,
    BlobCorruptError,
    BlobError,
    BlobNotFoundError,
    blob_key,
    digest_of,
)

_MISSING = {"404", "NoSuchKey", "NotFound"}


class BlobStoreUnavailableError(BlobError):
    """The bucket could not be reached or refused the request (credentials, SSE, network)."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket/some/prefix`` → bucket and ``some/prefix/`` (empty if none)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket[/prefix] URL: {url!r}")
        prefix = parts.path.strip("/")
        return cls(parts.netloc, f"{prefix}/" if prefix else "")


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client from the settings (credentials from boto3's chain unless set).

    Checksums only when an operation requires them: botocore's default trailing CRC32 on every
    upload is refused by several S3-compatible servers (s3proxy answers NotImplemented).
    """
    secret = settings.s3_secret_access_key.get_secret_value()
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id or None,
        aws_secret_access_key=secret or None,
        config=Config(
            s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class S3BlobStore:
    """A :class:`~ingest.blobs.BlobStore` on one bucket and prefix."""

    def __init__(
        self,
        client: Any,
        location: S3Location,
        *,
        sse: str = "AES256",
        kms_key_id: str = "",
    ) -> None:
        self.client = client
        self.bucket = location.bucket
        self.prefix = location.prefix
        self._sse: dict[str, str] = {}
        if sse != "none":
            self._sse["ServerSideEncryption"] = sse
            if sse == "aws:kms" and kms_key_id:
                self._sse["SSEKMSKeyId"] = kms_key_id

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        return cls(
            s3_client(settings),
            S3Location.parse(settings.blob_url),
            sse=settings.s3_sse,
            kms_key_id=settings.s3_kms_key_id,
        )

    def _object(self, key: str) -> str:
        digest_of(key)  # InvalidBlobKeyError for anything that is not a blob key
        return self.prefix + key

    def put(self, data: bytes, media_type: str) -> str:
        """Store ``data`` and return its key; the same bytes again renew the stored object."""
        key = blob_key(data)
        name = self._object(key)
        try:
            if self._head(name) is not None:
                # Renew LastModified: an erasure or sweep must not take these bytes now.
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=name,
                    CopySource={"Bucket": self.bucket, "Key": name},
                    MetadataDirective="REPLACE",
                    ContentType=media_type,
                    Metadata={"stored-at": f"{time.time():.3f}"},
                    **self._sse,
                )
                return key
            self.client.put_object(
                Bucket=self.bucket,
                Key=name,
                Body=data,
                ContentType=media_type,
                Metadata={"stored-at": f"{time.time():.3f}"},
                **self._sse,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("put", exc) from exc
        return key

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key`` (checked against their hash)."""
        name = self._object(key)
        try:
            data: bytes = self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise BlobNotFoundError(key) from exc
            raise _unavailable("get", exc) from exc
        except BotoCoreError as exc:
            raise _unavailable("get", exc) from exc
        if hashlib.sha256(data).hexdigest() != digest_of(key):
            raise BlobCorruptError(f"blob {key} does not match its hash")
        return data

    def exists(self, key: str) -> bool:
        try:
            return self._head(self._object(key)) is not None
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("head", exc) from exc

    def delete(self, key: str, min_age_s: float = 0.0) -> bool:
        """Remove the object unless it was stored (or renewed) less than ``min_age_s`` ago."""
        name = self._object(key)
        try:
            head = self._head(name)
            if head is None:
                return False
            if min_age_s > 0 and time.time() - head["LastModified"].timestamp() < min_age_s:
                return False
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("delete", exc) from exc
        return True

    def keys(self, min_age_s: float = 0.0) -> Iterator[str]:
        """Every blob key under the prefix stored at least ``min_age_s`` ago."""
        cutoff = time.time() - min_age_s
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + "sha256/"
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"])[len(self.prefix) :]
                    # Some stores list their fan-out "folders" too; only blob keys count.
                    if KEY_PATTERN.fullmatch(key) and item["LastModified"].timestamp() <= cutoff:
                        yield key
        except (ClientError, BotoCoreError) as exc:
            raise _unavailable("list", exc) from exc

    def _head(self, name: str) -> dict[str, Any] | None:
        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return head


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _unavailable(operation: str, exc: Exception) -> BlobStoreUnavailableError:
    detail = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
    return BlobStoreUnavailableError(f"S3 {operation} failed: {detail}: {exc}")
