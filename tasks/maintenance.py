"""The ``maintenance`` pool: partitions ahead of time and the metrics view refresh."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import psycopg

from core.db import ensure_partitions
from core.queue import MAINTENANCE, RUN_MAINTENANCE
from core.settings import Settings
from tasks import _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)


def run(settings: Settings) -> dict[str, Any]:
    """Create missing monthly partitions and refresh ``application_metrics`` concurrently."""
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        with conn.transaction():
            created = ensure_partitions(conn, settings.partition_months_ahead)
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY application_metrics")
    log.info("maintenance done", extra={"partitions_created": created})
    return {"partitions_created": created, "metrics_refreshed": True}


@dramatiq.actor(
    actor_name=RUN_MAINTENANCE,
    queue_name=MAINTENANCE,
    max_retries=3,
    time_limit=600_000,
    max_age=3_600_000,
)
def run_maintenance() -> None:
    """Actor form of :func:`run` (the scheduler sends it on a clock)."""
    run(_resources.settings())
