"""The e-mail part of the demo: a real SMTP server (aiosmtpd) the demo's processes send to, an
interview scheduled, moved and cancelled and an offer made through the API, and at the end how
many e-mails of each kind arrived."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import redis

from core.settings import Settings
from ops.services.smtp_catcher import SmtpCatcher


class DemoMail:
    """The demo's mailbox; :meth:`env` is what the API, bridge and workers need to use it."""

    def __init__(self) -> None:
        self.server = SmtpCatcher().start()
        self.sender = ""

    def adopt(self, settings: Settings, organization_id: uuid.UUID) -> None:
        """Give the demo's organization its own sender (and count only its e-mails: a database
        that tests used may hold other organizations' events still to be relayed)."""
        self.sender = f"hiring@{organization_id.hex[:8]}.demo.pvara.dev"
        with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE organizations SET email_from = %s WHERE id = %s",
                (self.sender, organization_id),
            )

    def env(self) -> dict[str, str]:
        return {
            "PVARA_SMTP_HOST": "127.0.0.1",
            "PVARA_SMTP_PORT": str(self.server.port),
            "PVARA_SMTP_TLS": "none",  # a local catcher; real servers use starttls or tls
            "PVARA_EMAIL_FROM": "jobs@demo.pvara.dev",
            "PVARA_EMAIL_SHORTLIST_INTERVAL_S": "3",
        }

    def close(self) -> None:
        self.server.stop()

    def interviews_and_offer(
        self, settings: Settings, base: str, job_id: uuid.UUID, email: str, password: str
    ) -> None:
        """As HR: interview the best two candidates; move the first one's interview and make
        an offer, cancel the second one's."""
        with psycopg.connect(settings.effective_database_url) as conn:
            best = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM applications WHERE job_id = %s"
                    " AND status IN ('screened', 'shortlisted') ORDER BY ai_score DESC LIMIT 2",
                    (job_id,),
                )
            ]
        if len(best) < 2:
            print("(fewer than two screened candidates: no interviews scheduled)")
            return
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
        with httpx.Client(base_url=base, timeout=30) as client:
            login = client.post("/api/v1/auth/login", json={"email": email, "password": password})
            login.raise_for_status()
            auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
            me = client.get("/api/v1/auth/me", headers=auth).json()
            interviews = []
            for n, application_id in enumerate(best):
                slot = start + timedelta(hours=2 * n)
                made = client.post(
                    "/api/v1/interviews",
                    headers=auth,
                    json={
                        "application_id": str(application_id),
                        "interviewer_id": me["user_id"],
                        "interview_type": "video",
                        "starts_at": slot.isoformat(),
                        "ends_at": (slot + timedelta(hours=1)).isoformat(),
                    },
                )
                made.raise_for_status()
                interviews.append(made.json()["id"])
            later = start + timedelta(days=1)
            client.patch(
                f"/api/v1/interviews/{interviews[0]}",
                headers=auth,
                json={
                    "starts_at": later.isoformat(),
                    "ends_at": (later + timedelta(hours=1)).isoformat(),
                },
            ).raise_for_status()
            client.post(f"/api/v1/interviews/{interviews[1]}/cancel", headers=auth)
            client.post(
                "/api/v1/offers",
                headers=auth,
                json={
                    "application_id": str(best[0]),
                    "salary_min": 350000,
                    "salary_max": 420000,
                    "currency": "PKR",
                    "expires_at": (datetime.now(UTC) + timedelta(days=14)).isoformat(),
                },
            ).raise_for_status()
        print(
            "HR scheduled two interviews (invitations with calendar files), moved one, "
            "cancelled the other and made an offer"
        )

    def wait_delivered(self, settings: Settings, timeout_s: float = 60) -> None:
        """Until every event is relayed and the notify pool has nothing queued, delayed or in
        hand (the trailing shortlist summary included), twice in a row."""
        client = redis.Redis.from_url(settings.effective_redis_url)
        deadline = time.monotonic() + timeout_s
        quiet = 0
        with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
            while time.monotonic() < deadline and quiet < 2:
                pending = conn.execute(
                    "SELECT count(*) FROM event_outbox WHERE published_at IS NULL"
                ).fetchone()
                busy = _notify_busy(client)
                quiet = quiet + 1 if not busy and pending and pending[0] == 0 else 0
                time.sleep(0.5)

    def report(self) -> str:
        counts: dict[str, int] = {}
        for message in self.server.received():
            if not self.sender or message.mail_from == self.sender:
                counts[message.kind] = counts.get(message.kind, 0) + 1
        total = sum(counts.values())
        lines = [f"e-mails delivered to the demo's SMTP server (from {self.sender}): {total}"]
        lines += [f"  {kind:<24} {n:>5}" for kind, n in sorted(counts.items())]
        return "\n".join(lines)


def _notify_busy(client: redis.Redis) -> bool:
    """Messages of the notify pool waiting, delayed or held by a worker."""
    if client.llen("dramatiq:notify") or client.llen("dramatiq:notify.DQ"):
        return True
    held: Any = client.scan_iter("dramatiq:__acks__.*.notify*")
    return any(client.scard(key) for key in held)
