"""Outage or bad record: the one decision every consumer makes, on errors the real servers and
clients raise."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import redis
from psycopg_pool import ConnectionPool, PoolTimeout

from core.outages import describe, is_outage, refused_by_database
from core.settings import Settings
from ops.processes import free_port


def _raised(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]) -> BaseException:
    try:
        conn.execute(sql, params)
    except Exception as exc:
        conn.rollback()
        return exc
    pytest.fail(f"{sql} did not fail")


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("SELECT %s::text", ("a\x00b",)),  # psycopg refuses before sending
        ("SELECT %s::text", ("a\ud800b",)),  # not encodable as UTF-8
        ("SELECT %s::int", ("not a number",)),  # 22P02
        ("SELECT 1 / 0", ()),  # 22012
    ],
    ids=["nul", "lone-surrogate", "bad-integer", "division-by-zero"],
)
def test_values_the_database_refuses_are_bad_records_not_outages(
    db: psycopg.Connection[Any], sql: str, params: tuple[Any, ...]
) -> None:
    with psycopg.connect(db.info.dsn) as conn:
        exc = _raised(conn, sql, params)
    assert refused_by_database(exc)
    assert not is_outage(exc)


def test_an_index_row_too_large_is_a_bad_record_although_psycopg_calls_it_operational(
    db: psycopg.Connection[Any],
) -> None:
    with psycopg.connect(db.info.dsn) as conn:
        conn.execute("CREATE TEMP TABLE wide (v text)")
        conn.execute("CREATE INDEX ON wide (v)")
        exc = _raised(conn, "INSERT INTO wide VALUES (%s)", ("x" * 300_000,))
    assert isinstance(exc, psycopg.OperationalError)  # ProgramLimitExceeded, SQLSTATE 54000
    assert refused_by_database(exc)
    assert not is_outage(exc)
    assert "54000" in describe(exc)


def test_an_unreachable_database_and_an_exhausted_pool_are_outages(services_up: Settings) -> None:
    url = f"postgresql://pvara@127.0.0.1:{free_port()}/pvara"
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(url, connect_timeout=2)
    assert is_outage(refused.value)
    assert not refused_by_database(refused.value)

    pool: ConnectionPool[Any] = ConnectionPool(url, min_size=1, open=False, timeout=1)
    pool.open(wait=False)
    try:
        with pytest.raises(PoolTimeout) as timed_out, pool.connection():
            pass
    finally:
        pool.close()
    assert is_outage(timed_out.value)


def test_a_server_ending_the_session_is_an_outage(db: psycopg.Connection[Any]) -> None:
    victim = psycopg.connect(db.info.dsn, autocommit=True)
    db.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
    with pytest.raises(psycopg.Error) as ended:
        victim.execute("SELECT 1")
    victim.close()
    assert is_outage(ended.value)


def test_an_unreachable_redis_is_an_outage_even_wrapped() -> None:
    client = redis.Redis(port=free_port(), socket_connect_timeout=1)
    with pytest.raises(redis.ConnectionError) as refused:
        client.ping()
    assert is_outage(refused.value)
    try:
        try:
            client.ping()
        except redis.ConnectionError as exc:
            raise RuntimeError("could not enqueue") from exc
    except RuntimeError as wrapped:
        assert is_outage(wrapped)
    assert not is_outage(ValueError("a bug"))
