"""The Dramatiq broker on Redis, and the names of pools (queues) and actors.

Producers that must not import ``tasks`` (the bridge, the API) enqueue by actor name through
:func:`enqueue`; ``tasks`` declares the actors with the same names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import current_millis

from core.liveness import Liveness, liveness
from core.settings import Settings

PARSE = "parse"
SCORE = "score"
SHORTLIST = "shortlist"
NOTIFY = "notify"
MAINTENANCE = "maintenance"
POOLS = (PARSE, SCORE, SHORTLIST, NOTIFY, MAINTENANCE)

PARSE_APPLICATION = "parse_application"
SCORE_APPLICATION = "score_application"
REBUILD_SHORTLIST = "rebuild_shortlist"
DELIVER_WEBHOOK = "deliver_webhook"
SEND_EVENT_EMAILS = "send_event_emails"
RUN_MAINTENANCE = "run_maintenance"

NAMESPACE = "dramatiq"


class _RequeueingConsumer(_RedisConsumer):  # type: ignore[misc]
    """Dramatiq's Redis consumer, which also puts back on the queue, when its worker stops, the
    messages it prefetched but never handed out, and reports each turn of its loop to the
    worker's liveness file.

    Without the requeue they stay in the stopped worker's ack set until its heartbeat expires
    and another worker's maintenance requeues them: a graceful stop would hold them for
    seconds or, with no worker left, indefinitely.
    """

    def __next__(self) -> Any:
        # Every turn counts, also one that fails on a Redis outage (Dramatiq restarts the
        # consumer a second later): only a consumer that stops turning is wedged.
        self.broker.liveness.progress(f"consumer:{self.queue_name}")
        return super().__next__()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        cached, self.message_cache = self.message_cache, []
        ids = [
            dramatiq.Message.decode(data).options["redis_message_id"]
            for data in cached
            if data is not None
        ]
        if ids:
            self.broker.do_requeue(self.queue_name, *ids)


class _Broker(RedisBroker):
    liveness: Liveness

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _RequeueingConsumer


def redis_client(settings: Settings) -> redis.Redis:
    """A Redis client whose calls cannot hang on a frozen or vanished server."""
    return redis.Redis.from_url(
        settings.effective_redis_url,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=15,
    )


def create_broker(
    settings: Settings, *, middleware: list[dramatiq.Middleware] | None = None
) -> RedisBroker:
    """A Redis broker tuned so a killed worker's messages come back within seconds, and a
    stopped worker's prefetched ones at once. ``middleware`` replaces Dramatiq's defaults
    (the workers pass theirs, see ``tasks.broker``)."""
    broker = _Broker(  # type: ignore[no-untyped-call]
        client=redis_client(settings),
        namespace=NAMESPACE,
        heartbeat_timeout=settings.queue_heartbeat_timeout_ms,
        maintenance_chance=settings.queue_maintenance_chance,
        dead_message_ttl=settings.queue_dead_message_ttl_ms,
        middleware=middleware,
    )
    broker.liveness = liveness(settings, "worker")
    return broker


def enqueue(
    broker: dramatiq.Broker,
    queue: str,
    actor: str,
    *args: Any,
    delay_ms: int | None = None,
) -> dramatiq.Message[Any]:
    """Send a message to ``actor`` on ``queue`` without importing the actor itself."""
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=queue, actor_name=actor, args=args, kwargs={}, options={}
    )
    return broker.enqueue(message, delay=delay_ms)


def enqueue_many(
    broker: dramatiq.Broker, queue: str, actor: str, arguments: Iterable[Sequence[Any]]
) -> int:
    """Send one message to ``actor`` per item of ``arguments``, in one Redis round trip.

    Dramatiq enqueues one message per call (a Lua script each); this runs the same script for
    all of them in a pipeline, with the broker's enqueue middleware around each message.
    Falls back to one call each on another broker. Returns how many were sent.
    """
    messages: list[dramatiq.Message[Any]] = [
        dramatiq.Message(
            queue_name=queue, actor_name=actor, args=tuple(args), kwargs={}, options={}
        )
        for args in arguments
    ]
    if not isinstance(broker, RedisBroker):
        for message in messages:
            broker.enqueue(message)
        return len(messages)
    dispatch = broker.scripts["dispatch"]
    pipe = broker.client.pipeline(transaction=False)
    sent = []
    for message in messages:
        message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
        broker.emit_before("enqueue", message, None)
        # The argument layout of Dramatiq's own enqueue (RedisBroker._dispatch, 2.x).
        dispatch(
            keys=[broker.namespace],
            args=[
                "enqueue",
                current_millis(),
                queue,
                broker.broker_id,
                broker.heartbeat_timeout,
                broker.dead_message_ttl,
                broker._should_do_maintenance("enqueue"),
                broker._max_unpack_size(),  # type: ignore[no-untyped-call]
                message.options["redis_message_id"],
                message.encode(),
            ],
            client=pipe,
        )
        sent.append(message)
    pipe.execute()
    for message in sent:
        broker.emit_after("enqueue", message, None)
    return len(sent)


#: What the ``parse`` stage needs of an application; the bridge hands these over with each
#: parse message, so parse need not read the row (``tasks._handoff`` explains hand-offs).
PARSE_FIELDS = (
    "id",
    "created_at",
    "job_id",
    "status",
    "pii_erased_at",
    "resume_blob_key",
    "resume_media_type",
    "resume_text",
)


def handoff(row: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    """``fields`` of ``row`` as message JSON (ids and times as strings)."""
    out: dict[str, Any] = {}
    for name in fields:
        value = row.get(name)
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[name] = value
    return out
