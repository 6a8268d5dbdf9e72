"""On-demand shortlist rebuilds: re-score what an older criteria version scored, then build.

HR asks through the API (``POST /api/v1/jobs/{id}/shortlist/rebuild``), which records a task
in Redis (:mod:`core.progress`) and enqueues :func:`rescore_and_rebuild` by name. Applications
that are ``screened`` or ``shortlisted`` under another criteria version go back to
``screening`` (leaving the shortlist) and through ``score`` again, here, one after the other;
the shortlist is then rebuilt once, so the task is ``succeeded`` only when the new shortlist
reflects the new criteria.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from core.domain import ApplicationStatus as S
from core.domain import can_transition
from core.progress import RESCORE_AND_REBUILD, TASK_TTL_S, TaskState, advance, task_key
from core.queue import SHORTLIST
from tasks import _applications, _resources, shortlist
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)
from tasks.score import score_application

log = logging.getLogger(__name__)

_CURRENT_VERSION_SQL = "SELECT max(version) AS v FROM screening_criteria WHERE job_id = %s"

# Scored under another version: screened/shortlisted ones, and re-scores a crashed run left
# in ``screening`` (criteria_version set = it was scored before).
_STALE_SQL = """
SELECT id FROM applications
 WHERE job_id = %(job)s AND criteria_version IS DISTINCT FROM %(version)s
   AND (status IN ('screened', 'shortlisted')
        OR (status = 'screening' AND criteria_version IS NOT NULL))
 ORDER BY id
"""


@dramatiq.actor(
    actor_name=RESCORE_AND_REBUILD,
    queue_name=SHORTLIST,
    max_retries=3,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=3_600_000,
)
def rescore_and_rebuild(job_id: str, task_id: str) -> None:
    """Re-score the job's stale applications, rebuild its shortlist, report on the task."""
    _report(task_id, "running")
    try:
        rescored = rescore_stale(job_id)
        built = shortlist.build(job_id, "rebuild")
        version = built if built is not None else _current_shortlist_version(job_id)
    except Exception as exc:
        _report(task_id, "failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    _report(
        task_id,
        "succeeded",
        result={"rescored": rescored, "shortlist_version": version, "changed": built is not None},
    )


def rescore_stale(job_id: str) -> int:
    """Send every application scored under an older criteria version through ``score``."""
    with _resources.db().connection() as conn:
        row = conn.execute(_CURRENT_VERSION_SQL, (job_id,)).fetchone()
        version = row["v"] if row else None
        if version is None:
            return 0
        stale = [r["id"] for r in conn.execute(_STALE_SQL, {"job": job_id, "version": version})]
    for app_id in stale:
        with _resources.db().connection() as conn, conn.transaction():
            app = conn.execute(_applications.LOAD_SQL + " FOR UPDATE OF a", (app_id,)).fetchone()
            if app is None or app["criteria_version"] == version:
                continue
            if app["status"] != S.SCREENING:
                if not can_transition(app["status"], S.SCREENING):
                    continue  # a person moved it on meanwhile
                _applications.move(
                    conn,
                    app,
                    S.SCREENING,
                    expect=app["status"],
                    reason="criteria changed",
                    is_in_shortlist=False,
                    shortlist_rank=None,
                )
        score_application(str(app_id))
    return len(stale)


def _current_shortlist_version(job_id: str) -> int | None:
    with _resources.db().connection() as conn:
        row = conn.execute(
            "SELECT max(version) AS v FROM shortlist_versions WHERE job_id = %s", (job_id,)
        ).fetchone()
    return row["v"] if row else None


def _report(task_id: str, state: TaskState, **fields: Any) -> None:
    client = _resources.redis_client()
    current = client.get(task_key(task_id))
    if current is None:
        return
    client.set(task_key(task_id), advance(current, state, **fields), ex=TASK_TTL_S)
