"""Starts the warm parser sandbox with a worker that serves ``parse``, and stops it after.

The sandbox is sized to the worker's threads unless ``PVARA_PARSE_SANDBOX_SIZE`` says
otherwise: each thread then always finds a parser ready.
"""

from __future__ import annotations

from typing import Any

from dramatiq.middleware import Middleware

from core.queue import PARSE
from core.settings import get_settings
from ingest.extract.isolation import Sandbox, use_sandbox


class WarmSandbox(Middleware):  # type: ignore[misc]
    """Dramatiq middleware: the parse worker's sandbox, installed at boot, started after."""

    def __init__(self) -> None:
        self.sandbox: Sandbox | None = None

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        whitelist = worker.consumer_whitelist
        if whitelist and PARSE not in whitelist:
            return
        settings = get_settings()
        self.sandbox = Sandbox(
            settings.parse_sandbox_size or worker.worker_threads,
            recycle_after=settings.parse_sandbox_recycle_after,
        )
        previous = use_sandbox(self.sandbox)
        if previous is not None:
            previous.close()

    def after_worker_boot(self, broker: Any, worker: Any) -> None:
        if self.sandbox is not None:
            self.sandbox.start()

    def after_worker_shutdown(self, broker: Any, worker: Any) -> None:
        if self.sandbox is not None:
            use_sandbox(None)
            self.sandbox.close()
            self.sandbox = None
