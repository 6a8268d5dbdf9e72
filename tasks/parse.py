"""The ``parse`` pool: résumé bytes → text, safely; then hand over to ``score``."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
import psycopg
from psycopg.types.json import Jsonb

from core.domain import ApplicationStatus as S
from core.logs import application_id_var
from core.queue import PARSE, PARSE_APPLICATION, SCORE, SCORE_APPLICATION, enqueue
from ingest.blobs import BlobNotFoundError
from ingest.extract import ExtractionError, extract_text
from screening.injection import find_injection
from tasks import _applications, _resources
from tasks.broker import broker

log = logging.getLogger(__name__)

ERASED_REASON = "resume_erased: the candidate's personal data was erased before parsing"

# Erasure locks the row too, so once this lock is held the answer cannot change.
_ERASED_SQL = """
SELECT pii_erased_at IS NOT NULL AS erased FROM applications
 WHERE id = %s AND created_at = %s
   FOR UPDATE
"""


@dramatiq.actor(
    actor_name=PARSE_APPLICATION,
    queue_name=PARSE,
    max_retries=_resources.settings().parse_max_retries,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=120_000,
    max_age=7 * 24 * 3_600_000,  # the sweeper re-enqueues anything stuck in received
)
def parse_application(application_id: str) -> None:
    """Extract the résumé's text. Idempotent: only an application in ``received`` is parsed.

    A broken or hostile file ends as ``parse_failed`` with the reason; it is not retried. So
    does an application erased before its text was saved: its file is gone, and nothing read
    from it is written back.
    """
    token = application_id_var.set(application_id)
    try:
        _parse(application_id)
    finally:
        application_id_var.reset(token)


def _parse(application_id: str) -> None:
    with _resources.db().connection() as conn:
        app = _applications.load(conn, application_id)
    if app is None:
        log.warning("parse: no such application")
        return
    if app["status"] == S.SCREENING:
        # Parsed before, but the hand-over to score may have been lost: send it again.
        enqueue(broker, SCORE, SCORE_APPLICATION, application_id)
        return
    if app["status"] != S.RECEIVED:
        return
    if app["pii_erased_at"] is not None:
        with _resources.db().connection() as conn, conn.transaction():
            _ended_as_erased(conn, app)
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
        with _resources.db().connection() as conn, conn.transaction():
            _applications.move(
                conn, app, S.PARSE_FAILED, expect=S.RECEIVED, reason=f"{exc.code}: {exc}"
            )
        log.info("parse failed", extra={"code": exc.code})
        return

    flags = list(dict.fromkeys(extracted.flags))
    injected = find_injection(extracted.text) + [
        phrase for hidden in extracted.hidden_text for phrase in find_injection(hidden)
    ]
    if injected:
        flags.append("possible_prompt_injection")
    with _resources.db().connection() as conn, conn.transaction():
        if _ended_as_erased(conn, app):
            return
        moved = _applications.move(
            conn,
            app,
            S.SCREENING,
            expect=S.RECEIVED,
            resume_text=extracted.text,
            resume_flags=Jsonb(flags),
            needs_review=bool(flags),
        )
    if moved:
        enqueue(broker, SCORE, SCORE_APPLICATION, application_id)


def _ended_as_erased(conn: psycopg.Connection[Any], app: dict[str, Any]) -> bool:
    """Lock the application; if its personal data was erased, end the parse as
    ``parse_failed`` (left in ``received``, the sweeper would resend it for ever)."""
    row: dict[str, Any] | None = conn.execute(
        _ERASED_SQL, (app["id"], app["created_at"])
    ).fetchone()
    if row is not None and not row["erased"]:
        return False
    _applications.move(conn, app, S.PARSE_FAILED, expect=S.RECEIVED, reason=ERASED_REASON)
    log.info("parse: application erased, its résumé is not parsed")
    return True
