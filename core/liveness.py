"""Liveness files: a process's proof that it still does its job, not only that it runs.

Each long-running loop of a process (the bridge's consumer, the outbox relay, a worker's
queue consumers, the scheduler's tick) reports :meth:`Liveness.progress` whenever it goes
round, whether there was work or not and whether its dependencies answered or not (an outage
is no reason to restart a process). While every registered loop went round within
``liveness_timeout_s`` and no registered check objects, the process's file
``<liveness_dir>/<role>`` has its modification time refreshed (at most once a second).

A stale file means a loop hangs: Kubernetes' exec liveness probes and ``pvara up`` read the
file's age and restart the process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.settings import Settings

_TOUCH_EVERY_S = 1.0


class Liveness:
    """The liveness file of one process role (``api``, ``bridge``, ``scheduler``, ``worker``)."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._loops: dict[str, float] = {}
        self._checks: list[Callable[[], str | None]] = []
        self._lock = threading.Lock()
        self._touched = 0.0
        self.last_problem: str | None = None

    def add_check(self, check: Callable[[], str | None]) -> Callable[[], None]:
        """A condition besides the loops: ``check()`` returns why the process is wedged, or
        None when it is fine. Returns the function that removes it again."""
        with self._lock:
            self._checks.append(check)

        def remove() -> None:
            with self._lock:
                if check in self._checks:
                    self._checks.remove(check)

        return remove

    def progress(self, loop: str) -> None:
        """``loop`` went round; refresh the file if the whole process is fine."""
        now = time.monotonic()
        with self._lock:
            self._loops[loop] = now
            if now - self._touched < _TOUCH_EVERY_S:
                return
            self._touched = now
            problem = self._problem(now)
            self.last_problem = problem
        if problem is None:
            self._touch()

    def problem(self) -> str | None:
        """Why this process is not doing its job right now, or None."""
        with self._lock:
            return self._problem(time.monotonic())

    def _problem(self, now: float) -> str | None:
        for loop, seen in self._loops.items():
            if now - seen > self.timeout_s:
                return f"{loop} has not gone round for {now - seen:.0f} s"
        for check in self._checks:
            reason = check()
            if reason:
                return reason
        return None

    def _touch(self) -> None:
        with contextlib.suppress(OSError):  # a read-only or missing folder: no file, no crash
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch(exist_ok=True)
            os.utime(self.path)


_registry: dict[Path, Liveness] = {}
_registry_lock = threading.Lock()


def liveness(settings: Settings, role: str) -> Liveness:
    """This process's :class:`Liveness` for ``role`` (one per file)."""
    path = settings.effective_liveness_dir / role
    with _registry_lock:
        found = _registry.get(path)
        if found is None:
            found = _registry[path] = Liveness(path, settings.liveness_timeout_s)
        return found


def age_s(path: Path) -> float | None:
    """Seconds since ``path`` was refreshed; None when there is no such file."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except OSError:
        return None
