"""The demo's processes laid out as deployed: the API with its workers, the bridge, and one
worker command per pool with that pool's processes and threads (``PVARA_POOL_*``)."""

from __future__ import annotations

from pathlib import Path

from core.queue import POOLS
from core.settings import Settings
from ops.pools import default_processes, default_threads
from ops.processes import Child, pvara_command

#: API processes in the demo (the API is stateless; see ``pvara api --workers``).
API_WORKERS = 2


def children(settings: Settings, port: int, env: dict[str, str], log_dir: Path) -> list[Child]:
    """API, bridge and every pool, started (the caller stops them)."""
    api = ["api", "--port", str(port), "--workers", str(API_WORKERS)]
    started = [Child("api", pvara_command(*api), env, log_dir)]
    started.append(Child("bridge", pvara_command("bridge"), env, log_dir))
    started += [
        Child(f"pool-{pool}", pvara_command("worker", "--pool", pool), env, log_dir)
        for pool in POOLS
    ]
    return started


def layout(settings: Settings) -> str:
    """``api ×2, parse 2×2, …`` (processes × threads per pool) for the demo's output."""
    pools = ", ".join(
        f"{pool} {default_processes(settings, pool)}×{default_threads(settings, pool)}"
        for pool in POOLS
    )
    return f"api ×{API_WORKERS}, bridge, pools (processes×threads) {pools}"
