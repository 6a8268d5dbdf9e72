"""``pvara``: the one entry point of the project."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import date

from core.logs import configure_logging
from core.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _services(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from ops.services import ServiceError, all_services

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the Ollama probes' every request
    services = all_services(settings, with_=args.with_ or ())
    if args.action == "up":
        try:
            for service in services:
                service.up()
        except ServiceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    elif args.action == "down":
        for service in reversed(services):
            service.down()
    statuses = [service.status() for service in services]
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        for s in statuses:
            state = "answering" if s.answering else "not answering"
            origin = "local" if s.managed else "external"
            extra = " ".join(f"{k}={v}" for k, v in s.detail.items())
            pid = f" pid={s.pid}" if s.pid else ""
            print(f"{s.name:<9} {s.address:<40} {origin:<8} {state}{pid} {extra}".rstrip())
    if args.action == "down":
        return 0
    return 0 if all(s.answering for s in statuses) else 1


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from core.migrate import MigrationError, migrate
    from ingest.topics import ensure_topics

    try:
        applied = migrate(settings)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    if not applied:
        print("schema up to date")
    if not args.no_topics:
        created = ensure_topics(settings)
        print(f"kafka topics created: {', '.join(created)}" if created else "kafka topics ok")
    return 0


def _api(args: argparse.Namespace, settings: Settings) -> int:
    import os

    import uvicorn

    from ops.web import create_ops_app, uvicorn_options

    workers = args.workers or settings.api_workers
    options: dict[str, object] = {
        "host": args.host or settings.api_host,
        "port": args.port or settings.api_port,
        "log_level": "warning",
        # No server header, forwarded headers of trusted proxies only, the JSON logging
        # configured by main() / api_worker_app().
        **uvicorn_options(settings),
    }
    if workers <= 1:
        uvicorn.run(create_ops_app(settings), **options)  # type: ignore[arg-type]
        return 0
    # The API is stateless: N processes share the port. uvicorn starts each one afresh
    # (spawn), so each builds its app from the environment through api_worker_app().
    if args.log_level:
        os.environ["PVARA_LOG_LEVEL"] = args.log_level
    uvicorn.run("ops.cli:api_worker_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    return 0


def api_worker_app() -> object:
    """The app of one ``pvara api --workers N`` process (uvicorn's factory)."""
    from ops.web import create_ops_app

    settings = get_settings()
    configure_logging(settings.log_level)
    return create_ops_app(settings)


def _bridge(args: argparse.Namespace, settings: Settings) -> int:
    from ops.runners import run_bridge

    run_bridge(settings)
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from ops.runners import exec_worker

    return exec_worker(settings, args.pool, args.processes, args.threads)


def _workers(args: argparse.Namespace, settings: Settings) -> int:
    from core.queue import POOLS
    from ops.supervisor import run_supervisor

    if args.group:
        settings = settings.model_copy(update={"worker_group": args.group})
    pools = [p.strip() for p in args.pools.split(",")] if args.pools else list(POOLS)
    run_supervisor(settings, pools, args.threads)
    return 0


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from core.queue import POOLS
    from ops.platform import run_platform

    if not args.no_services:
        code = _services(argparse.Namespace(action="up", json=False), settings)
        if code != 0:
            return code
        code = _migrate(argparse.Namespace(no_topics=False), settings)
        if code != 0:
            return code
    pools = [p.strip() for p in args.pools.split(",")] if args.pools else list(POOLS)
    run_platform(settings, port=args.port, pools=pools, threads=args.threads)
    return 0


def _pools(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from ops import pools

    if args.group:
        settings = settings.model_copy(update={"worker_group": args.group})
    client = redis.Redis.from_url(settings.effective_redis_url)
    if args.action == "scale":
        try:
            desired = pools.scale(client, settings, pools.parse_scale_args(args.changes))
        except pools.ScaleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print("desired: " + " ".join(f"{k}={v}" for k, v in desired.items()))
        return 0
    if args.changes:
        print("error: counts are only accepted by `pvara pools scale`", file=sys.stderr)
        return 2
    rows = pools.pool_status(client, settings)
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        print(pools.format_pool_table(rows))
    return 0


def _scheduler(args: argparse.Namespace, settings: Settings) -> int:
    from scheduler.runner import configured_jobs, run_scheduler

    if args.list:
        for job in configured_jobs(settings):
            print(f"{job.name:<18} {job.cron:<16} {job.description}")
        return 0
    run_scheduler(settings)
    return 0


def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from core import deadletters
    from core.queue import create_broker

    if args.kafka:
        return _kafka_dlq(args, settings)
    client = redis.Redis.from_url(settings.effective_redis_url)
    if args.action == "list":
        dead = deadletters.list_dead(client)
        if args.json:
            print(json.dumps([d.as_dict() for d in dead], indent=2))
        elif not dead:
            print("dead-letter queues are empty")
        for d in dead if not args.json else []:
            print(
                f"{d.queue:<12} {d.message_id}  {d.actor}{tuple(d.args)}  retries={d.retries}"
                f"  {d.error}"
            )
        return 0
    targets = [d for d in deadletters.list_dead(client) if args.all or d.message_id in args.ids]
    broker = create_broker(settings)
    for d in targets:
        if args.action == "replay":
            deadletters.replay(client, broker, d.queue, d.message_id)
        else:
            deadletters.delete(client, d.queue, d.message_id)
        print(f"{args.action}ed {d.queue} {d.message_id} {d.actor}")
    return 0 if targets or args.all else 1


def _kafka_dlq(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.deadletter_topic import read_dead_letters, replay
    from ingest.producer import Producer

    if args.action == "list":
        letters = read_dead_letters(settings)
        if args.json:
            print(json.dumps([d.as_dict() for d in letters], indent=2))
        elif not letters:
            print("the Kafka dead-letter topic is empty")
        for d in letters if not args.json else []:
            print(
                f"{d.partition}:{d.offset}  from {d.source_topic}[{d.source_partition}]"
                f"@{d.source_offset}  {d.reason}"
            )
        return 0
    if args.action == "delete":
        print("Kafka dead letters expire with the topic's retention; nothing to delete")
        return 1
    producer = Producer(settings, client_id="pvara-dlq")
    try:
        ok = True
        for ref in args.ids:
            partition, _, offset = ref.partition(":")
            replayed = replay(settings, int(partition), int(offset), producer)
            print(f"{'replayed' if replayed else 'not found'} {ref}")
            ok = ok and replayed
        return 0 if ok else 1
    finally:
        producer.close()


def _maintenance(args: argparse.Namespace, settings: Settings) -> int:
    from tasks.maintenance import run

    print(json.dumps(run(settings)))
    return 0


def _costs(args: argparse.Namespace, settings: Settings) -> int:
    from ops.costs import run

    return run(args, settings)


def _pii(args: argparse.Namespace, settings: Settings) -> int:
    from ops.pii import run

    return run(args, settings)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from ops.demo import run_demo

    return run_demo(settings, count=args.count, concurrency=args.concurrency, llm=args.llm)


def _users(args: argparse.Namespace, settings: Settings) -> int:
    import getpass
    import os

    from api.auth.service import create_organization_with_admin
    from core.domain import Role

    if not args.operator and not args.org:
        print("error: --org is required (or --operator for a platform operator)", file=sys.stderr)
        return 2
    slug = args.org or "platform"
    password = os.environ.get("PVARA_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    try:
        org_id, user_id = create_organization_with_admin(
            settings,
            name=args.org_name or slug,
            slug=slug,
            email=args.email,
            password=password,
            role=Role.OPERATOR if args.operator else Role(args.role),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"organization_id": str(org_id), "user_id": str(user_id)}))
    return 0


def _healthcheck(args: argparse.Namespace, settings: Settings) -> int:
    from ops.healthcheck import run

    return run(settings, args.role)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pvara", description=__doc__)
    parser.add_argument("--log-level", help="overrides PVARA_LOG_LEVEL")
    sub = parser.add_subparsers(dest="command", required=True)

    services = sub.add_parser(
        "services", help="local PostgreSQL, Redis and Kafka (and Ollama, if asked)"
    )
    services.add_argument("action", choices=["up", "down", "status"])
    services.add_argument("--json", action="store_true", help="machine-readable status")
    services.add_argument(
        "--with",
        dest="with_",
        action="append",
        choices=["ollama"],
        help="also an optional service (ollama: built once, then served on PVARA_OLLAMA_PORT)",
    )
    services.set_defaults(handler=_services)

    migrate = sub.add_parser("migrate", help="apply SQL migrations and create Kafka topics")
    migrate.add_argument("--no-topics", action="store_true", help="skip Kafka topic creation")
    migrate.set_defaults(handler=_migrate)

    api = sub.add_parser("api", help="run the HTTP API (Litestar on uvicorn)")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument(
        "--workers", type=int, help="uvicorn worker processes (default: PVARA_API_WORKERS)"
    )
    api.set_defaults(handler=_api)

    healthcheck = sub.add_parser("healthcheck", help="the container image's HEALTHCHECK")
    healthcheck.add_argument("--role", help="api, worker, … (default: what PID 1 runs)")
    healthcheck.set_defaults(handler=_healthcheck)

    bridge = sub.add_parser("bridge", help="run the Kafka → Dramatiq bridge and outbox relay")
    bridge.set_defaults(handler=_bridge)

    worker = sub.add_parser("worker", help="run a Dramatiq worker pool")
    worker.add_argument(
        "--pool", default="all", help="parse|score|shortlist|notify|maintenance|all"
    )
    worker.add_argument("--processes", type=int)
    worker.add_argument("--threads", type=int)
    worker.set_defaults(handler=_worker)

    workers = sub.add_parser(
        "workers", help="supervise pool processes, following `pvara pools scale`"
    )
    workers.add_argument("--pools", help="comma-separated pools to supervise (default: all)")
    workers.add_argument("--threads", type=int, help="threads per pool process")
    workers.add_argument("--group", help="supervisor group (default: PVARA_WORKER_GROUP)")
    workers.set_defaults(handler=_workers)

    up = sub.add_parser(
        "up",
        help="the whole local platform, supervised: API, bridge, scheduler and every pool"
        " (restarted when they exit or hang)",
    )
    up.add_argument("--port", type=int, help="API port (default: PVARA_API_PORT)")
    up.add_argument("--pools", help="comma-separated pools to run (default: all)")
    up.add_argument("--threads", type=int, help="threads per pool process")
    up.add_argument(
        "--no-services",
        action="store_true",
        help="do not start the local PostgreSQL/Redis/Kafka nor migrate first",
    )
    up.set_defaults(handler=_up)

    pools = sub.add_parser("pools", help="list pools, or `pools scale parse=4 score=2`")
    pools.add_argument("action", nargs="?", choices=["list", "scale"], default="list")
    pools.add_argument("changes", nargs="*", help="POOL=COUNT (with scale)")
    pools.add_argument("--group", help="supervisor group (default: PVARA_WORKER_GROUP)")
    pools.add_argument("--json", action="store_true")
    pools.set_defaults(handler=_pools)

    scheduler = sub.add_parser("scheduler", help="periodic jobs, one leader at a time")
    scheduler.add_argument("--list", action="store_true", help="print the jobs and exit")
    scheduler.set_defaults(handler=_scheduler)

    dlq = sub.add_parser("dlq", help="dead-letter queues: list, replay, delete")
    dlq.add_argument("action", choices=["list", "replay", "delete"])
    dlq.add_argument("ids", nargs="*", help="message ids (see `pvara dlq list`)")
    dlq.add_argument("--all", action="store_true", help="every dead message")
    dlq.add_argument("--json", action="store_true")
    dlq.add_argument(
        "--kafka",
        action="store_true",
        help="the Kafka dead-letter topic (ids are PARTITION:OFFSET) instead of the pools'",
    )
    dlq.set_defaults(handler=_dlq)

    maintenance = sub.add_parser("maintenance", help="partitions ahead, metrics refresh")
    maintenance.add_argument("action", choices=["run"])
    maintenance.set_defaults(handler=_maintenance)

    demo = sub.add_parser("demo", help="the main job on sample data, end to end")
    demo.add_argument("--count", type=int, help="sample size (default 300; 8 with --llm)")
    demo.add_argument(
        "--llm",
        choices=["ollama"],
        help="also route the uncertain band to a real model (a local Ollama server)",
    )
    demo.add_argument("--concurrency", type=int, default=32)
    demo.set_defaults(handler=_demo)

    costs = sub.add_parser("costs", help="LLM cost report from the ledger")
    costs.add_argument("action", choices=["report"])
    costs.add_argument("--from", dest="start", type=date.fromisoformat, help="first day (UTC)")
    costs.add_argument("--to", dest="end", type=date.fromisoformat, help="last day, included")
    costs.add_argument(
        "--group-by",
        default="provider",
        choices=["provider", "model", "job", "organization", "day", "tier"],
    )
    costs.add_argument("--organization", type=uuid.UUID, help="one organization (default: all)")
    costs.add_argument(
        "--per-day", type=int, default=1_000_000, help="applications/day (projection)"
    )
    costs.add_argument("--format", choices=["table", "json", "csv"], default="table")
    costs.set_defaults(handler=_costs)

    pii = sub.add_parser("pii", help="keys of personal data: status, rotate, new-key")
    pii.add_argument("action", choices=["status", "rotate", "new-key"])
    pii.add_argument("kid", nargs="?", help="id of the new key (new-key)")
    pii.set_defaults(handler=_pii)

    users = sub.add_parser("users", help="bootstrap an organization and its first admin")
    users.add_argument("action", choices=["create"])
    users.add_argument("--org", help="organization slug (created if new)")
    users.add_argument(
        "--operator",
        action="store_true",
        help="a platform operator (pools, every dead letter, metrics), in the platform"
        " organization; the only way to make one",
    )
    users.add_argument("--org-name", help="organization display name (default: the slug)")
    users.add_argument("--email", required=True)
    users.add_argument(
        "--role", default="admin", choices=["admin", "hr", "interviewer", "ops", "finance"]
    )
    users.set_defaults(handler=_users)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ops.lifecycle import die_with_supervisor

    die_with_supervisor()  # started by `pvara up` or `pvara workers`: end with it
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(args.log_level or settings.log_level)
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
