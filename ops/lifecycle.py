"""Process lifecycle on Linux: children that die with their supervisor, and no leftovers.

A supervisor starts each child in a session of its own and names itself in
``PVARA_SUPERVISOR_PID``; the child's first act (:func:`die_with_supervisor`) is to ask the
kernel for SIGTERM when that parent dies, even by SIGKILL. When a child exits, whatever it
left in its process group (a Dramatiq worker process, a resource tracker) is ended by
:func:`end_group`, so nothing keeps consuming beside its replacement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from core.parent_death import die_with_parent

SUPERVISOR_PID_ENV = "PVARA_SUPERVISOR_PID"

log = logging.getLogger(__name__)


def die_with_supervisor() -> None:
    """If a supervisor started this process, end it when the supervisor dies."""
    expected = os.environ.get(SUPERVISOR_PID_ENV, "")
    if expected.isdigit():
        die_with_parent(int(expected))


def supervised_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child of this process that must die with it."""
    return {**env, SUPERVISOR_PID_ENV: str(os.getpid())}


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields: state ppid pgrp ...
        if fields[0] not in {"Z", "X"} and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


class Leftovers:
    """Ends what exited processes left in their process groups: SIGTERM at once (a Dramatiq
    worker process then stops consuming and finishes what it holds), SIGKILL for what is
    still there ``grace_s`` later. Never blocks: call :meth:`reap` on every supervisor tick.
    """

    def __init__(self, grace_s: float = 30.0) -> None:
        self.grace_s = grace_s
        self._groups: dict[int, float] = {}  # pgid → SIGKILL deadline

    def end(self, pgid: int) -> list[int]:
        """Start ending group ``pgid`` (its leader has exited); returns the pids found."""
        found = group_members(pgid)
        if found:
            log.warning(
                "ending what an exited process left behind", extra={"pgid": pgid, "pids": found}
            )
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            self._groups[pgid] = time.monotonic() + self.grace_s
        return found

    def reap(self) -> None:
        """SIGKILL the groups past their grace; forget the empty ones."""
        now = time.monotonic()
        for pgid, deadline in list(self._groups.items()):
            if not group_members(pgid):
                del self._groups[pgid]
            elif now >= deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)

    def pending(self) -> list[int]:
        """Groups still being ended."""
        return list(self._groups)

    def finish(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for every group to end, then SIGKILL the rest."""
        deadline = time.monotonic() + timeout_s
        while self._groups and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.1)
        for pgid in list(self._groups):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        self._groups.clear()
