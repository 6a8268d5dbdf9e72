"""The in-process ceiling of bench/pipeline.py: what parse + score + their database writes cost
per application when nothing queues in between.

The same résumés as the load, one after the other in this process, through the project's own
functions: the parsers in-process (no sandbox), the local screener (the router as deployed),
the bridge's batched inserts (``Bridge.handle`` with an in-memory broker: no Redis) and the
single statements parse and score write with (``tasks.parse.store_text``,
``tasks.score.store_result``). CPU is this thread's time plus the PostgreSQL backend's (read
from /proc for the connection's ``pg_backend_pid()``); the server's background writers are
not counted, nor is the ingress.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from dramatiq.brokers.stub import StubBroker
from kafka.consumer.fetcher import ConsumerRecord
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from bench._procs import cpu_seconds
from core.db import create_pool
from core.domain import Candidate, ResumeRef, SubmittedApplication
from core.events import APPLICATIONS_SUBMITTED
from core.queue import PARSE
from core.settings import Settings
from ingest.blobs import LocalBlobStore
from ingest.bridge import Bridge
from ingest.extract import TEXT, ExtractionLimits, parser_for
from ingest.extract.model import Extracted
from ingest.extract.text import extract_plain
from screening.criteria import Criteria
from screening.engine import ScreeningRequest, screen

_BATCH = 100


def _record(offset: int, app: SubmittedApplication) -> ConsumerRecord:
    value = app.model_dump_json().encode()
    return ConsumerRecord(
        APPLICATIONS_SUBMITTED, 0, None, offset, 0, 0, None, value, [], None, -1, len(value), -1
    )


class _Cpu:
    """This thread's CPU plus a PostgreSQL backend's, accumulated over ``with`` blocks."""

    def __init__(self, backend_pid: int) -> None:
        self.backend_pid = backend_pid
        self.client = self.server = 0.0

    def measure(self, work: Callable[[], Any]) -> Any:
        client, server = time.thread_time(), cpu_seconds([self.backend_pid])
        try:
            return work()
        finally:
            self.client += time.thread_time() - client
            self.server += cpu_seconds([self.backend_pid]) - server


def measure(
    settings: Settings, samples: list[tuple[str, str, bytes, str]], count: int
) -> dict[str, float]:
    """ms of CPU per application: ``parse_ms``, ``score_ms``, ``db_ms`` and ``total_ms``."""
    from screening.criteria import EXAMPLE_CRITERIA
    from tasks.parse import store_text
    from tasks.score import store_result

    limits = ExtractionLimits()
    store = LocalBlobStore(settings.effective_blob_dir)
    org_id, job_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Ceiling', %s)",
            (org_id, f"ceiling-{org_id.hex}"),
        )
        conn.execute(
            "INSERT INTO jobs (id, organization_id, title, description, tier)"
            " VALUES (%s, %s, 'Backend Engineer (Python)', %s, 'standard')",
            (job_id, org_id, "Build and run Python services on PostgreSQL."),
        )
        conn.execute(
            "INSERT INTO screening_criteria (organization_id, job_id, version, criteria,"
            " top_n_candidates, min_score_threshold) VALUES (%s, %s, 1, %s, 10, 70)",
            (org_id, job_id, Jsonb(EXAMPLE_CRITERIA)),
        )
    criteria = Criteria.model_validate(EXAMPLE_CRITERIA)
    picked = [samples[i % len(samples)] for i in range(count)]
    apps: list[SubmittedApplication] = []
    for i, (media_type, filename, data, text) in enumerate(picked):
        cnic = f"{uuid.uuid4().int % 10**13:013d}"
        if media_type == TEXT:
            resume = ResumeRef(media_type=TEXT, inline_text=text, sha256="0" * 64, size=len(text))
        else:
            resume = ResumeRef(
                media_type=media_type,  # type: ignore[arg-type]
                blob_key=store.put(data, media_type),
                sha256="0" * 64,
                size=len(data),
                filename=filename,
            )
        apps.append(
            SubmittedApplication(
                application_id=uuid.uuid4(),
                organization_id=org_id,
                job_id=job_id,
                candidate=Candidate(cnic=cnic, name=f"Ceiling {i}", email=f"c{cnic}@example.com"),
                resume=resume,
                submitted_at=datetime.now(UTC),
            )
        )
    # One-time costs (imports, the taxonomy's regexes) are not per application.
    warm = parser_for(picked[0][0]) if picked[0][0] != TEXT else None
    if warm is not None:
        warm(picked[0][2], limits)
    screen(_request(apps[0], org_id, job_id, criteria, "warm-up text, Python and PostgreSQL"))

    broker = StubBroker()
    broker.declare_queue(PARSE)
    bridge_pool = create_pool(settings, name="ceiling-bridge", min_size=1, max_size=1)
    bridge = Bridge(settings, bridge_pool, broker)
    parse_cpu = score_cpu = 0.0
    try:
        with bridge_pool.connection() as conn:
            bridge_backend = int(conn.execute("SELECT pg_backend_pid() AS p").fetchone()["p"])
        bridge_cpu = _Cpu(bridge_backend)
        for start in range(0, len(apps), _BATCH):
            batch = [_record(start + i, a) for i, a in enumerate(apps[start : start + _BATCH])]
            bridge_cpu.measure(lambda batch=batch: bridge.handle(batch))
        with psycopg.connect(
            settings.effective_database_url, autocommit=True, row_factory=dict_row
        ) as conn:
            row = conn.execute("SELECT pg_backend_pid() AS p").fetchone()
            writes = _Cpu(int(row["p"]) if row else 0)
            for app, (media_type, _, _, _) in zip(apps, picked, strict=True):
                key = {"id": app.application_id, "created_at": app.submitted_at}
                started = time.thread_time()
                if media_type == TEXT:
                    extracted = extract_plain((app.resume.inline_text or "").encode(), limits)
                else:
                    payload = store.get(app.resume.blob_key or "")
                    text, pages, hidden, flags = parser_for(media_type)(payload, limits)
                    extracted = Extracted(text, media_type, pages, hidden, flags)
                parse_cpu += time.thread_time() - started
                moved = writes.measure(lambda key=key, e=extracted: store_text(conn, key, e))
                if moved is None:
                    raise RuntimeError("the ceiling's parse write did not move the application")
                started = time.thread_time()
                outcome = screen(_request(app, org_id, job_id, criteria, extracted.text))
                score_cpu += time.thread_time() - started
                writes.measure(
                    lambda m=moved, o=outcome: store_result(conn, m, o, unless_erased=True)
                )
    finally:
        bridge_pool.close()
    n = len(apps)
    db = bridge_cpu.client + bridge_cpu.server + writes.client + writes.server
    result = {
        "parse_ms": parse_cpu * 1000 / n,
        "score_ms": score_cpu * 1000 / n,
        "db_client_ms": (bridge_cpu.client + writes.client) * 1000 / n,
        "db_server_ms": (bridge_cpu.server + writes.server) * 1000 / n,
    }
    result["total_ms"] = (parse_cpu + score_cpu + db) * 1000 / n
    return result


def _request(
    app: SubmittedApplication,
    org_id: uuid.UUID,
    job_id: uuid.UUID,
    criteria: Criteria,
    text: str,
) -> ScreeningRequest:
    return ScreeningRequest(
        application_id=app.application_id,
        organization_id=org_id,
        job_id=job_id,
        job_title="Backend Engineer (Python)",
        job_description="Build and run Python services on PostgreSQL.",
        tier="standard",
        criteria=criteria,
        criteria_version=1,
        resume_text=text,
    )
