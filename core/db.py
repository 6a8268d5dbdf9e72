"""PostgreSQL connections: one pool per process, built from the settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from core.settings import Settings

PARTITIONED_TABLES = ("applications", "audit_logs")

DictConnection = psycopg.Connection[DictRow]
Pool = ConnectionPool[DictConnection]


#: What every pooled connection is opened with: a connect that cannot hang, keepalives so a
#: server that vanished without closing the socket is noticed in seconds, and the server
#: checking on us while a statement runs: the statement of a client that died (a SIGKILLed
#: worker waiting on a row lock) is cancelled within a second instead of completing later.
CONNECT_KWARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
    "options": "-c client_connection_check_interval=1000",
}


def create_pool(
    settings: Settings, *, name: str = "pvara", wait: bool = True, **kwargs: Any
) -> Pool:
    """A connection pool whose connections return rows as dicts.

    Every connection is checked as it is handed out (``check_connection``): after a
    PostgreSQL restart the dead ones are replaced instead of failing one caller each.
    ``wait=True`` waits (up to 30 s) for the first connection; ``wait=False`` returns at once,
    so a long-running process can start while PostgreSQL is still down (the pool keeps
    connecting in the background and callers wait up to the pool's timeout).
    """
    pool: Pool = ConnectionPool(
        settings.effective_database_url,
        connection_class=DictConnection,
        min_size=kwargs.pop("min_size", settings.db_pool_min),
        max_size=kwargs.pop("max_size", settings.db_pool_max),
        kwargs={"row_factory": dict_row, "autocommit": False, **CONNECT_KWARGS},
        check=ConnectionPool.check_connection,
        name=name,
        open=False,
        **kwargs,
    )
    pool.open(wait=wait, timeout=30)
    return pool


def lazy_pool(pool: Pool | Callable[[], Pool]) -> Callable[[], Pool]:
    """``pool``, or the one ``pool()`` makes on the first call (once, thread-safe): a process
    that never needs PostgreSQL never connects."""
    if isinstance(pool, ConnectionPool):
        return lambda: pool
    made: list[Pool] = []
    lock = threading.Lock()

    def get() -> Pool:
        with lock:
            if not made:
                made.append(pool())
            return made[0]

    return get


def connect(settings: Settings, *, autocommit: bool = False) -> DictConnection:
    """A single connection (for CLI commands and scripts)."""
    return psycopg.connect(
        settings.effective_database_url, autocommit=autocommit, row_factory=dict_row
    )


def ensure_partitions(conn: psycopg.Connection[Any], months_ahead: int) -> list[str]:
    """Create monthly partitions for this month and ``months_ahead`` more; return new ones."""
    created: list[str] = []
    for table in PARTITIONED_TABLES:
        rows = conn.execute(
            "SELECT pvara_ensure_monthly_partitions(%s::regclass, %s) AS name",
            (table, months_ahead),
        ).fetchall()
        created.extend(_first(row) for row in rows)
    return created


def _first(row: Any) -> str:
    return str(row["name"] if isinstance(row, dict) else row[0])
