"""Known ai_screening_log rows for the finance report tests (a fresh organization each time).

In the window 2025-01-05..2025-01-06 there are four applications: A (local + Ollama), B (local
only), C (local, a failed OpenAI call, Anthropic), D (local + OpenAI); E, on 2025-01-10, is
outside. Totals in the window: 4 applications, 3 reached a priced model, 8 calls (1 failed),
$0.016 = $0.0155 API + $0.0005 Ollama.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg

from tests.conftest import create_org_and_job

DAY1 = datetime(2025, 1, 5, 10, tzinfo=UTC)
DAY2 = datetime(2025, 1, 6, 10, tzinfo=UTC)
LATER = datetime(2025, 1, 10, 10, tzinfo=UTC)


@dataclass(frozen=True)
class Ledger:
    organization_id: uuid.UUID
    standard_job: uuid.UUID
    senior_job: uuid.UUID


def insert_ledger_rows(db: psycopg.Connection[Any]) -> Ledger:
    """A fresh organization with two jobs and the rows described above."""
    standard = create_org_and_job(db, tier="standard")
    org = standard.organization_id
    senior = uuid.uuid4()
    db.execute(
        "INSERT INTO jobs (id, organization_id, title, tier) VALUES (%s, %s, 'Lead', 'senior')",
        (senior, org),
    )
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    rows = [
        (a, standard.job_id, "standard", "local", "pvara-local-v1", "0", "ok", DAY1),
        (a, standard.job_id, "standard", "ollama", "llama3.1:8b", "0.0005", "ok", DAY1),
        (b, standard.job_id, "standard", "local", "pvara-local-v1", "0", "ok", DAY1),
        (c, senior, "senior", "local", "pvara-local-v1", "0", "ok", DAY2),
        (c, senior, "senior", "openai", "gpt-5", "0", "error", DAY2),
        (c, senior, "senior", "anthropic", "claude-sonnet-4-5", "0.0035", "ok", DAY2),
        (d, senior, "senior", "local", "pvara-local-v1", "0", "ok", DAY2),
        (d, senior, "senior", "openai", "gpt-5", "0.012", "ok", DAY2),
        (e, senior, "senior", "openai", "gpt-5", "1.0", "ok", LATER),
    ]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO ai_screening_log (organization_id, application_id, job_id, tier,"
            " provider, llm_model, cost_usd, outcome, prompt_tokens, completion_tokens,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1000, 100, %s)",
            [
                (org, app, job, tier, p, m, Decimal(cost), out, at)
                for app, job, tier, p, m, cost, out, at in rows
            ],
        )
    return Ledger(org, standard.job_id, senior)
