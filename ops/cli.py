"""``pvara``: the one entry point of the project."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from core.logs import configure_logging
from core.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _services(args: argparse.Namespace, settings: Settings) -> int:
    from ops.services import ServiceError, all_services

    services = all_services(settings)
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
    from core.migrate import migrate
    from ingest.topics import ensure_topics

    applied = migrate(settings)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    if not applied:
        print("schema up to date")
    if not args.no_topics:
        created = ensure_topics(settings)
        print(f"kafka topics created: {', '.join(created)}" if created else "kafka topics ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pvara", description=__doc__)
    parser.add_argument("--log-level", default="INFO")
    sub = parser.add_subparsers(dest="command", required=True)

    services = sub.add_parser("services", help="local PostgreSQL, Redis and Kafka")
    services.add_argument("action", choices=["up", "down", "status"])
    services.add_argument("--json", action="store_true", help="machine-readable status")
    services.set_defaults(handler=_services)

    migrate = sub.add_parser("migrate", help="apply SQL migrations and create Kafka topics")
    migrate.add_argument("--no-topics", action="store_true", help="skip Kafka topic creation")
    migrate.set_defaults(handler=_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    handler: Handler = args.handler
    return handler(args, get_settings())


if __name__ == "__main__":
    sys.exit(main())
