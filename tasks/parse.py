"""The ``parse`` pool: résumé bytes → text, safely; then hand over to ``score``.

One round trip to PostgreSQL per application in the usual case: the bridge hands over what
parse needs (:data:`tasks._handoff.PARSE_FIELDS`), and the move to ``screening`` is one
guarded statement (:func:`core.status.change_status`) that also returns what score needs,
which goes on in the score message. Only when that move does not happen (a redelivery, an
erasure meanwhile) does parse read the row to find out why.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import dramatiq
import psycopg
from psycopg.types.json import Jsonb

from core.domain import ApplicationStatus as S
from core.logs import application_id_var
from core.queue import PARSE, PARSE_APPLICATION
from core.status import change_status
from ingest.blobs import BlobNotFoundError
from ingest.extract import Extracted, ExtractionError, extract_text
from screening.injection import find_injection
from tasks import _applications, _handoff, _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)

ERASED_REASON = "resume_erased: the candidate's personal data was erased before parsing"

# Erasure locks the row too, so once this lock is held the answer cannot change.
_ERASED_SQL = """
SELECT pii_erased_at IS NOT NULL AS erased FROM applications
 WHERE id = %s AND created_at = %s
   FOR UPDATE
"""

# What score needs beyond what parse knows: the job, and the criteria version in force now.
_FOR_SCORE = (
    "m.id, m.created_at, m.organization_id, m.job_id, m.needs_review, j.title AS job_title,"
    " j.description AS job_description, j.tier AS job_tier,"
    " (SELECT max(c.version) FROM screening_criteria c WHERE c.job_id = m.job_id)"
    " AS criteria_version"
    " FROM moved m JOIN jobs j ON j.id = m.job_id"
)


@dramatiq.actor(
    actor_name=PARSE_APPLICATION,
    queue_name=PARSE,
    max_retries=_resources.settings().parse_max_retries,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=120_000,
    max_age=7 * 24 * 3_600_000,  # the sweeper re-enqueues anything stuck in received
)
def parse_application(application_id: str, handoff: dict[str, Any] | None = None) -> None:
    """Extract the résumé's text. Idempotent: only an application in ``received`` is parsed.

    ``handoff`` is what the bridge knew of the row (:data:`tasks._handoff.PARSE_FIELDS`);
    without it the row is read first. A broken or hostile file ends as ``parse_failed`` with
    the reason; it is not retried. So does an application erased before its text was saved:
    its file is gone, and nothing read from it is written back.
    """
    token = application_id_var.set(application_id)
    try:
        _parse(application_id, handoff)
    finally:
        application_id_var.reset(token)


def _parse(application_id: str, handoff: dict[str, Any] | None = None) -> None:
    app = _from_handoff(handoff) if handoff else None
    if app is None:
        with _resources.db().connection() as conn:
            app = _applications.load(conn, application_id)
        if app is None:
            log.warning("parse: no such application")
            return
        if _settled(app):
            return

    try:
        if app["resume_blob_key"]:
            data = _resources.blobs().get(app["resume_blob_key"])
        else:
            data = (app["resume_text"] or "").encode()
        extracted = extract_text(data, app["resume_media_type"] or "text/plain")
    except BlobNotFoundError:
        # Erased (and the file deleted) since we loaded it; otherwise a real loss: retry.
        with _resources.db().connection() as conn, conn.transaction():
            if _ended_as_erased(conn, app):
                return
        raise
    except ExtractionError as exc:
        with _resources.db().connection() as conn:
            moved = change_status(
                conn, app, S.PARSE_FAILED, expect=S.RECEIVED, reason=f"{exc.code}: {exc}"
            )
        if moved is None:
            _after_missed_move(application_id)
        log.info("parse failed", extra={"code": exc.code})
        return

    with _resources.db().connection() as conn:
        moved = store_text(conn, app, extracted)
    if moved is None:
        _after_missed_move(application_id)
        return
    _handoff.to_score(application_id, _handoff.handoff(moved, _handoff.SCORE_FIELDS))


def store_text(
    conn: psycopg.Connection[Any], app: dict[str, Any], extracted: Extracted
) -> dict[str, Any] | None:
    """Move ``app`` to ``screening`` with its text and flags, in one statement; returns what
    score needs (:data:`tasks._handoff.SCORE_FIELDS`), or None if it did not move (no longer
    ``received``, or erased)."""
    flags = list(dict.fromkeys(extracted.flags))
    injected = find_injection(extracted.text) + [
        phrase for hidden in extracted.hidden_text for phrase in find_injection(hidden)
    ]
    if injected:
        flags.append("possible_prompt_injection")
    moved = change_status(
        conn,
        app,
        S.SCREENING,
        expect=S.RECEIVED,
        unless_erased=True,
        columns={
            "resume_text": extracted.text,
            "resume_flags": Jsonb(flags),
            "needs_review": bool(flags),
        },
        returning=_FOR_SCORE,
    )
    if moved is not None:
        moved["resume_text"] = extracted.text
        moved["resume_flags"] = flags
    return moved


def _from_handoff(handoff: dict[str, Any]) -> dict[str, Any] | None:
    if handoff.get("status") != S.RECEIVED or handoff.get("pii_erased_at") is not None:
        return None  # not for parsing as handed over: look at the row itself
    app = {name: handoff.get(name) for name in _handoff.PARSE_FIELDS}
    try:
        app["created_at"] = datetime.fromisoformat(str(app["created_at"]))
    except ValueError:
        return None
    return app


def _settled(app: dict[str, Any]) -> bool:
    """True when a loaded application needs no parse (and whatever it needs was done)."""
    if app["status"] == S.SCREENING:
        # Parsed before, but the hand-over to score may have been lost: send it again.
        _handoff.to_score(str(app["id"]))
        return True
    if app["status"] != S.RECEIVED:
        return True
    if app["pii_erased_at"] is not None:
        with _resources.db().connection() as conn, conn.transaction():
            _ended_as_erased(conn, app)
        return True
    return False


def _after_missed_move(application_id: str) -> None:
    """The guarded move found the row elsewhere: erased meanwhile, parsed by another delivery
    (whose score message may be lost), or gone."""
    with _resources.db().connection() as conn:
        app = _applications.load(conn, application_id)
    if app is not None:
        _settled(app)


def _ended_as_erased(conn: psycopg.Connection[Any], app: dict[str, Any]) -> bool:
    """Lock the application; if its personal data was erased, end the parse as
    ``parse_failed`` (left in ``received``, the sweeper would resend it for ever)."""
    row: dict[str, Any] | None = conn.execute(
        _ERASED_SQL, (app["id"], app["created_at"])
    ).fetchone()
    if row is not None and not row["erased"]:
        return False
    change_status(conn, app, S.PARSE_FAILED, expect=S.RECEIVED, reason=ERASED_REASON)
    log.info("parse: application erased, its résumé is not parsed")
    return True
