"""The ``shortlist`` pool: top N per job above the threshold, as a new version, atomically.

Scores arrive in bursts; :func:`tasks._handoff.to_shortlist` debounces them so a burst for
one job triggers one rebuild (a Redis ``SET NX`` marks a rebuild as pending; the rebuild clears
the mark before it reads the scores, so a score landing during a rebuild schedules another).
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from core.domain import ApplicationStatus as S
from core.events import SHORTLIST_UPDATED
from core.outbox import add_event
from core.queue import REBUILD_SHORTLIST, SHORTLIST
from core.status import change_status_many
from screening.criteria import Criteria
from tasks import _resources
from tasks._handoff import PENDING_KEY, to_shortlist
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)

_CANDIDATES_SQL = """
SELECT id, ai_score, status FROM applications
 WHERE job_id = %s AND status IN ('screened', 'shortlisted') AND ai_score >= %s
 ORDER BY ai_score DESC, submitted_at, id
 LIMIT %s
"""

_CURRENT_SQL = """
SELECT s.application_id, s.rank, s.ai_score FROM shortlist s
 WHERE s.job_id = %s
   AND s.version = (SELECT max(version) FROM shortlist_versions WHERE job_id = %s)
 ORDER BY s.rank
"""


#: Score hands over through :func:`tasks._handoff.to_shortlist`; the name stays for callers.
request_rebuild = to_shortlist


@dramatiq.actor(
    actor_name=REBUILD_SHORTLIST,
    queue_name=SHORTLIST,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=120_000,
    max_age=3_600_000,  # a newer rebuild supersedes it
)
def rebuild_shortlist(job_id: str, reason: str = "scores") -> None:
    """Rebuild one job's shortlist (a new version only when it changed)."""
    _resources.redis_client().delete(PENDING_KEY.format(job_id))
    build(job_id, reason)


def build(job_id: str, reason: str) -> int | None:
    """Compute and store the shortlist in one transaction (serialised per job)."""
    with _resources.db().connection() as conn, conn.transaction():
        job = conn.execute(
            "SELECT id, organization_id FROM jobs WHERE id = %s FOR UPDATE", (job_id,)
        ).fetchone()
        if job is None:
            return None
        row = conn.execute(
            "SELECT version, criteria FROM screening_criteria WHERE job_id = %s"
            " ORDER BY version DESC LIMIT 1",
            (job_id,),
        ).fetchone()
        criteria = Criteria.model_validate(row["criteria"]) if row else Criteria()
        criteria_version = row["version"] if row else None
        top = conn.execute(
            _CANDIDATES_SQL,
            (job_id, criteria.filtering.min_score_threshold, criteria.filtering.top_n_candidates),
        ).fetchall()
        entries = [(r["id"], rank, r["ai_score"]) for rank, r in enumerate(top, start=1)]
        current = [
            (r["application_id"], r["rank"], r["ai_score"])
            for r in conn.execute(_CURRENT_SQL, (job_id, job_id))
        ]
        if entries == current and current:
            return None
        next_version = conn.execute(
            "SELECT coalesce(max(version), 0) + 1 AS v FROM shortlist_versions WHERE job_id = %s",
            (job_id,),
        ).fetchone()
        version = next_version["v"] if next_version else 1
        conn.execute(
            "INSERT INTO shortlist_versions (job_id, version, organization_id, criteria_version,"
            " entries, reason) VALUES (%s, %s, %s, %s, %s, %s)",
            (job_id, version, job["organization_id"], criteria_version, len(entries), reason),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO shortlist (organization_id, job_id, version, application_id, rank,"
                " ai_score) VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (job["organization_id"], job_id, version, app_id, rank, score)
                    for app_id, rank, score in entries
                ],
            )
        _apply_membership(conn, job_id, entries)
        add_event(
            conn,
            SHORTLIST_UPDATED,
            {
                "job_id": str(job_id),
                "version": version,
                "reason": reason,
                "criteria_version": criteria_version,
                "entries": [
                    {"application_id": str(a), "rank": r, "score": float(s)} for a, r, s in entries
                ],
            },
            key=str(job_id),
            job_id=job_id,
        )
    log.info(
        "shortlist rebuilt",
        extra={"job_id": str(job_id), "version": version, "entries": len(entries)},
    )
    return int(version)


def _apply_membership(conn: Any, job_id: str, entries: list[tuple[Any, int, Any]]) -> None:
    """Mark members (status screened → shortlisted) and unmark those who dropped out
    (shortlisted → screened), the status changes through the state machine's guard."""
    ids = [app_id for app_id, _, _ in entries]
    dropped = [
        row["id"]
        for row in conn.execute(
            "UPDATE applications SET is_in_shortlist = false, shortlist_rank = NULL,"
            " updated_at = now()"
            " WHERE job_id = %s AND is_in_shortlist AND NOT (id = ANY(%s))"
            " RETURNING id",
            (job_id, ids),
        )
    ]
    change_status_many(
        conn, job_id, dropped, S.SCREENED, expect=S.SHORTLISTED, reason="left shortlist"
    )
    conn.execute(
        "UPDATE applications a SET is_in_shortlist = true, shortlist_rank = v.rank,"
        " updated_at = now()"
        " FROM unnest(%s::uuid[], %s::int[]) AS v(id, rank)"
        " WHERE a.id = v.id AND a.job_id = %s",
        (ids, [rank for _, rank, _ in entries], job_id),
    )
    change_status_many(conn, job_id, ids, S.SHORTLISTED, expect=S.SCREENED, reason="shortlist")
