"""A PostgreSQL instance of our own, from Debian's server package, data under ``.pvara/``."""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg

from ops.services._base import (
    Service,
    ServiceError,
    apt_install,
    ensure_port_free,
    read_pid,
    stop_pid,
)

_SERVER_CONF = """
# Written by `pvara services up`.
listen_addresses = '127.0.0.1'
max_connections = 300
shared_buffers = 256MB
unix_socket_directories = '{socket_dir}'
"""


class PostgresService(Service):
    name = "postgres"

    @property
    def external(self) -> bool:
        return bool(self.settings.database_url)

    @property
    def address(self) -> str:
        url = self.settings.effective_database_url
        return url.split("@", 1)[-1] if "@" in url else url

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def answers(self) -> bool:
        try:
            with psycopg.connect(self.settings.effective_database_url, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def pid(self) -> int | None:
        return read_pid(self.data_dir / "postmaster.pid")

    def detail(self) -> dict[str, Any]:
        if not self.answers():
            return {}
        with psycopg.connect(self.settings.effective_database_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return {"version": row[0] if row else None}

    # --- start / stop -------------------------------------------------------------------

    def _start(self) -> None:
        bin_dir = _server_bin_dir()
        if self.pid() is None:
            ensure_port_free("postgres", self.settings.postgres_port, "PVARA_POSTGRES_PORT")
        self._prepare_data_dir()
        # PostgreSQL (as the postgres user) gets the real path: the symlink sits under the
        # checkout, which that user may not be able to traverse.
        pg_data = self.data_dir.resolve()
        if not (pg_data / "PG_VERSION").exists():
            self._as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pg_data),
                    "-A",
                    "trust",
                    "-U",
                    "pvara",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                "initdb",
            )
            (pg_data / "postgresql.auto.conf").write_text(_SERVER_CONF.format(socket_dir=pg_data))
        if self.pid() is None:
            self._as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(pg_data),
                    "-l",
                    str(pg_data / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {self.settings.postgres_port}",
                    "start",
                ],
                "pg_ctl start",
            )
        self._create_database()

    def _stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: open sessions are ended. SIGTERM ("smart")
            # would wait for every client (a worker's idle pool) and then get SIGKILLed, which
            # leaves orphaned backends holding the shared memory.
            stop_pid(pid, timeout_s=30, sig=signal.SIGINT)

    def _create_database(self) -> None:
        admin_url = self.settings.local_database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'pvara'").fetchone()
            if not exists:
                conn.execute("CREATE DATABASE pvara")

    def _prepare_data_dir(self) -> None:
        """Make a data folder the ``postgres`` user can reach.

        PostgreSQL refuses to run as root, so it runs as ``postgres``; when the checkout sits
        somewhere that user cannot traverse (``/root`` is mode 700), the data lives under
        ``/var/lib/pvara`` and ``.pvara/postgres/data`` is a symlink to it.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            self.data_dir.mkdir(exist_ok=True, mode=0o700)
            return
        if self.data_dir.exists():
            return
        if _postgres_can_reach(self.dir):
            self.data_dir.mkdir(mode=0o700)
            target = self.data_dir
        else:
            key = hashlib.sha256(str(self.dir.resolve()).encode()).hexdigest()[:12]
            target = Path("/var/lib/pvara") / key / "data"
            target.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.data_dir.symlink_to(target)
        postgres = pwd.getpwnam("postgres")
        os.chown(target, postgres.pw_uid, postgres.pw_gid)
        target.chmod(0o700)

    def _as_postgres(self, argv: list[str], what: str) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, cwd="/")
        if done.returncode != 0:
            log = self.data_dir / "server.log"
            tail = log.read_text()[-1500:] if log.exists() else ""
            raise ServiceError(
                f"postgres: {what} failed ({done.returncode}).\n{done.stdout}{done.stderr}\n{tail}"
            )


def _server_bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin folder, installing the server if absent."""
    for attempt in range(2):
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if candidates:
            return candidates[-1].parent
        if attempt == 0:
            apt_install("postgresql")
    raise ServiceError(
        "postgres: no PostgreSQL server found under /usr/lib/postgresql after installing "
        "'postgresql'. Install it with `apt-get install postgresql`, or set PVARA_DATABASE_URL."
    )


def _postgres_can_reach(path: Path) -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceError("postgres: the 'postgres' system user is missing.") from exc
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True
    )
    return done.returncode == 0
