"""A Redis instance of our own from Debian's ``redis-server``, append-only, under ``.pvara/``."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import redis

from ops.services._base import (
    Service,
    ServiceError,
    apt_install,
    ensure_port_free,
    read_pid,
    stop_pid,
    wait_until,
)

_CONF = """# Written by `pvara services up`.
port {port}
bind 127.0.0.1
protected-mode yes
daemonize yes
dir {dir}
pidfile {dir}/redis.pid
logfile {dir}/redis.log
# Queues live here: keep an append-only file, fsync every second (field notes).
appendonly yes
appendfsync everysec
save 900 1
save 300 100
"""


class RedisService(Service):
    name = "redis"

    @property
    def external(self) -> bool:
        return bool(self.settings.redis_url)

    @property
    def address(self) -> str:
        return self.settings.effective_redis_url

    def answers(self) -> bool:
        try:
            client = redis.Redis.from_url(self.address, socket_connect_timeout=2, socket_timeout=2)
            return bool(client.ping())
        except redis.RedisError:
            return False

    def pid(self) -> int | None:
        return read_pid(self.dir / "redis.pid")

    def detail(self) -> dict[str, Any]:
        try:
            client = redis.Redis.from_url(self.address, socket_connect_timeout=2, socket_timeout=2)
            info = client.info("server")
            persistence = client.info("persistence")
        except redis.RedisError:
            return {}
        return {
            "version": info.get("redis_version"),
            "appendonly": bool(persistence.get("aof_enabled")),
        }

    def _start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not shutil.which(binary):
            apt_install("redis-server")
            binary = shutil.which("redis-server") or ""
            if not binary:
                raise ServiceError("redis: redis-server is still missing after apt-get install.")
        if self.pid() is None:
            ensure_port_free("redis", self.settings.redis_port, "PVARA_REDIS_PORT")
        self.dir.mkdir(parents=True, exist_ok=True)
        conf = self.dir / "redis.conf"
        conf.write_text(_CONF.format(port=self.settings.redis_port, dir=self.dir))
        done = subprocess.run([binary, str(conf)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ServiceError(f"redis: redis-server failed to start: {done.stderr}{done.stdout}")
        if not wait_until(self.answers, 20):
            log = self.dir / "redis.log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            raise ServiceError(f"redis: started but does not answer on {self.address}.\n{tail}")

    def _stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, timeout_s=20)
