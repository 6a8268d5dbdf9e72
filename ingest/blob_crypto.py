"""Résumé files encrypted in the blob store, whatever the store is.

:class:`EncryptingBlobStore` wraps any :class:`~ingest.blobs.BlobStore` (the local folder, an
S3-compatible bucket): ``put`` seals the bytes with AES-256-GCM (:meth:`PiiCipher.seal`, key id
in the envelope) before the inner store sees them, and ``get`` opens them again. The inner
store keys what it stores, the ciphertext: every upload is a blob of its own (nonces are
random), so identical résumés of two organizations no longer share a file, and erasing one
never waits on the other. Files stored before encryption existed are read as they are until
:func:`reencrypt_blobs` (``pvara pii rotate``, also run by ``pvara migrate``) has sealed them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from core.pii_crypto import PiiCipher
from core.settings import Settings
from ingest.blobs import BlobNotFoundError, BlobStore, LocalBlobStore

log = logging.getLogger(__name__)


class EncryptingBlobStore:
    """A :class:`~ingest.blobs.BlobStore` that stores only ciphertext in ``inner``."""

    def __init__(self, inner: BlobStore, cipher: PiiCipher) -> None:
        self.inner = inner
        self.cipher = cipher

    def put(self, data: bytes, media_type: str) -> str:
        """Seal ``data`` under the active key and store the envelope; returns its key."""
        return self.inner.put(self.cipher.seal(data), media_type)

    def get(self, key: str) -> bytes:
        """The plaintext of the file under ``key`` (a file stored before encryption existed is
        returned as stored).

        Raises:
            InvalidBlobKeyError, BlobNotFoundError, BlobCorruptError: from the inner store.
            PiiDecryptError: the envelope does not authenticate, or its key is not configured.
        """
        stored = self.inner.get(key)
        if not self.cipher.is_envelope(stored):
            return stored
        return self.cipher.open(stored)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def delete(self, key: str, min_age_s: float = 0.0) -> bool:
        return self.inner.delete(key, min_age_s)

    def keys(self, min_age_s: float = 0.0) -> Iterator[str]:
        return self.inner.keys(min_age_s)

    def needs_sealing(self, key: str) -> bool:
        """Whether the file under ``key`` is plaintext or sealed under a retired key."""
        stored = self.inner.get(key)
        return (
            not self.cipher.is_envelope(stored)
            or self.cipher.envelope_key_id(stored) != self.cipher.active_kid
        )


def encrypted_blob_store(
    settings: Settings, cipher: PiiCipher | None = None
) -> EncryptingBlobStore:
    """The configured blob store, encrypting (the local folder of ``PVARA_BLOB_DIR``)."""
    return EncryptingBlobStore(
        LocalBlobStore(settings.effective_blob_dir), cipher or PiiCipher.from_settings(settings)
    )


@dataclass
class BlobReport:
    sealed: int = 0  # files stored again under the active key
    rows: int = 0  # application rows pointed at their new key
    old_deleted: int = 0
    old_left_for_sweep: int = 0  # stored within PVARA_BLOB_GRACE_S: the daily sweep takes them
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sealed": self.sealed,
            "rows": self.rows,
            "old_deleted": self.old_deleted,
            "old_left_for_sweep": self.old_left_for_sweep,
            "missing": len(self.missing),
        }


def _application_tables(conn: psycopg.Connection[Any]) -> list[sql.Composable]:
    cur = conn.cursor(row_factory=tuple_row)
    archived = [r[0] for r in cur.execute("SELECT relname FROM pvara_archived_applications()")]
    return [
        sql.Identifier("public", "applications"),
        *(sql.Identifier("archive", name) for name in archived),
    ]


def reencrypt_blobs(
    conn: psycopg.Connection[Any],
    store: EncryptingBlobStore,
    grace_s: float,
    organization_id: uuid.UUID | None = None,
) -> BlobReport:
    """Seal every résumé file an application references (of one organization, with
    ``organization_id``) that is plaintext or under a retired key, point its rows at the new
    file, and delete the old file once it is older than ``grace_s`` (a submission still in
    Kafka may name it; the sweep takes it later)."""
    report = BlobReport()
    tables = _application_tables(conn)
    keys: set[str] = set()
    cur = conn.cursor(row_factory=tuple_row)
    for table in tables:
        query = sql.SQL(
            "SELECT DISTINCT resume_blob_key FROM {} WHERE resume_blob_key IS NOT NULL"
            " AND (%(org)s::uuid IS NULL OR organization_id = %(org)s)"
        ).format(table)
        keys.update(row[0] for row in cur.execute(query, {"org": organization_id}))
    for old in sorted(keys):
        try:
            if not store.needs_sealing(old):
                continue
            new = store.put(store.get(old), "application/octet-stream")
        except BlobNotFoundError:
            report.missing.append(old)
            continue
        report.sealed += 1
        with conn.transaction():
            for table in tables:
                done = conn.execute(
                    sql.SQL("UPDATE {} SET resume_blob_key = %s WHERE resume_blob_key = %s").format(
                        table
                    ),
                    (new, old),
                )
                report.rows += done.rowcount
        if store.delete(old, grace_s):
            report.old_deleted += 1
        else:
            report.old_left_for_sweep += 1
    if report.sealed or report.missing:
        log.info("résumé files sealed under the active key", extra=report.as_dict())
    return report
