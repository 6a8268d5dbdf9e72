"""Telling a dependency's outage from a bad record.

Every consumer of ours makes the same decision when something fails: is the service we talk
to gone for a while (PostgreSQL restarting, Redis down, a broker unreachable), so the same
work must be tried again later without counting it against anything, or did the database
refuse this one record (a NUL character, a value too long for an index), so it must be set
aside with its reason while the others go on. This module is the one place that decides.
"""

from __future__ import annotations

import psycopg
import redis
from kafka import errors as kafka_errors

# SQLSTATE classes of a connection or server state problem, not of the statement:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (57P01 admin
# shutdown, 57P03 cannot connect now, 57014 statement timeout), 58 system error.
_OUTAGE_CLASSES = ("08", "53", "57", "58")
# SQLSTATE classes where PostgreSQL refused the values themselves: 22 data exception,
# 23 integrity constraint violation, 54 program limit exceeded (an index row or a tsvector
# too large).
_REFUSED_CLASSES = ("22", "23", "54")

_KAFKA_OUTAGES: tuple[type[BaseException], ...] = (
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
    kafka_errors.NodeNotReadyError,
    kafka_errors.MetadataEmptyBrokerList,
    kafka_errors.RequestTimedOutError,
)


def _chain(exc: BaseException, depth: int = 8) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, nearest first."""
    found: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in found and len(found) < depth:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.Error):
        if refused_by_database(exc):
            return False
        state = exc.sqlstate or ""
        if state:
            return state.startswith(_OUTAGE_CLASSES)
        # No SQLSTATE: raised by the client (connection lost, pool timeout, closed).
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return True
    return isinstance(exc, _KAFKA_OUTAGES)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) says PostgreSQL, Redis or Kafka is
    unreachable or restarting: the work is fine and should simply be tried again later."""
    return any(_is_outage_itself(e) for e in _chain(exc))


def refused_by_database(exc: BaseException) -> bool:
    """Whether PostgreSQL (or psycopg, before sending) refused the values of a statement:
    the record is at fault, and trying it again can never succeed."""
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return True
    if isinstance(exc, psycopg.Error):
        return (exc.sqlstate or "").startswith(_REFUSED_CLASSES)
    # psycopg encodes text as UTF-8 before sending: a lone surrogate fails there.
    return isinstance(exc, UnicodeEncodeError)


def describe(exc: BaseException) -> str:
    """A one-line reason for logs and dead letters (type, SQLSTATE if any, message)."""
    state = getattr(exc, "sqlstate", None)
    text = str(exc).replace("\n", " ").strip()
    prefix = type(exc).__name__ + (f" [{state}]" if state else "")
    return f"{prefix}: {text}"[:500]
