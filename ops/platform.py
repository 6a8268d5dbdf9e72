"""``pvara up``: the whole local platform in one command, supervised.

It runs the API, the bridge (with the outbox relay), the scheduler and every worker pool as
children, and keeps them running without an operator:

- a child that exits (crashed, killed with ``kill -9``) is started again, at once if it ran
  for a while, else after a backoff that doubles up to ``restart_backoff_max_s``;
- a child whose liveness file went stale (a loop hangs: see :mod:`core.liveness`) is killed
  and started again;
- what an exited child left in its process group is ended, so no orphan keeps working;
- the pools are reconciled by :class:`ops.supervisor.Supervisor` in this same process, so a
  pool's Dramatiq main process is a direct child too;
- every child dies with this process (SIGTERM, even if this one is killed with SIGKILL).

The children's pids are kept in ``<home>/up.json`` for operators and the chaos benchmark.
The backing services (PostgreSQL, Redis, Kafka) are not supervised here: they are started
once (``pvara services up``) and every process reconnects to them when they come back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.liveness import age_s
from core.queue import POOLS
from core.settings import Settings
from ops.lifecycle import Leftovers, supervised_env
from ops.processes import pvara_command
from ops.supervisor import Supervisor

log = logging.getLogger(__name__)

_TICK_S = 0.5
_RAN_LONG_ENOUGH_S = 60.0  # a child that ran this long is restarted without backoff
_STOP_TIMEOUT_S = 30.0


@dataclass
class _Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    liveness_file: Path
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    next_start: float = 0.0
    quick_exits: int = 0
    restarts: int = 0
    history: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def state_path(settings: Settings) -> Path:
    """Where ``pvara up`` keeps the pids of what it runs."""
    return settings.home / "up.json"


class Platform:
    """Runs and watches the API, the bridge, the scheduler and the pools."""

    def __init__(
        self,
        settings: Settings,
        *,
        port: int | None = None,
        pools: Sequence[str] = POOLS,
        threads: int | None = None,
    ) -> None:
        self.settings = settings
        self.live_dir = settings.effective_liveness_dir / f"up-{os.getpid()}"
        api_port = str(port or settings.api_port)
        bridge_env = {
            "PVARA_BRIDGE_INSTANCE_ID": settings.bridge_instance_id
            or f"{socket.gethostname()}-{settings.bridge_group}-0"
        }
        self.children = [
            self._child("api", pvara_command("api", "--port", api_port), "api"),
            self._child("bridge", pvara_command("bridge"), "bridge", bridge_env),
            self._child("scheduler", pvara_command("scheduler"), "scheduler"),
        ]
        pool_settings = settings.model_copy(update={"liveness_dir": self.live_dir})
        self.pools = Supervisor(pool_settings, pools=pools, threads=threads)
        self.leftovers = Leftovers(grace_s=settings.supervisor_stop_timeout_s)
        self._next_reconcile = 0.0
        self._state = ""

    def _child(
        self, name: str, argv: list[str], role: str, extra: dict[str, str] | None = None
    ) -> _Child:
        live = self.live_dir / name
        env = {**os.environ, **(extra or {}), "PVARA_LIVENESS_DIR": str(live)}
        return _Child(name, argv, env, live / role)

    # --- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Supervise until ``stop`` is set, then stop everything gracefully."""
        log.info(
            "platform starting",
            extra={"children": [c.name for c in self.children], "pools": list(self.pools.pools)},
        )
        try:
            while not stop.is_set():
                self.tick()
                stop.wait(_TICK_S)
        finally:
            self.shutdown()

    def tick(self) -> None:
        """One pass: start what is due, restart what exited or hangs, reconcile the pools."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is None:
                if now >= child.next_start:
                    self._start(child)
            elif child.proc.poll() is not None:
                self._exited(child, f"exited with {child.proc.returncode}")
            elif self._wedged(child, now):
                age = age_s(child.liveness_file)
                log.warning(
                    "process wedged (stale liveness file); restarting",
                    extra={"child": child.name, "pid": child.proc.pid, "age_s": age},
                )
                _kill_group(child.proc)
                self._exited(child, "wedged")
        if now >= self._next_reconcile:
            self._next_reconcile = now + self.settings.supervisor_reconcile_s
            try:
                self.pools.reconcile()
            except Exception:
                log.exception("pool reconciliation failed")
        self.leftovers.reap()
        self._write_state()

    def _start(self, child: _Child) -> None:
        env = supervised_env(child.env)
        shutil.rmtree(child.liveness_file.parent, ignore_errors=True)
        child.proc = subprocess.Popen(
            child.argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        child.started = time.monotonic()
        log.info("process started", extra={"child": child.name, "pid": child.proc.pid})

    def _exited(self, child: _Child, why: str) -> None:
        assert child.proc is not None
        pid = child.proc.pid
        ran = time.monotonic() - child.started
        child.quick_exits = 0 if ran >= _RAN_LONG_ENOUGH_S else child.quick_exits + 1
        delay = (
            0.0
            if child.quick_exits == 0
            else min(self.settings.restart_backoff_max_s, 0.5 * 2 ** (child.quick_exits - 1))
        )
        child.proc = None
        child.restarts += 1
        child.history.append(why)
        child.next_start = time.monotonic() + delay
        self.leftovers.end(pid)
        log.warning(
            "process exited; restarting",
            extra={"child": child.name, "pid": pid, "why": why, "restart_in_s": delay},
        )

    def _wedged(self, child: _Child, now: float) -> bool:
        timeout = self.settings.liveness_timeout_s
        if now - child.started < 2 * timeout:
            return False  # importing, connecting, waiting for a dependency to come up
        age = age_s(child.liveness_file)
        return age is None or age > timeout

    # --- state and shutdown -----------------------------------------------------------------

    def state(self) -> dict[str, object]:
        """What runs now: pids per process and pool, and restarts so far."""
        pools = {
            pool: [p.pid for p in procs if p.alive()] for pool, procs in self.pools.running.items()
        }
        return {
            "supervisor": os.getpid(),
            "processes": {c.name: c.proc.pid for c in self.children if c.alive() and c.proc},
            "pools": pools,
            "restarts": {
                **{c.name: c.restarts for c in self.children},
                "pools": self.pools.restarts,
            },
            "live_dir": str(self.live_dir),
        }

    def _write_state(self) -> None:
        text = json.dumps(self.state(), sort_keys=True)
        if text == self._state:
            return
        path = state_path(self.settings)
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            self._state = text

    def shutdown(self) -> None:
        """SIGTERM every child and the pools; SIGKILL what is left after the grace."""
        for child in self.children:
            if child.alive() and child.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.proc.pid, signal.SIGTERM)
        self.pools.shutdown()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(child.proc)
            self.leftovers.end(child.proc.pid)
        self.leftovers.finish(5)
        with contextlib.suppress(OSError):
            state_path(self.settings).unlink()
        shutil.rmtree(self.live_dir, ignore_errors=True)
        log.info("platform stopped")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def run_platform(
    settings: Settings, *, port: int | None, pools: Sequence[str], threads: int | None
) -> None:
    """Run :class:`Platform` until SIGTERM/SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Platform(settings, port=port, pools=pools, threads=threads).run(stop)
