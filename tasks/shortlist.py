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
from tasks import _criteria, _resources
from tasks._handoff import PENDING_KEY, to_shortlist
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)

_CANDIDATES_SQL = """
SELECT id, created_at, ai_score, status FROM applications
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
        # NO KEY UPDATE serialises rebuilds of the job without blocking the foreign-key
        # checks (KEY SHARE) of the applications the bridge is inserting for it meanwhile.
        job = conn.execute(
            "SELECT id, organization_id,"
            " (SELECT max(version) FROM screening_criteria WHERE job_id = jobs.id) AS version"
            " FROM jobs WHERE id = %s FOR NO KEY UPDATE",
            (job_id,),
        ).fetchone()
        if job is None:
            return None
        criteria_version = job["version"]
        criteria = _criteria.of_version(conn, job_id, criteria_version)
        top = conn.execute(
            _CANDIDATES_SQL,
            (job_id, criteria.filtering.min_score_threshold, criteria.filtering.top_n_candidates),
        ).fetchall()
        entries = [(r["id"], rank, r["ai_score"]) for rank, r in enumerate(top, start=1)]
        created = [r["created_at"] for r in top]
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
        _apply_membership(conn, job_id, entries, created)
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


def _apply_membership(
    conn: Any, job_id: str, entries: list[tuple[Any, int, Any]], created: list[Any]
) -> None:
    """Mark members (status screened → shortlisted) and unmark those who dropped out
    (shortlisted → screened), the status changes through the state machine's guard. Rows
    whose membership and rank did not change are not written (each write of an application
    row updates all its indexes, the résumé's text search included)."""
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
        " FROM unnest(%s::uuid[], %s::timestamptz[], %s::int[]) AS v(id, created_at, rank)"
        " WHERE a.id = v.id AND a.created_at = v.created_at AND a.job_id = %s"
        "   AND (NOT a.is_in_shortlist OR a.shortlist_rank IS DISTINCT FROM v.rank)",
        (ids, created, [rank for _, rank, _ in entries], job_id),
    )
    change_status_many(conn, job_id, ids, S.SHORTLISTED, expect=S.SCREENED, reason="shortlist")
