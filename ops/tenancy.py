"""Which organization an operations record belongs to, so an organization sees only its own.

Platform operators (role ``operator``, or the static ``PVARA_OPS_TOKEN``) see everything: pools,
workers, every dead letter, all spend. An organization's ``admin`` and ``ops`` see their own
organization's dead letters (by the application or job a message names) and their own LLM
spend, and nothing that is no organization's (maintenance messages, pools, workers).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from psycopg_pool import ConnectionPool

from core.deadletters import DeadLetter

# A dead message's first argument is an application id (parse, score) or a job id (shortlist,
# rescore, webhook); maintenance has none.
_OWNERS_SQL = """
SELECT id, organization_id FROM application_index WHERE id = ANY(%(ids)s)
UNION ALL
SELECT id, organization_id FROM jobs WHERE id = ANY(%(ids)s)
"""

_SPEND_SQL = """
SELECT provider,
       sum(prompt_tokens)::bigint      AS prompt,
       sum(completion_tokens)::bigint  AS completion,
       sum(cost_usd)::float8           AS cost,
       sum(cost_usd) FILTER (WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC')
                                                 AT TIME ZONE 'UTC')::float8 AS cost_today
  FROM ai_screening_log
 WHERE organization_id = %s
 GROUP BY provider
 ORDER BY provider
"""


def _subject(letter: DeadLetter) -> uuid.UUID | None:
    if not letter.args:
        return None
    try:
        return uuid.UUID(str(letter.args[0]))
    except ValueError:
        return None


def owners(pool: ConnectionPool[Any], letters: Iterable[DeadLetter]) -> dict[str, uuid.UUID]:
    """``{message_id: organization id}`` of the dead letters that belong to an organization."""
    subjects = {letter.message_id: _subject(letter) for letter in letters}
    ids = sorted({s for s in subjects.values() if s is not None}, key=str)
    if not ids:
        return {}
    with pool.connection(timeout=5) as conn:
        org_of = {
            row["id"]: row["organization_id"] for row in conn.execute(_OWNERS_SQL, {"ids": ids})
        }
    return {
        message_id: org_of[subject]
        for message_id, subject in subjects.items()
        if subject is not None and subject in org_of
    }


def own_dead_letters(
    pool: ConnectionPool[Any], letters: list[DeadLetter], organization_id: uuid.UUID
) -> list[DeadLetter]:
    """The dead letters of ``organization_id`` only."""
    owned = owners(pool, letters)
    return [letter for letter in letters if owned.get(letter.message_id) == organization_id]


def spend(pool: ConnectionPool[Any], organization_id: uuid.UUID) -> list[dict[str, Any]]:
    """LLM usage per provider of one organization (all time and today)."""
    with pool.connection(timeout=5) as conn:
        return list(conn.execute(_SPEND_SQL, (organization_id,)).fetchall())
