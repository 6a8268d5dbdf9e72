"""What every local service shares: status records, errors, process and port helpers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings


class ServiceError(RuntimeError):
    """A service could not be started; the message says what happened and what to do."""


@dataclass
class ServiceStatus:
    """What ``pvara services status`` reports for one service."""

    name: str
    address: str
    managed: bool
    answering: bool
    pid: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Service(ABC):
    """A backing service: local (started by us) unless its URL setting points elsewhere."""

    name: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = settings.home / self.name

    @property
    @abstractmethod
    def external(self) -> bool:
        """True when the user pointed PVARA at an existing server."""

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def answers(self) -> bool:
        """Whether the service answers a real request right now."""

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _stop(self) -> None: ...

    def pid(self) -> int | None:
        return None

    def detail(self) -> dict[str, Any]:
        return {}

    def up(self) -> ServiceStatus:
        """Start the service unless it is external or already answering; idempotent."""
        if not self.external and not self.answers():
            self._start()
        return self.status()

    def down(self) -> None:
        if not self.external:
            self._stop()

    def status(self) -> ServiceStatus:
        return ServiceStatus(
            name=self.name,
            address=self.address,
            managed=not self.external,
            answering=self.answers(),
            pid=None if self.external else self.pid(),
            detail=self.detail(),
        )


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on, or holds, ``host:port`` (our servers could not bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) == 0:
            return True
    # A socket can hold the port without listening; binding the way servers do (ignoring
    # TIME_WAIT leftovers) tells.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ensure_port_free(service: str, port: int, setting: str) -> None:
    if port_in_use(port):
        raise ServiceError(
            f"{service}: port {port} on 127.0.0.1 is taken by another program, not by PVARA's "
            f"{service}. Stop that program, or choose another port with {setting}=<port>."
        )


def read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def stop_pid(pid: int, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` (SIGTERM by default), wait, then SIGKILL."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not pid_alive(pid), timeout_s):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_until(lambda: not pid_alive(pid), 5.0)


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> bool:
    """Poll ``check`` until it is true or the time is up (polling a real condition)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


_apt_updated = False

AUTO_INSTALL_ENV = "PVARA_AUTO_INSTALL"


def auto_install_enabled() -> bool:
    """Whether missing system packages may be installed with apt-get (``PVARA_AUTO_INSTALL``).

    On by default; ``PVARA_AUTO_INSTALL=0`` (or ``false``/``no``/``off``) turns it off, for
    machines where PVARA must not change the system and for tests of the error messages.
    """
    from core.settings import Settings

    # Read afresh (not the cached settings): tests flip it per process environment.
    return Settings().auto_install


def apt_install(*packages: str) -> None:
    """Install Debian packages (as root), running ``apt-get update`` once first.

    Raises:
        ServiceError: automatic installation is off, apt-get is missing, we are not root,
            or apt-get failed.
    """
    global _apt_updated
    if not auto_install_enabled():
        raise ServiceError(
            f"{' '.join(packages)} is missing and automatic installation is off "
            f"({AUTO_INSTALL_ENV}=0)."
        )
    if shutil.which("apt-get") is None:
        raise ServiceError(f"apt-get is not available to install {' '.join(packages)}.")
    if os.geteuid() != 0:
        raise ServiceError(
            f"Missing {' '.join(packages)}: install them with "
            f"`sudo apt-get install {' '.join(packages)}` or run as root."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        _apt_updated = True
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ServiceError(f"apt-get install {' '.join(packages)} failed:\n{done.stderr[-2000:]}")
