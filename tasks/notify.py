"""The ``notify`` pool: signed webhook deliveries with retries, dead-lettered after the last.

A job's webhook URL is its own ``webhook_url``, else its latest criteria's
``notifications.webhook_url`` (:data:`core.notifications.JOB_WEBHOOK_URL_SQL`). E-mails:
``tasks.email``.

Target URLs are user input: loopback, private, link-local and metadata addresses are refused
after DNS resolution unless the host is on ``PVARA_WEBHOOK_ALLOW_HOSTS`` (SSRF).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import dramatiq
import httpx

from core.notifications import JOB_WEBHOOK_URL_SQL
from core.queue import DELIVER_WEBHOOK, NOTIFY
from core.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from tasks import _resources
from tasks.broker import broker  # noqa: F401  (declares the broker before the actor)

log = logging.getLogger(__name__)

_DELIVERED_KEY = "pvara:webhook:delivered:{}"
_JOB_WEBHOOK_SQL = (
    f"SELECT {JOB_WEBHOOK_URL_SQL} AS webhook_url, j.webhook_secret FROM jobs j WHERE j.id = %s"
)
_DELIVERED_TTL_S = 30 * 24 * 3600


class WebhookRefusedError(Exception):
    """The URL is not one we will call (scheme, or an internal address)."""


class WebhookFailedError(Exception):
    """The receiver did not answer 2xx; the delivery will be retried."""


_settings = _resources.settings()


@dramatiq.actor(
    actor_name=DELIVER_WEBHOOK,
    queue_name=NOTIFY,
    max_retries=_settings.notify_max_retries,
    min_backoff=_settings.notify_min_backoff_ms,
    max_backoff=_settings.notify_max_backoff_ms,
    time_limit=int(_settings.webhook_timeout_s * 1000) + 30_000,
    max_age=3 * 24 * 3_600_000,  # a webhook older than three days is dead-lettered
    throws=(WebhookRefusedError,),
)
def deliver_webhook(job_id: str, event: dict[str, Any]) -> None:
    """POST ``event`` to the job's webhook URL, signed; idempotent per event id."""
    delivered_key = _DELIVERED_KEY.format(event["id"])
    redis = _resources.redis_client()
    if redis.exists(delivered_key):
        return
    with _resources.db().connection() as conn:
        job = conn.execute(_JOB_WEBHOOK_SQL, (job_id,)).fetchone()
    if job is None or not job["webhook_url"]:
        return
    url: str = job["webhook_url"]
    check_url(url, _allowed_hosts())
    secret = (job["webhook_secret"] or _settings.webhook_secret.get_secret_value()).encode()
    body = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "PVARA-Webhooks/1",
        SIGNATURE_HEADER: sign(secret, body),
        EVENT_HEADER: str(event.get("type", "")),
        DELIVERY_HEADER: str(event["id"]),
    }
    try:
        response = httpx.post(
            url,
            content=body,
            headers=headers,
            timeout=_settings.webhook_timeout_s,
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise WebhookFailedError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= response.status_code < 300:
        raise WebhookFailedError(f"receiver answered {response.status_code}")
    redis.set(delivered_key, "1", ex=_DELIVERED_TTL_S)
    log.info("webhook delivered", extra={"event": event.get("type"), "job_id": job_id})


def _allowed_hosts() -> set[str]:
    return {h.strip().lower() for h in _settings.webhook_allow_hosts.split(",") if h.strip()}


def check_url(url: str, allowed_hosts: set[str]) -> None:
    """Refuse non-HTTP(S) URLs and hosts resolving to internal addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefusedError(f"not an http(s) URL: {url!r}")
    host = parts.hostname.lower()
    if host in allowed_hosts:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise WebhookFailedError(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise WebhookRefusedError(f"{host} resolves to internal address {address}")
