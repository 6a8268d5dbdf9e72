"""A cheap, real "does Kafka answer?" check for readiness probes and status pages."""

from __future__ import annotations

import logging
import threading

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from core.settings import Settings


class KafkaProbe:
    """Keeps one admin connection and sends DescribeCluster on each check."""

    def __init__(self, settings: Settings, timeout_ms: int = 3000) -> None:
        self._settings = settings
        self._timeout_ms = timeout_ms
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def answers(self) -> bool:
        with self._lock:
            try:
                if self._admin is None:
                    logging.getLogger("kafka").setLevel(logging.CRITICAL)
                    self._admin = KafkaAdminClient(
                        bootstrap_servers=self._settings.effective_kafka_bootstrap,
                        client_id="pvara-probe",
                        request_timeout_ms=self._timeout_ms,
                        bootstrap_timeout_ms=self._timeout_ms,
                        reconnect_backoff_max_ms=1000,
                    )
                self._admin.describe_cluster()
                return True
            except (KafkaError, OSError, ValueError):
                self.close_unlocked()
                return False

    def close_unlocked(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            finally:
                self._admin = None

    def close(self) -> None:
        with self._lock:
            self.close_unlocked()
