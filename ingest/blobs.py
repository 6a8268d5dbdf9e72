"""Résumé blob storage, content-addressed by SHA-256.

A key is ``sha256/ab/cd/<64 hex digits>``: the same bytes always get the same key, so a put is
idempotent and a resubmitted file is stored once. :class:`LocalBlobStore` keeps blobs in a
directory; :class:`ingest.s3_blobs.S3BlobStore` keeps them in an S3-compatible bucket with the
same keys. :func:`open_blob_store` picks one from the settings.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from core.settings import Settings

_KEY = re.compile(r"sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")


class BlobError(Exception):
    """Base class of blob store errors."""


class InvalidBlobKeyError(BlobError, ValueError):
    """The key is not one this store hands out (malformed, or an attempt at path traversal)."""


class BlobNotFoundError(BlobError, LookupError):
    """No blob is stored under the key."""


class BlobCorruptError(BlobError):
    """The stored bytes no longer hash to their key."""


class BlobStore(Protocol):
    """Where résumé files live between the API and the parse workers."""

    def put(self, data: bytes, media_type: str) -> str:
        """Store ``data`` and return its key; storing the same bytes again only marks the blob
        as stored now (see ``min_age_s`` of :meth:`delete`)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``.

        Raises:
            InvalidBlobKeyError: the key is malformed.
            BlobNotFoundError: nothing is stored under it.
        """
        ...

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key`` (raises InvalidBlobKeyError if malformed)."""
        ...

    def delete(self, key: str, min_age_s: float = 0.0) -> bool:
        """Remove the blob under ``key`` unless it was stored less than ``min_age_s`` ago;
        False if it was kept or there was none (deleting is idempotent).

        Raises:
            InvalidBlobKeyError: the key is malformed.
        """
        ...

    def keys(self, min_age_s: float = 0.0) -> Iterator[str]:
        """Every stored key whose blob was stored at least ``min_age_s`` ago."""
        ...


def blob_key(data: bytes) -> str:
    """The key under which ``data`` is stored: ``sha256/ab/cd/<hex>``."""
    digest = hashlib.sha256(data).hexdigest()
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def _digest_of(key: str) -> str:
    match = _KEY.fullmatch(key)
    if match is None or match[3][:2] != match[1] or match[3][2:4] != match[2]:
        raise InvalidBlobKeyError(f"not a blob key: {key[:100]!r}")
    return match[3]


class LocalBlobStore:
    """Blobs as files under ``root``, written atomically (temporary file, then ``os.replace``).

    ``media_type`` is not recorded: the application record carries it.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        # The key grammar already rules out "..", "/" and NUL; resolving guards against a
        # symlink planted inside the store pointing elsewhere.
        _digest_of(key)
        path = self.root / key
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):
            raise InvalidBlobKeyError(f"blob key escapes the store: {key!r}")
        return path

    def put(self, data: bytes, media_type: str) -> str:
        """Store ``data`` and return its key; storing the same bytes again is a no-op."""
        key = blob_key(data)
        path = self._path(key)
        if path.is_file():
            # A new submission of these bytes: an erasure or sweep must not take them now.
            with contextlib.suppress(FileNotFoundError):
                os.utime(path)
                return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
        return key

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``.

        Raises:
            InvalidBlobKeyError: the key is malformed or escapes the store.
            BlobNotFoundError: nothing is stored under it.
            BlobCorruptError: the file no longer matches its hash.
        """
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise BlobNotFoundError(key) from exc
        if hashlib.sha256(data).hexdigest() != _digest_of(key):
            raise BlobCorruptError(f"blob {key} does not match its hash")
        return data

    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key`` (raises InvalidBlobKeyError if malformed)."""
        return self._path(key).is_file()

    def delete(self, key: str, min_age_s: float = 0.0) -> bool:
        """Remove the blob under ``key`` unless it was stored (or stored again) less than
        ``min_age_s`` ago; False if it was kept or there was none (deleting is idempotent).

        Empty fan-out folders are kept: removing one could race a :meth:`put` that has just
        created it. A symlink is removed itself, never its target.

        Raises:
            InvalidBlobKeyError: the key is malformed or escapes the store.
        """
        path = self._path(key)
        try:
            if min_age_s > 0 and time.time() - path.lstat().st_mtime < min_age_s:
                return False
            path.unlink()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return False
        _fsync_dir(path.parent)
        return True

    def keys(self, min_age_s: float = 0.0) -> Iterator[str]:
        """Every stored key whose blob was stored at least ``min_age_s`` ago (temporary files
        of a :meth:`put` under way are not blobs)."""
        cutoff = time.time() - min_age_s
        for path in self.root.glob("sha256/??/??/*"):
            key = path.relative_to(self.root).as_posix()
            if _KEY.fullmatch(key) is None:
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_mtime <= cutoff:
                    yield key


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Public names of the key grammar, for other stores implementing :class:`BlobStore`.
KEY_PATTERN = _KEY
digest_of = _digest_of


def open_blob_store(settings: Settings) -> BlobStore:
    """The store ``PVARA_BLOB_URL`` selects: ``s3://bucket/prefix`` an S3-compatible bucket,
    empty the local folder (``PVARA_BLOB_DIR``, default ``<home>/blobs``)."""
    if settings.blob_url.startswith("s3://"):
        from ingest.s3_blobs import S3BlobStore  # boto3 is imported only where it is used

        return S3BlobStore.from_settings(settings)
    if settings.blob_url:
        raise ValueError(
            f"PVARA_BLOB_URL must be empty or s3://bucket/prefix, not {settings.blob_url!r}"
        )
    return LocalBlobStore(settings.effective_blob_dir)
