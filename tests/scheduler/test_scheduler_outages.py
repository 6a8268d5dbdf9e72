"""The scheduler survives a PostgreSQL restart: it steps down, waits, and leads again."""

from __future__ import annotations

import threading
import time
from typing import Any

from core.migrate import migrate
from core.settings import Settings
from ops.sandbox import Sandbox
from scheduler.jobs import Job
from scheduler.runner import Scheduler
from tests.pipeline import wait_for


def test_the_scheduler_keeps_running_through_a_postgresql_restart_and_leads_again(
    services_up: Settings,
) -> None:
    with Sandbox(services_up) as sandbox:
        sandbox.up("postgres")
        migrate(sandbox.settings)
        settings = sandbox.settings.model_copy(
            update={"redis_url": services_up.effective_redis_url, "scheduler_poll_s": 0.2}
        )
        ran: list[float] = []

        def probe(_: Any) -> dict[str, Any]:
            ran.append(time.monotonic())
            return {}

        scheduler = Scheduler(settings, jobs=[Job("probe", "* * * * * *", probe, "test")])
        stop = threading.Event()
        thread = threading.Thread(target=scheduler.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: len(ran) >= 2, 60, "the job to run as leader")
            sandbox.kill("postgres")
            wait_for(lambda: not scheduler.lock.held, 30, "the leader to step down")
            assert thread.is_alive()
            before = len(ran)
            sandbox.restart("postgres")
            wait_for(lambda: len(ran) >= before + 2, 90, "the job to run again")
            assert thread.is_alive()
            assert scheduler.lock.held
        finally:
            stop.set()
            thread.join(30)
        assert not thread.is_alive()
