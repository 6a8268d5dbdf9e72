"""``pvara demo``: the main job on sample data, from nothing, with a summary at the end.

Services up → schema → an organization and a job with the seed's criteria → N sample résumés
(PDF, DOCX, text) submitted concurrently through the HTTP API → bridge and every pool running
→ wait until every application reached a final state → counts, shortlist, throughput, latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from core.domain import PIPELINE_DONE
from core.migrate import migrate
from core.settings import Settings
from core.webhooks import SIGNATURE_HEADER, SignatureError, verify
from ingest.topics import ensure_topics
from ops import demo_llm, demo_throughput
from ops.demo_email import DemoMail
from ops.demo_hr import change_criteria_and_rebuild, render_shortlist
from ops.pools import render_pool_table
from ops.processes import free_port, running, wait_for_http
from ops.samples import SampleResume, generate_samples
from ops.services import ServiceError, all_services
from ops.services._base import apt_install
from screening.criteria import EXAMPLE_CRITERIA
from screening.ledger import routing_mix_and_costs

_FINAL = tuple(sorted(PIPELINE_DONE))
_KINDS = {
    "application/pdf": "PDF",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
    "text/plain": "text",
}


@dataclass
class _Submitted:
    accepted: dict[str, float] = field(default_factory=dict)  # application id → submit time
    refused: list[tuple[int, str]] = field(default_factory=list)


class _WebhookSink:
    """A local receiver that verifies every delivery's signature, for the demo's job."""

    def __init__(self, secret: bytes) -> None:
        self.verified = 0
        self.rejected = 0
        self.events: dict[str, int] = {}
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify(secret, body, self.headers.get(SIGNATURE_HEADER, ""))
                except SignatureError:
                    sink.rejected += 1
                    self.send_response(401)
                else:
                    sink.verified += 1
                    kind = json.loads(body).get("type", "?")
                    sink.events[kind] = sink.events.get(kind, 0) + 1
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pvara"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def run_demo(
    settings: Settings, *, count: int | None = None, concurrency: int = 32, llm: str | None = None
) -> int:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    count = count or (demo_llm.DEFAULT_COUNT if llm else 300)
    print(f"PVARA demo: {count} sample applications, end to end\n")
    try:
        for service in all_services(settings):
            status = service.up()
            print(f"  service {status.name:<9} {status.address}  answering={status.answering}")
        model = demo_llm.start(settings, llm) if llm else None
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    migrate(settings)
    ensure_topics(settings)

    webhook_secret = uuid.uuid4().hex.encode()
    sink = _WebhookSink(webhook_secret)
    mail = DemoMail()  # ops/demo_email.py: a real SMTP server for the demo's e-mails
    hr = (f"hr-{uuid.uuid4().hex[:8]}@demo.pvara.dev", uuid.uuid4().hex)
    org_id, job_id = _create_job(settings, sink.url, webhook_secret.decode(), hr)
    mail.adopt(settings, org_id)
    print(f"  organization {org_id}\n  job          {job_id} (seed's example criteria)\n")
    twin = demo_llm.create_local_twin(settings, org_id) if model else None

    port = free_port()
    env = {
        **os.environ,
        "PVARA_API_PORT": str(port),
        "PVARA_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "PVARA_NOTIFY_MIN_BACKOFF_MS": "500",
        # Every sample candidate submits from this one address: lift the anonymous limit.
        "PVARA_RATE_LIMIT_SUBMIT_PER_MIN": "0",
        **mail.env(),
        **(model.env if model else {}),
    }
    log_dir = settings.home / "demo-logs"
    launched = time.time()
    children = demo_throughput.children(settings, port, env, log_dir)
    with running(children):
        started = time.perf_counter()
        samples = generate_samples(count)
        kinds: dict[str, int] = {}
        for sample in samples:
            kind = _KINDS.get(sample.media_type, sample.media_type)
            kinds[kind] = kinds.get(kind, 0) + 1
        print(
            f"generated {count} résumés in {time.perf_counter() - started:.1f}s: "
            + ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        )

        base = f"http://127.0.0.1:{port}"
        if not wait_for_http(f"{base}/health/ready", 60):
            print(f"error: the API did not become ready; see {log_dir}", file=sys.stderr)
            return 1
        if not _wait_workers(settings, launched, 180):
            print(f"error: the workers did not start; see {log_dir}", file=sys.stderr)
            return 1
        print(f"API ready at {base}; bridge and workers running (logs in {log_dir})")
        print(f"  {demo_throughput.layout(settings)}\n")
        t0 = time.time()
        submitted = asyncio.run(_submit_all(base, job_id, samples, concurrency))
        submit_s = time.time() - t0
        print(
            f"submitted {count} in {submit_s:.1f}s ({count / submit_s:.0f}/s): "
            f"{len(submitted.accepted)} accepted (202), {len(submitted.refused)} refused"
        )
        note = demo_llm.model_progress(settings, job_id) if model else None
        ok = _wait_final(settings, job_id, len(submitted.accepted), timeout_s=900, note=note)
        elapsed = time.time() - t0
        compared = None
        if twin is not None:  # the same résumés, local only, for the comparison
            local_run = asyncio.run(_submit_all(base, twin, samples, concurrency))
            ok = _wait_final(settings, twin, len(local_run.accepted), timeout_s=300) and ok
            compared = demo_llm.compare(settings, twin, job_id)  # before HR re-scores the job
        _wait_shortlist_settled(settings, job_id)
        _wait_webhooks_sent(settings, job_id, sink)
        print("\n== Worker pools ==")
        print(render_pool_table(settings))
        _dashboard_snapshot(settings, base)
        stats = _summary(settings, job_id, submitted, elapsed)
        print()
        try:
            shortlist = change_criteria_and_rebuild(base, job_id, *hr)
        except httpx.HTTPError as exc:
            print(f"error: the HR flow failed: {exc}", file=sys.stderr)
            return 1
        print(render_shortlist(shortlist))
        try:
            mail.interviews_and_offer(settings, base, job_id, *hr)
        except httpx.HTTPError as exc:
            print(f"error: the interview flow failed: {exc}", file=sys.stderr)
            return 1
        mail.wait_delivered(settings)
    sink.close()
    mail.close()
    print("\n== Screening: routing mix and LLM cost ==")
    print(routing_mix_and_costs(settings, job_id))
    if compared:
        print(f"\n{compared}")
    print(
        f"\nwebhooks delivered and verified: {sink.verified} "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(sink.events.items()))}); "
        f"bad signatures: {sink.rejected}"
    )
    print(mail.report())
    lost = stats["lost"]
    if not ok or lost:
        print(f"\nFAILED: {lost} application(s) lost or unfinished", file=sys.stderr)
        return 1
    print("\nnothing lost: every accepted application reached a final state")
    return 0


def _dashboard_snapshot(settings: Settings, base: str) -> None:
    """Leave a screenshot of the live /ops dashboard in ``<home>/dashboard.png``."""
    from ops.browser import BrowserError, capture_dashboard, chromium_path
    from ops.web import issue_ops_token

    path = settings.home / "dashboard.png"
    try:
        if chromium_path() is None:
            apt_install("chromium")
        capture_dashboard(settings, base, issue_ops_token(settings), path)
    except (BrowserError, ServiceError, OSError) as exc:
        print(f"\n(dashboard screenshot not taken: {exc})")
        return
    print(f"\ndashboard screenshot: {path}")


def _create_job(
    settings: Settings, webhook_url: str, secret: str, hr: tuple[str, str]
) -> tuple[uuid.UUID, uuid.UUID]:
    """An organization with an HR user (``hr`` = e-mail, password) and one open job."""
    from api.auth.service import create_organization_with_admin
    from core.domain import Role

    slug = f"demo-{uuid.uuid4().hex[:8]}"
    org_id, _ = create_organization_with_admin(
        settings, name="Demo Recruiting", slug=slug, email=hr[0], password=hr[1], role=Role.HR
    )
    job_id = uuid.uuid4()
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO jobs (id, organization_id, title, department, description, location,"
            " tier, webhook_url, webhook_secret) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                job_id,
                org_id,
                "Backend Engineer (Python)",
                "Engineering",
                "Build and run Python services on PostgreSQL; containers and Kubernetes a plus.",
                "Remote",
                "standard",
                webhook_url,
                secret,
            ),
        )
        conn.execute(
            "INSERT INTO screening_criteria (organization_id, job_id, version, criteria,"
            " top_n_candidates, min_score_threshold) VALUES (%s, %s, 1, %s, 10, 70)",
            (org_id, job_id, Jsonb(EXAMPLE_CRITERIA)),
        )
    return org_id, job_id


async def _submit_all(
    base: str, job_id: uuid.UUID, samples: list[SampleResume], concurrency: int
) -> _Submitted:
    result = _Submitted()
    gate = asyncio.Semaphore(concurrency)
    url = f"{base}/api/v1/jobs/{job_id}/applications"
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(sample: SampleResume) -> None:
            fields = {
                "candidate_cnic": sample.cnic,
                "candidate_name": sample.name,
                "candidate_email": sample.email,
                "phone": sample.phone,
            }
            async with gate:
                if sample.media_type == "text/plain":
                    response = await client.post(url, json={**fields, "resume_text": sample.text})
                else:
                    response = await client.post(
                        url,
                        data=fields,
                        files={"resume": (sample.filename, sample.data, sample.media_type)},
                    )
            if response.status_code in (200, 202):
                result.accepted[response.json()["application_id"]] = time.time()
            else:
                result.refused.append((response.status_code, response.text[:200]))

        await asyncio.gather(*(one(s) for s in samples))
    return result


def _counts(settings: Settings, job_id: uuid.UUID) -> dict[str, int]:
    with psycopg.connect(settings.effective_database_url) as conn:
        return {
            status: n
            for status, n in conn.execute(
                "SELECT status, count(*) FROM applications WHERE job_id = %s GROUP BY status",
                (job_id,),
            )
        }


def _wait_final(
    settings: Settings,
    job_id: uuid.UUID,
    expected: int,
    timeout_s: float,
    note: Callable[[], str] | None = None,
) -> bool:
    deadline = time.monotonic() + timeout_s
    done = 0
    while time.monotonic() < deadline:
        counts = _counts(settings, job_id)
        done = sum(n for s, n in counts.items() if s in _FINAL)
        _progress(done, expected, counts, note() if note else "")
        if done >= expected:
            print()
            return True
        time.sleep(0.5)
    print()
    return False


def _wait_shortlist_settled(settings: Settings, job_id: uuid.UUID) -> None:
    """The last scores schedule a debounced rebuild; wait until no rebuild is pending."""
    import redis

    client = redis.Redis.from_url(settings.effective_redis_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and client.exists(f"pvara:shortlist:pending:{job_id}"):
        time.sleep(0.2)


def _wait_webhooks_sent(settings: Settings, job_id: uuid.UUID, sink: _WebhookSink) -> None:
    """Wait until every webhook-worthy event of the job reached the demo's receiver."""
    kinds = [k.strip() for k in settings.webhook_events.split(",") if k.strip()]
    deadline = time.monotonic() + 30
    with psycopg.connect(settings.effective_database_url) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM event_outbox WHERE job_id = %s AND event_type = ANY(%s)",
                (job_id, kinds),
            ).fetchone()
            if sink.verified >= (row[0] if row else 0):
                return
            time.sleep(0.2)


def _wait_workers(settings: Settings, since: float, timeout_s: float) -> bool:
    """Wait until every pool has a worker started after ``since`` that heartbeats (importing
    actors takes seconds)."""
    import redis

    from core.queue import POOLS
    from ops.pools import workers

    client = redis.Redis.from_url(settings.effective_redis_url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        live = {p for w in workers(client, settings) if w.started >= since for p in w.pools}
        if live >= set(POOLS):
            return True
        time.sleep(0.3)
    return False


_last_progress = [0.0, -1]


def _progress(done: int, total: int, counts: dict[str, int], note: str = "") -> None:
    width = 40
    filled = int(width * done / total) if total else width
    detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    detail = f"{detail}  {note}" if note else detail
    line = f"  [{'#' * filled}{'.' * (width - filled)}] {done}/{total}  {detail}"
    if sys.stdout.isatty():
        sys.stdout.write(f"\r{line}   ")
    elif (
        (done != _last_progress[1] and time.monotonic() - _last_progress[0] >= 2)
        or (note and time.monotonic() - _last_progress[0] >= 15)  # a slow model still works
        or done == total
    ):
        # Not a terminal (CI, a log file): a line now and then instead of a redrawn bar.
        sys.stdout.write(f"{line}\n")
        _last_progress[:] = [time.monotonic(), done]
    sys.stdout.flush()


def _summary(
    settings: Settings, job_id: uuid.UUID, submitted: _Submitted, elapsed_s: float
) -> dict[str, int]:
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as conn:
        counts = _counts(settings, job_id)
        latencies = [
            r["ms"]
            for r in conn.execute(
                "SELECT extract(epoch FROM ai_screened_at - submitted_at) * 1000 AS ms"
                " FROM applications WHERE job_id = %s AND ai_screened_at IS NOT NULL"
                " ORDER BY 1",
                (job_id,),
            )
        ]
        shortlist = conn.execute(
            "SELECT s.rank, s.ai_score, a.candidate_name, a.ai_recommendation,"
            "       a.ai_skills_matched, a.ai_skills_missing, s.version"
            "  FROM shortlist s JOIN applications a ON a.id = s.application_id"
            " WHERE s.job_id = %s"
            "   AND s.version = (SELECT max(version) FROM shortlist_versions WHERE job_id = %s)"
            " ORDER BY s.rank LIMIT 10",
            (job_id, job_id),
        ).fetchall()
        ids = [uuid.UUID(a) for a in submitted.accepted]
        counted = conn.execute(
            "SELECT count(*) AS n, count(*) FILTER (WHERE status = ANY(%s)) AS final"
            "  FROM applications WHERE job_id = %s AND id = ANY(%s)",
            (list(_FINAL), job_id, ids),
        ).fetchone()
        in_db, in_final = (counted["n"], counted["final"]) if counted else (0, 0)
    scored = sum(counts.get(s, 0) for s in ("screened", "shortlisted"))
    failed = counts.get("parse_failed", 0)
    accepted = len(submitted.accepted)
    print("\n== Summary ==")
    print(f"  submitted   {accepted + len(submitted.refused)}")
    print(f"  accepted    {accepted}")
    print(f"  in database {in_db}")
    print(f"  parsed      {accepted - failed}")
    print(f"  scored      {scored}")
    print(f"  failed      {failed} (parse_failed)")
    print(
        f"  throughput  {accepted / elapsed_s:.1f} applications/s end to end "
        f"({elapsed_s:.1f}s for {accepted})"
    )
    if latencies:
        print(
            f"  submit→scored latency  p50 {_pct(latencies, 50):.0f} ms   "
            f"p95 {_pct(latencies, 95):.0f} ms   p99 {_pct(latencies, 99):.0f} ms"
        )
    if shortlist:
        print(f"\n== Shortlist (top 10, version {shortlist[0]['version']}) ==")
        print(f"  {'rank':>4}  {'score':>5}  {'candidate':<26} {'recommend':<9}  matched / missing")
        for row in shortlist:
            matched = ", ".join(row["ai_skills_matched"] or [])
            missing = ", ".join(row["ai_skills_missing"] or []) or "-"
            print(
                f"  {row['rank']:>4}  {float(row['ai_score']):>5.1f}  "
                f"{row['candidate_name'][:26]:<26} {row['ai_recommendation']:<9}  "
                f"{matched} / {missing}"
            )
    return {"lost": accepted - in_final}


def _pct(sorted_values: list[Any], pct: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return float(sorted_values[index])
