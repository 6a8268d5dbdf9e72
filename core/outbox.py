"""Writing events into the transactional outbox (published to Kafka by the relay)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

_INSERT_SQL = (
    "INSERT INTO event_outbox (topic, key, event_type, payload, job_id) VALUES (%s, %s, %s, %s, %s)"
)


def add_event(
    conn: psycopg.Connection[Any],
    topic: str,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    job_id: uuid.UUID | str | None = None,
) -> None:
    """Record an event in the caller's transaction; it is published once that commits."""
    conn.execute(_INSERT_SQL, (topic, key, topic, Jsonb(payload), job_id))


async def add_event_async(
    conn: psycopg.AsyncConnection[Any],
    topic: str,
    payload: dict[str, Any],
    *,
    key: str | None = None,
    job_id: uuid.UUID | str | None = None,
) -> None:
    """:func:`add_event` for an async connection (the API)."""
    await conn.execute(_INSERT_SQL, (topic, key, topic, Jsonb(payload), job_id))
