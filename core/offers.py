"""Offer expiry, shared by the API (a lazy check on read) and the scheduler (a sweep)."""

from __future__ import annotations

from typing import Any

import psycopg

#: Pending offers whose expiry has passed become ``expired`` (decided at their expiry time).
EXPIRE_SQL = (
    "UPDATE offers SET status = 'expired', decided_at = expires_at"
    " WHERE status = 'pending' AND expires_at <= now()"
)


def expire_offers(conn: psycopg.Connection[Any]) -> int:
    """Expire every overdue pending offer, in the caller's transaction; returns how many.

    The scheduler calls this periodically (as the owner role, all organizations at once);
    the API additionally expires an overdue offer when it is read, so a late sweep is never
    visible to users.
    """
    return conn.execute(EXPIRE_SQL).rowcount
