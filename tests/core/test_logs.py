"""JSON log lines carry request and application ids and never a CNIC or an e-mail address."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dramatiq
import pytest
from dramatiq.broker import MessageProxy

from core.logs import JsonFormatter, application_id_var, request_id_var
from core.settings import Settings
from tasks.middleware import PoolStats

CNIC = "35202-1234567-1"
EMAIL = "ayesha.khan@example.com"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """Everything logged under ``pvara.test`` as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pvara.test")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # only our JSON handler sees these records
    yield stream
    logger.removeHandler(handler)
    logger.propagate = True


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_cnic_and_email_are_masked_in_the_message_extras_and_tracebacks(
    lines: io.StringIO,
) -> None:
    log = logging.getLogger("pvara.test")
    log.info(
        "applicant %s wrote from %s",
        CNIC,
        EMAIL,
        extra={"candidate": {"cnic": "3520212345671", "email": EMAIL}},
    )
    try:
        raise ValueError(f"duplicate CNIC {CNIC}")
    except ValueError:
        log.exception("failed")
    text = lines.getvalue()
    assert CNIC not in text and "3520212345671" not in text and EMAIL not in text
    first, second = _records(lines)
    assert first["msg"] == "applicant *****-*******-1 wrote from a***@example.com"
    assert first["candidate"]["email"] == "a***@example.com"
    assert "*****-*******-1" in second["exc"]


def test_request_and_application_ids_from_the_context_are_in_every_line(
    lines: io.StringIO,
) -> None:
    request_token = request_id_var.set("req-123")
    app_token = application_id_var.set("4f1c7a2e-0000-4000-8000-000000000001")
    try:
        logging.getLogger("pvara.test").info("hello")
    finally:
        request_id_var.reset(request_token)
        application_id_var.reset(app_token)
    (record,) = _records(lines)
    assert record["request_id"] == "req-123"
    assert record["application_id"] == "4f1c7a2e-0000-4000-8000-000000000001"
    assert record["level"] == "info" and record["logger"] == "pvara.test"


def test_worker_middleware_sets_the_application_id_while_an_actor_runs(
    lines: io.StringIO, settings: Settings
) -> None:
    application_id = str(uuid.uuid4())
    stats = PoolStats(settings)
    message = MessageProxy(
        dramatiq.Message(
            queue_name="parse",
            actor_name="parse_application",
            args=(application_id,),
            kwargs={},
            options={},
        )
    )
    broker = dramatiq.get_broker()
    stats.before_process_message(broker, message)
    logging.getLogger("pvara.test").info("parsing")
    stats.after_process_message(broker, message, result=None)
    logging.getLogger("pvara.test").info("between messages")
    inside, after = _records(lines)
    assert inside["application_id"] == application_id
    assert "application_id" not in after


def test_a_scheduler_job_logs_under_its_run_id(
    lines: io.StringIO, services_up: Settings, db: Any
) -> None:
    from scheduler.jobs import Job
    from scheduler.runner import Scheduler, latest_occurrence

    namespace = f"test-{uuid.uuid4().hex[:8]}"
    settings = services_up.model_copy(update={"scheduler_namespace": namespace})
    seen: list[str | None] = []

    def job(_: Any) -> dict[str, Any]:
        seen.append(request_id_var.get())
        logging.getLogger("pvara.test").info("job ran")
        return {}

    probe = Job("probe", "* * * * * *", job, "test")
    scheduler = Scheduler(settings, jobs=[probe])
    try:
        occurrence = latest_occurrence(probe.cron, datetime.now(UTC))
        run_id = scheduler.claim(probe, occurrence)
        assert run_id is not None
        scheduler._execute(probe, run_id, occurrence)
    finally:
        if scheduler._pool is not None:
            scheduler._pool.close()
        db.execute("DELETE FROM scheduler_runs WHERE job LIKE %s", (namespace + "/%",))
    assert seen == [f"sched-{run_id}"]
    assert _records(lines)[0]["request_id"] == f"sched-{run_id}"
