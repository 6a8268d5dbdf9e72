"""``pvara healthcheck``: the container image's HEALTHCHECK, for whichever role PID 1 runs.

* ``pvara api``: ``GET /health/live`` on the API's port answers 200.
* ``pvara worker``: a worker of this host sent a heartbeat to Redis within three heartbeat
  periods (``ops.pools.workers``).
* anything else (bridge, scheduler, migrate): healthy while it runs; they exit on failure.

Kubernetes ignores HEALTHCHECK and uses the probes in ``k8s/`` instead.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from core.settings import Settings


def role(cmdline: Path = Path("/proc/1/cmdline")) -> str:
    """The ``pvara`` subcommand of the container's main process ("" if unknown)."""
    try:
        argv = [a.decode(errors="replace") for a in cmdline.read_bytes().split(b"\0") if a]
    except OSError:
        return ""
    for index, arg in enumerate(argv):
        if arg.endswith("pvara") or arg == "ops.cli":
            rest = [a for a in argv[index + 1 :] if not a.startswith("-")]
            return rest[0] if rest else ""
    return ""


def check(settings: Settings, which: str | None = None) -> tuple[bool, str]:
    """Whether the process of ``which`` role (default: PID 1's) is healthy, and why."""
    which = role() if which is None else which
    if which == "api":
        url = f"http://127.0.0.1:{settings.api_port}/health/live"
        try:
            status = httpx.get(url, timeout=3).status_code
        except httpx.HTTPError as exc:
            return False, f"{url}: {exc}"
        return status == 200, f"{url}: {status}"
    if which == "worker":
        import redis

        from ops.pools import workers

        try:
            client = redis.Redis.from_url(settings.effective_redis_url, socket_timeout=3)
            beats = [w for w in workers(client, settings) if w.host == socket.gethostname()]
        except redis.RedisError as exc:
            return False, f"redis: {exc}"
        fresh = [w for w in beats if time.time() - w.last_seen < 3 * settings.worker_heartbeat_s]
        return bool(fresh), f"{len(fresh)} worker(s) of this host with a recent heartbeat"
    return True, f"{which or 'process'} running"


def run(settings: Settings, which: str | None = None) -> int:
    healthy, why = check(settings, which)
    print(("healthy: " if healthy else "unhealthy: ") + why)
    return 0 if healthy else 1
