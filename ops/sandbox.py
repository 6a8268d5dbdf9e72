"""A throwaway PostgreSQL, Redis and Kafka of their own, for whatever must kill them.

Tests and benchmarks that SIGKILL, freeze and restart the backing services must not touch
the instances everything else shares. :class:`Sandbox` runs the same local services as
``pvara services up`` in a temporary home on free ports (the Kafka jars are hard-linked from
the shared home, so nothing is downloaded again), and hands out the settings and the
environment that point PVARA's processes at them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from core.settings import Settings
from ops.services import KafkaService, PostgresService, RedisService, Service, ServiceError
from ops.services._base import pid_alive, wait_until

_NAMES = ("postgres", "redis", "kafka")


class Sandbox:
    """Local services in a temporary home; :meth:`close` stops them and removes the home."""

    def __init__(self, source: Settings, **overrides: Any) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pvara-sandbox-", dir="/tmp"))
        self.home.chmod(0o755)  # the postgres user must be able to enter it
        names = ("postgres_port", "redis_port", "kafka_port", "kafka_controller_port")
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        values: dict[str, Any] = {
            "home": self.home,
            **self.ports,
            "database_url": "",
            "redis_url": "",
            "kafka_bootstrap": "",
            "submitted_partitions": source.submitted_partitions,
            "topic_partitions": source.topic_partitions,
            **overrides,
        }
        self.settings = source.model_copy(update=values)
        _link_kafka_jars(source.home / "kafka" / "libs", self.home / "kafka" / "libs")
        self.services: dict[str, Service] = {
            "postgres": PostgresService(self.settings),
            "redis": RedisService(self.settings),
            "kafka": KafkaService(self.settings),
        }

    def env(self, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        """An environment for PVARA processes using these services (no inherited PVARA_*)."""
        env = {k: v for k, v in (base or dict(os.environ)).items() if not k.startswith("PVARA_")}
        env.update(
            {
                "PVARA_HOME": str(self.home),
                "PVARA_POSTGRES_PORT": str(self.ports["postgres_port"]),
                "PVARA_REDIS_PORT": str(self.ports["redis_port"]),
                "PVARA_KAFKA_PORT": str(self.ports["kafka_port"]),
                "PVARA_KAFKA_CONTROLLER_PORT": str(self.ports["kafka_controller_port"]),
                "PVARA_SUBMITTED_PARTITIONS": str(self.settings.submitted_partitions),
                "PVARA_TOPIC_PARTITIONS": str(self.settings.topic_partitions),
            }
        )
        env.update(extra)
        return env

    def up(self, *names: str) -> None:
        """Start the named services (all three by default) and wait until each answers.

        A first start that fails (on a shared machine another program may take a free port
        between choosing it and binding it) is tried again on new ports, from nothing.
        """
        for name in names or _NAMES:
            for attempt in range(3):
                try:
                    self.services[name].up()
                    break
                except ServiceError:
                    if attempt == 2:
                        raise
                    self._new_ports(name)

    def _new_ports(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.services[name].down()
        keys = [k for k in self.ports if k.startswith(name)]
        self.ports.update(dict(zip(keys, free_ports(len(keys)), strict=True)))
        self.settings = self.settings.model_copy(update=self.ports)
        shutil.rmtree(self.home / name / "data", ignore_errors=True)
        for other, service in self.services.items():
            service.settings = self.settings
            service.dir = self.settings.home / other

    def pid(self, name: str) -> int | None:
        return self.services[name].pid()

    def kill(self, name: str) -> None:
        """SIGKILL the service (PostgreSQL: the postmaster and its backends) and wait until it
        is gone and no longer answers."""
        pid = self.pid(name)
        if pid is None:
            return
        pids = [pid, *(_children(pid) if name == "postgres" else [])]
        for victim in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not any(pid_alive(p) for p in pids), 30, 0.05)

    def freeze(self, name: str) -> None:
        """SIGSTOP the service: connections stay open, nothing is answered."""
        pid = self.pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        pid = self.pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def restart(self, name: str, attempts: int = 3) -> float:
        """Start a killed service again (as an operator would); returns the seconds it took."""
        started = time.monotonic()
        for attempt in range(attempts):
            try:
                self.services[name].up()
                if self.services[name].answers():
                    break
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(1)
        return time.monotonic() - started

    def close(self) -> None:
        for name in reversed(_NAMES):
            with contextlib.suppress(Exception):
                self.thaw(name)
                self.services[name].down()
            with contextlib.suppress(Exception):
                self.kill(name)
        data = self.home / "postgres" / "data"
        if data.is_symlink():
            shutil.rmtree(data.resolve().parent, ignore_errors=True)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nobody listens on now (all held while choosing, so
    none is handed out twice)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def _link_kafka_jars(source: Path, target: Path) -> None:
    """Hard-link the resolved Kafka jars (and their ``.resolved`` stamp) into ``target``."""
    if not (source / ".resolved").exists():
        return  # nothing cached: the sandbox's Kafka resolves them from Maven Central

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, copy_function=link_or_copy)
