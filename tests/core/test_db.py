"""Pooled PostgreSQL connections across a real server restart: checked, so a restart costs no
caller an error, and a pool can be made while the server is still down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from core.db import create_pool
from core.settings import Settings
from ops.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox(services_up: Settings) -> Iterator[Sandbox]:
    with Sandbox(services_up) as box:
        box.up("postgres")
        yield box


def _open_every_connection(pool: ConnectionPool[Any], n: int) -> None:
    held = [pool.getconn(timeout=30) for _ in range(n)]
    for conn in held:
        conn.execute("SELECT 1")
        conn.rollback()
        pool.putconn(conn)


def _failures_after_restart(sandbox: Sandbox, pool: ConnectionPool[Any], uses: int) -> int:
    sandbox.kill("postgres")
    sandbox.restart("postgres")
    failures = 0
    for _ in range(uses):
        try:
            with pool.connection(timeout=30) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            failures += 1
    return failures


def test_after_a_restart_dead_pooled_connections_are_replaced_not_handed_out(
    sandbox: Sandbox,
) -> None:
    pool = create_pool(sandbox.settings, name="restart", min_size=4, max_size=4)
    try:
        _open_every_connection(pool, 4)
        assert _failures_after_restart(sandbox, pool, 8) == 0
    finally:
        pool.close()


def test_without_the_check_each_dead_connection_fails_a_caller(sandbox: Sandbox) -> None:
    """What the check prevents (the cause seen in the chaos run): one error per connection."""
    pool: ConnectionPool[Any] = ConnectionPool(
        sandbox.settings.effective_database_url, min_size=4, max_size=4, open=False
    )
    pool.open(wait=True, timeout=30)
    try:
        _open_every_connection(pool, 4)
        assert _failures_after_restart(sandbox, pool, 8) >= 1
    finally:
        pool.close()


def test_a_pool_made_while_postgresql_is_down_connects_once_it_is_up(sandbox: Sandbox) -> None:
    sandbox.kill("postgres")
    pool = create_pool(sandbox.settings, name="early", wait=False)  # returns at once
    try:
        sandbox.restart("postgres")
        with pool.connection(timeout=60) as conn:
            row = conn.execute("SELECT 1 AS one").fetchone()
        assert row == {"one": 1}
    finally:
        pool.close()
