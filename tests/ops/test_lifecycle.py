"""No orphans: a pool's worker processes die with its main process, whatever is left in a
process group is ended, and children die with their supervisor (real processes, kill -9)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from core.settings import Settings
from ops.lifecycle import Leftovers, group_members
from ops.processes import free_port
from ops.runners import worker_argv
from tests.ops.test_services import process_running
from tests.pipeline import wait_for

PRIVATE_REDIS_DB = 12


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in {"Z", "X"}:
                found.append(int(entry.name))
    return found


def test_killing_a_pool_s_main_process_leaves_no_worker_process_behind(
    services_up: Settings,
) -> None:
    url = services_up.effective_redis_url.rsplit("/", 1)[0] + f"/{PRIVATE_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    env = {**os.environ, "PVARA_REDIS_URL": url}
    argv = worker_argv(services_up, "maintenance", 2, 1)
    main = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:

        def booted() -> list[int]:
            # A worker process's heartbeat names its parent once its middleware has booted.
            beats = [json.loads(raw) for raw in client.hvals("pvara:workers")]
            return [b["pid"] for b in beats if b.get("ppid") == main.pid]

        workers = wait_for(lambda: len(booted()) == 2 and booted(), 120, "two worker processes")
        assert sorted(workers) == sorted(p for p in _children(main.pid) if p in workers)
        os.kill(main.pid, signal.SIGKILL)
        main.wait(10)
        wait_for(
            lambda: not any(process_running(pid) for pid in workers),
            60,
            "the worker processes to die with their main process",
        )
    finally:
        if main.poll() is None:
            os.killpg(main.pid, signal.SIGKILL)
        for pid in group_members(main.pid):
            os.kill(pid, signal.SIGKILL)
        client.flushdb()


def test_leftovers_of_an_exited_leader_are_terminated_then_killed() -> None:
    # A leader whose child ignores SIGTERM, then the leader dies.
    script = (
        "import subprocess, time;"
        "subprocess.Popen(['sh', '-c', 'trap \"\" TERM; sleep 600']); time.sleep(600)"
    )
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    wait_for(lambda: len(group_members(leader.pid)) >= 2, 30, "the leader's child")
    os.kill(leader.pid, signal.SIGKILL)
    leader.wait(10)
    leftovers = Leftovers(grace_s=1.0)
    found = leftovers.end(leader.pid)
    assert found and leader.pid not in found
    started = time.monotonic()
    wait_for(lambda: (leftovers.reap(), not group_members(leader.pid))[1], 30, "the group to end")
    assert time.monotonic() - started >= 0.9  # SIGTERM was ignored: SIGKILL after the grace
    leftovers.reap()
    assert leftovers.pending() == []


def test_a_supervised_pvara_process_dies_with_its_supervisor(services_up: Settings) -> None:
    """``pvara`` started with PVARA_SUPERVISOR_PID asks for SIGTERM when that parent dies."""
    script = (
        "import os, subprocess, sys, time;"
        "env = {**os.environ, 'PVARA_SUPERVISOR_PID': str(os.getpid())};"
        "p = subprocess.Popen([sys.executable, '-m', 'ops.cli', 'api', '--port', sys.argv[1]],"
        " env=env);"
        "print(p.pid, flush=True); time.sleep(600)"
    )
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script, str(free_port())],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert supervisor.stdout is not None
        child = int(supervisor.stdout.readline())
        wait_for(lambda: process_running(child), 30, "the child")
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait(10)
        wait_for(lambda: not process_running(child), 60, "the child to die with its supervisor")
    finally:
        for pid in group_members(supervisor.pid):
            os.kill(pid, signal.SIGKILL)
