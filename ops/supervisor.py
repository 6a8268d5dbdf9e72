"""``pvara workers``: keep the number of Dramatiq processes per pool at the desired count.

Each pool process is ``dramatiq tasks.workers --processes 1 --threads T --queues POOL`` in its
own session. Every ``supervisor_reconcile_s`` the supervisor reads the desired counts of its
group from Redis (``pvara pools scale``), restarts processes that died, starts missing ones and
stops surplus ones, newest first, with SIGTERM: Dramatiq then finishes the messages in hand and
puts prefetched ones back on the queue. A process still running after
``supervisor_stop_timeout_s`` is killed; its unacknowledged messages return to the queue once
its broker heartbeat expires (``queue_heartbeat_timeout_ms``).

A pool process that exits (a killed main process, or one whose worker process died) is
restarted at the next pass, and what it left in its process group is ended
(:class:`ops.lifecycle.Leftovers`): no orphan worker keeps consuming beside the new one. A
process whose liveness file went stale (its consumers stopped turning, or a message hangs far
past its time limit) is killed and restarted. While Redis is down the last desired counts
are kept, so dead processes are still restarted. The pool processes die with the supervisor.
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
from dataclasses import dataclass
from pathlib import Path

import redis

from core.liveness import age_s
from core.queue import POOLS, redis_client
from core.settings import Settings
from ops import pools as pool_state
from ops.lifecycle import Leftovers, supervised_env
from ops.runners import worker_argv

log = logging.getLogger(__name__)


@dataclass
class _Process:
    pool: str
    proc: subprocess.Popen[bytes]
    started: float
    liveness_file: Path
    stopping_since: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        """SIGTERM to Dramatiq's main process alone: it passes it on to its worker process.

        Not to the whole group: a worker process that gets a second SIGTERM (ours, then its
        parent's) exits at once, and the messages in hand stay unacknowledged.
        """
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL to the process and its worker processes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class Supervisor:
    """Reconciles the pool processes on this machine with the desired counts in Redis."""

    def __init__(
        self,
        settings: Settings,
        *,
        pools: Sequence[str] = POOLS,
        threads: int | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        unknown = set(pools) - set(POOLS)
        if unknown:
            raise pool_state.ScaleError(f"unknown pool(s): {', '.join(sorted(unknown))}")
        self.settings = settings
        self.pools = tuple(pools)
        self.threads = threads  # None: each pool's own (ops.pools.default_threads)
        self.client = client or redis_client(settings)
        self.running: dict[str, list[_Process]] = {pool: [] for pool in self.pools}
        self.stopping: list[_Process] = []
        self.key = f"pvara:supervisors:{settings.worker_group}:{socket.gethostname()}:{os.getpid()}"
        self.leftovers = Leftovers(grace_s=settings.supervisor_stop_timeout_s)
        self.restarts = 0
        self._want: dict[str, int] | None = None
        self._started = 0

    def _desired(self) -> dict[str, int]:
        """The desired counts from Redis, or the last ones read while Redis is down."""
        try:
            self._want = pool_state.desired(self.client, self.settings)
        except redis.RedisError as exc:
            if self._want is None:
                self._want = {pool: self.settings.worker_processes for pool in POOLS}
            log.warning("desired pool sizes unreadable; keeping the last ones: %s", exc)
        return self._want

    def reconcile(self) -> dict[str, int]:
        """One pass: reap, start, stop. Returns the processes now running per pool."""
        want = self._desired()
        for pool in self.pools:
            procs = self.running[pool]
            for dead in [p for p in procs if not p.alive()]:
                log.warning(
                    "pool process exited",
                    extra={"pool": pool, "pid": dead.pid, "returncode": dead.proc.returncode},
                )
                procs.remove(dead)
                self._forget(dead)
            for wedged in [p for p in procs if self._wedged(p)]:
                log.warning(
                    "pool process wedged (stale liveness file); restarting",
                    extra={"pool": pool, "pid": wedged.pid},
                )
                procs.remove(wedged)
                wedged.kill()
                wedged.proc.wait(10)
                self._forget(wedged)
            while len(procs) < want[pool]:
                procs.append(self._start(pool))
            while len(procs) > want[pool]:
                victim = max(procs, key=lambda p: p.started)
                procs.remove(victim)
                self._stop(victim)
        self._reap_stopping()
        self.leftovers.reap()
        counts = {pool: len(procs) for pool, procs in self.running.items()}
        with contextlib.suppress(redis.RedisError):
            self._report(counts)
        return counts

    def _forget(self, proc: _Process) -> None:
        """An exited (or killed) process: end what it left behind, drop its liveness folder."""
        self.leftovers.end(proc.pid)
        self.restarts += 1
        shutil.rmtree(proc.liveness_file.parent, ignore_errors=True)

    def _wedged(self, proc: _Process) -> bool:
        """Alive, started long enough ago, and its liveness file is stale or missing."""
        timeout = self.settings.liveness_timeout_s
        if time.monotonic() - proc.started < 2 * timeout:
            return False  # still importing and connecting
        age = age_s(proc.liveness_file)
        return age is None or age > timeout

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set, then stop every process gracefully."""
        log.info(
            "supervisor started",
            extra={"pools": list(self.pools), "group": self.settings.worker_group},
        )
        try:
            while not stop.is_set():
                try:
                    self.reconcile()
                except Exception:
                    log.exception("supervisor pass failed")
                stop.wait(self.settings.supervisor_reconcile_s)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """SIGTERM every process and wait for all of them (SIGKILL after the grace period)."""
        for procs in self.running.values():
            for proc in procs:
                self._stop(proc)
            procs.clear()
        deadline = time.monotonic() + self.settings.supervisor_stop_timeout_s
        while self.stopping and time.monotonic() < deadline:
            self._reap_stopping()
            time.sleep(0.1)
        for proc in self.stopping:
            proc.kill()
            proc.proc.wait(5)
        self.stopping.clear()
        self.leftovers.finish(5)
        with contextlib.suppress(redis.RedisError):
            self.client.delete(self.key)

    def _start(self, pool: str) -> _Process:
        argv = worker_argv(self.settings, pool, 1, self.threads)
        self._started += 1
        live_dir = self.settings.effective_liveness_dir / f"{pool}-{os.getpid()}-{self._started}"
        env = supervised_env(
            {
                **os.environ,
                "PVARA_WORKER_GROUP": self.settings.worker_group,
                "PVARA_LIVENESS_DIR": str(live_dir),
            }
        )
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        log.info("pool process started", extra={"pool": pool, "pid": proc.pid})
        return _Process(pool, proc, time.monotonic(), live_dir / "worker")

    def _stop(self, proc: _Process) -> None:
        log.info("pool process stopping", extra={"pool": proc.pool, "pid": proc.pid})
        proc.stopping_since = time.monotonic()
        proc.terminate()
        self.stopping.append(proc)

    def _reap_stopping(self) -> None:
        grace = self.settings.supervisor_stop_timeout_s
        for proc in list(self.stopping):
            if not proc.alive():
                self.stopping.remove(proc)
            elif time.monotonic() - (proc.stopping_since or 0) > grace:
                log.warning(
                    "pool process ignored SIGTERM; killing",
                    extra={"pool": proc.pool, "pid": proc.pid},
                )
                proc.kill()

    def _report(self, counts: dict[str, int]) -> None:
        state = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "running": counts,
            "stopping": len(self.stopping),
            "ts": time.time(),
        }
        self.client.set(
            self.key, json.dumps(state), ex=max(10, int(5 * self.settings.supervisor_reconcile_s))
        )


def run_supervisor(settings: Settings, pools: Sequence[str], threads: int | None) -> None:
    """Run a supervisor until SIGTERM/SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Supervisor(settings, pools=pools, threads=threads).run(stop)
