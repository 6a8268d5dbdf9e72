"""Versioned SQL migrations from ``core/migrations/NNNN_name.sql``.

Each file runs once, in its own transaction, and is recorded in ``schema_migrations`` with
its checksum. A PostgreSQL advisory lock serialises concurrent runs (two processes starting
at once both succeed; the second finds the work done).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from core.db import ensure_partitions
from core.pii_backfill import convert_plaintext
from core.pii_crypto import PiiCipher
from core.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x70766172  # "pvar"

log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    """A migration failed or an applied migration file was changed afterwards."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """All migration files, ordered by version."""
    found = []
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        version, _, name = path.stem.partition("_")
        found.append(Migration(int(version), name, path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}")
    return found


def migrate(settings: Settings, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply pending migrations, then make sure this month's partitions exist.

    Returns the migrations applied by this call (empty when the schema was up to date).

    Raises:
        MigrationError: an applied migration's file changed since (checked for every file
            before anything is applied), or the folder holds duplicate versions.
    """
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                row[0]: row[1]
                for row in conn.execute("SELECT version, checksum FROM schema_migrations")
            }
            changed = [
                f"{m.version:04d}_{m.name}"
                for m in migrations
                if m.version in done and done[m.version] != m.checksum
            ]
            if changed:
                raise MigrationError(
                    f"migration {', '.join(changed)} changed after it was applied; "
                    "add a new migration instead of editing an old one"
                )
            for migration in migrations:
                if migration.version not in done:
                    _apply(conn, migration)
                    applied_now.append(migration)
            with conn.transaction():
                ensure_partitions(conn, settings.partition_months_ahead)
            _convert_plaintext_identifiers(conn, settings)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def _convert_plaintext_identifiers(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """Encrypt identifiers that rows still hold in plaintext (migration 0008 cannot: SQL does
    not hold the keys). Cheap when there are none: partial indexes find the unconverted rows."""
    row = conn.execute("SELECT to_regclass('public.candidate_keys')").fetchone()
    if row is None or row[0] is None:
        return
    report = convert_plaintext(conn, PiiCipher.from_settings(settings))
    if report.total:
        log.info("plaintext identifiers encrypted", extra=report.as_dict())


def _apply(conn: psycopg.Connection[Any], migration: Migration) -> None:
    log.info(
        "applying migration", extra={"version": migration.version, "migration": migration.name}
    )
    with conn.transaction():
        conn.execute(migration.sql.encode())
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (migration.version, migration.name, migration.checksum),
        )
