"""Single-leader election: a PostgreSQL session-level advisory lock on a dedicated connection.

The lock lives as long as the session: when the leader exits or is killed, its socket closes,
PostgreSQL ends the backend and the lock is free for the next ``pg_try_advisory_lock``. For a
leader that vanishes without closing its socket (a host lost from the network), the session
asks the server for TCP keepalives so the backend is dropped within ~15 s.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any

import psycopg

from core.settings import Settings

LOCK_KEY = 0x70767363  # "pvsc"
_SERVER_KEEPALIVES = (
    "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
)

log = logging.getLogger(__name__)


def lock_key(namespace: str = "") -> int:
    """The advisory lock of a scheduler namespace (the default one for ``""``)."""
    if not namespace:
        return LOCK_KEY
    digest = hashlib.sha256(f"pvara-scheduler:{namespace}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class LeaderLock:
    """Holds (or tries to hold) the scheduler's advisory lock on its own session."""

    def __init__(self, settings: Settings, key: int = LOCK_KEY) -> None:
        self._settings = settings
        self._key = key
        self._conn: psycopg.Connection[Any] | None = None
        self.held = False

    def try_acquire(self) -> bool:
        """Become leader if nobody is; True when this session holds the lock."""
        if self.held:
            return self.still_held()
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self._settings.effective_database_url,
                    autocommit=True,
                    application_name="pvara-scheduler",
                    connect_timeout=5,
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=3,
                    options=_SERVER_KEEPALIVES,
                )
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
            self.held = bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("leader election: PostgreSQL unreachable: %s", exc)
            self._drop()
        return self.held

    def still_held(self) -> bool:
        """Check the session is alive (the lock dies with it); step down if it is not."""
        if not self.held or self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            log.warning("leader session lost; stepping down")
            self._drop()
        return self.held

    def release(self) -> None:
        """Give up leadership and close the session."""
        if self._conn is not None and self.held:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        self._drop()

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
