"""End-to-end pipeline benchmark: fixed offered loads through the real API, Kafka, bridge and
pools, against the in-process ceiling measured in the same run.

    .venv/bin/python bench/pipeline.py [--loads 25,50,100,150] [--seconds 180] [--json PATH]

What runs: the local PostgreSQL, Redis and Kafka; ``pvara api --workers N``; ``pvara bridge``;
one ``pvara worker --pool P`` per pool with its default processes and threads (what a
Deployment per pool runs); the load in a process of its own (``bench/_pipeline_load.py``),
submitting the demo's mix of résumés (45 % PDF, 45 % DOCX, 10 % text; each upload with bytes
of its own, each a new candidate) at a fixed rate, open loop, to ``--jobs`` jobs with the
demo's criteria. Each load is held ``--seconds``; the first ``--warmup`` seconds are not
counted. Per load it prints:

- achieved: applications that reached a final state per second inside the window;
- submit→scored p50/p99 of the applications submitted inside the window (``ai_screened_at -
  submitted_at``, both stamped by our processes), after the pipeline drained;
- backlog at the end of the window, by stage: accepted but not yet in PostgreSQL (Kafka and
  the bridge), ``received`` (waiting for parse), ``screening`` (waiting for score);
- CPU per application by stage (each process tree's user + system time over the window,
  children included, divided by the applications finished in it) and the cores each stage
  used; the stage whose cores approach its processes, or whose backlog grows, holds it back;
- the largest RSS of each process.

The ceiling: before the pipeline starts, the same résumés go through parse (in process, no
sandbox), the local screener and the database writes of bridge, parse and score (client
and server CPU), with no queue in between; ceiling = cores ÷ CPU per application, and the
report gives achieved ÷ ceiling for the best load.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.migrate import migrate  # noqa: E402
from core.queue import NAMESPACE, POOLS  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from ingest.topics import ensure_topics  # noqa: E402
from ops.processes import Child, free_port, pvara_command, wait_for_http  # noqa: E402
from ops.samples import generate_samples  # noqa: E402
from ops.services import all_services  # noqa: E402
from screening.criteria import EXAMPLE_CRITERIA  # noqa: E402

_CLK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_FINAL = ("screened", "shortlisted", "parse_failed", "rejected", "withdrawn")
RSS_GOAL_MB = 150


# --- /proc: CPU and memory of process trees --------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces.
    return raw[raw.rindex(")") + 2 :].split()


def _ppids() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                found[int(entry)] = int(fields[1])
    return found


def tree(root: int, ppids: dict[int, int]) -> list[int]:
    """``root`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for pid, parent in ppids.items():
        children.setdefault(parent, []).append(pid)
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in ppids or pid == root:
            out.append(pid)
            stack.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system time of ``pids``, including their reaped children's."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            # utime, stime, cutime, cstime: fields 14-17 of stat, 12-15 after the name.
            total += sum(int(v) for v in fields[11:15])
    return total / _CLK


def rss_mb(pid: int) -> float:
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return resident * _PAGE / 2**20


def command_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    words = [w.rsplit("/", 1)[-1] if w.startswith("/") else w for w in words]
    return " ".join(words)[:60]


@dataclass
class Stage:
    """A group of process trees whose CPU is counted together."""

    name: str
    roots: list[int]
    processes: int  # how many processes may run its work in parallel (for saturation)
    peak_rss: dict[int, tuple[float, str]] = field(default_factory=dict)

    def pids(self, ppids: dict[int, int]) -> list[int]:
        return sorted({pid for root in self.roots for pid in tree(root, ppids)})

    def sample_rss(self, ppids: dict[int, int]) -> None:
        for pid in self.pids(ppids):
            mb = rss_mb(pid)
            if mb > self.peak_rss.get(pid, (0.0, ""))[0]:
                self.peak_rss[pid] = (mb, command_of(pid))


def cpu_by_stage(stages: list[Stage]) -> dict[str, float]:
    ppids = _ppids()
    return {s.name: cpu_seconds(s.pids(ppids)) for s in stages}


# --- setup -----------------------------------------------------------------------------------


def create_jobs(settings: Settings, count: int) -> list[uuid.UUID]:
    """An organization with ``count`` open jobs carrying the demo's criteria."""
    org_id = uuid.uuid4()
    jobs = [uuid.uuid4() for _ in range(count)]
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Pipeline bench', %s)",
            (org_id, f"bench-{org_id.hex}"),
        )
        for job_id in jobs:
            conn.execute(
                "INSERT INTO jobs (id, organization_id, title, description, tier)"
                " VALUES (%s, %s, 'Backend Engineer (Python)', %s, 'standard')",
                (
                    job_id,
                    org_id,
                    "Build and run Python services on PostgreSQL; containers and Kubernetes a "
                    "plus.",
                ),
            )
            conn.execute(
                "INSERT INTO screening_criteria (organization_id, job_id, version, criteria,"
                " top_n_candidates, min_score_threshold) VALUES (%s, %s, 1, %s, 10, 70)",
                (org_id, job_id, Jsonb(EXAMPLE_CRITERIA)),
            )
    return jobs


def pool_commands(settings: Settings) -> dict[str, list[str]]:
    """One worker command per pool, with the pool's default processes and threads."""
    return {pool: pvara_command("worker", "--pool", pool) for pool in POOLS}


def wait_workers(settings: Settings, since: float, pools: Iterable[str], timeout_s: float) -> bool:
    import redis

    from ops.pools import workers

    client = redis.Redis.from_url(settings.effective_redis_url)
    deadline = time.monotonic() + timeout_s
    wanted = set(pools)
    while time.monotonic() < deadline:
        live = {p for w in workers(client, settings) if w.started >= since for p in w.pools}
        if wanted <= live:
            return True
        time.sleep(0.5)
    return False


# --- one load --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    rate: float
    offered_rate: float
    accepted: int
    refused: dict[str, int]
    window_s: float
    finished_in_window: int
    achieved: float
    p50_ms: float | None
    p99_ms: float | None
    unfinished_after_drain: int
    backlog: dict[str, int]
    queues: dict[str, int]
    cpu_ms_per_app: dict[str, float]
    cores: dict[str, float]
    http_p50_ms: float | None
    http_p99_ms: float | None
    behind_p99_ms: float | None


def _status_counts(conn: psycopg.Connection[Any], jobs: list[uuid.UUID]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT status, count(*) AS n FROM applications WHERE job_id = ANY(%s) GROUP BY status",
        (jobs,),
    ).fetchall()
    return {r["status"]: int(r["n"]) for r in rows}


def _queue_depths(settings: Settings) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(settings.effective_redis_url)
    pipe = client.pipeline(transaction=False)
    for pool in POOLS:
        pipe.llen(f"{NAMESPACE}:{pool}")
    return dict(zip(POOLS, (int(n) for n in pipe.execute()), strict=True))


def _pct(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def run_load(
    settings: Settings,
    *,
    rate: float,
    seconds: float,
    warmup: float,
    samples_path: Path,
    jobs: list[uuid.UUID],
    port: int,
    stages: list[Stage],
    cnic_prefix: int,
    drain_s: float,
    work: Path,
) -> LoadResult:
    config = {
        "host": "127.0.0.1",
        "port": port,
        "rate": rate,
        "seconds": seconds,
        "jobs": [str(j) for j in jobs],
        "cnic_prefix": cnic_prefix,
    }
    config_path = work / f"load-{rate:g}.json"
    result_path = work / f"result-{rate:g}.json"
    config_path.write_text(json.dumps(config))
    load = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "_pipeline_load.py"),
            str(samples_path),
            str(config_path),
            str(result_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert load.stdout is not None
    line = load.stdout.readline()
    if not line.startswith("START "):
        raise RuntimeError(f"the load process did not start: {line!r}")
    t0 = float(line.split()[1])
    load_stage = Stage("load generator", [load.pid], 1)
    all_stages = [*stages, load_stage]
    window_start = t0 + warmup
    window_end = t0 + seconds
    time.sleep(max(0.0, window_start - time.time()))
    cpu_a = cpu_by_stage(all_stages)
    measured_start = time.time()
    while time.time() < window_end:
        ppids = _ppids()
        for stage in all_stages:
            stage.sample_rss(ppids)
        time.sleep(min(2.0, max(0.0, window_end - time.time())))
    cpu_b = cpu_by_stage(all_stages)
    measured_end = time.time()
    queues = _queue_depths(settings)
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as conn:
        counts = _status_counts(conn, jobs)
        finished = conn.execute(
            "SELECT count(*) AS n FROM applications WHERE job_id = ANY(%s)"
            " AND status = ANY(%s)"
            " AND coalesce(ai_screened_at, status_changed_at) >= to_timestamp(%s)"
            " AND coalesce(ai_screened_at, status_changed_at) < to_timestamp(%s)",
            (jobs, list(_FINAL), measured_start, measured_end),
        ).fetchone()
    load.wait()
    result = json.loads(result_path.read_text())
    accepted_ids = [(uuid.UUID(a), t) for a, t in result["accepted_ids"]]
    accepted_by_end = sum(1 for _, t in accepted_ids if t < measured_end)
    in_db = sum(counts.values())
    backlog = {
        "kafka+bridge": max(0, accepted_by_end - in_db),
        "parse (received)": counts.get("received", 0),
        "score (screening)": counts.get("screening", 0),
    }
    # Drain, then read the latency of every application submitted inside the window.
    deadline = time.monotonic() + drain_s
    window_ids = [a for a, t in accepted_ids if measured_start <= t < measured_end]
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as conn:
        while time.monotonic() < deadline:
            done = conn.execute(
                "SELECT count(*) AS n FROM applications WHERE job_id = ANY(%s)"
                " AND status = ANY(%s)",
                (jobs, list(_FINAL)),
            ).fetchone()
            if done is not None and int(done["n"]) >= len(accepted_ids):
                break
            time.sleep(1.0)
        rows = conn.execute(
            "SELECT extract(epoch FROM ai_screened_at - submitted_at) * 1000 AS ms"
            " FROM applications WHERE id = ANY(%s) AND ai_screened_at IS NOT NULL",
            (window_ids,),
        ).fetchall()
        unfinished = conn.execute(
            "SELECT count(*) AS n FROM applications WHERE job_id = ANY(%s)"
            " AND NOT (status = ANY(%s))",
            (jobs, list(_FINAL)),
        ).fetchone()
    latencies = [float(r["ms"]) for r in rows]
    window = measured_end - measured_start
    n_finished = int(finished["n"]) if finished else 0
    per_app = max(n_finished, 1)
    missing = max(0, len(accepted_ids) - sum(counts.values()))
    return LoadResult(
        rate=rate,
        offered_rate=result["offered_rate"],
        accepted=result["accepted"],
        refused={k: v for k, v in result["statuses"].items() if k not in ("200", "202")},
        window_s=window,
        finished_in_window=n_finished,
        achieved=n_finished / window,
        p50_ms=_pct(latencies, 50),
        p99_ms=_pct(latencies, 99),
        unfinished_after_drain=(int(unfinished["n"]) if unfinished else 0)
        + (missing if time.monotonic() >= deadline else 0),
        backlog=backlog,
        queues=queues,
        cpu_ms_per_app={k: (cpu_b[k] - cpu_a[k]) * 1000 / per_app for k in cpu_a},
        cores={k: (cpu_b[k] - cpu_a[k]) / window for k in cpu_a},
        http_p50_ms=result["http_p50_ms"],
        http_p99_ms=result["http_p99_ms"],
        behind_p99_ms=result["behind_p99_ms"],
    )


# --- the in-process ceiling --------------------------------------------------------------------


def measure_ceiling(settings: Settings, samples: list[Any], count: int) -> dict[str, float]:
    """CPU per application of parse + score + database writes, in this process, no queues."""
    from bench._pipeline_ceiling import measure

    return measure(settings, samples, count)


# --- report ----------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def report(
    loads: list[LoadResult],
    stages: list[Stage],
    ceiling: dict[str, float] | None,
    cores: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    print("\n== Offered loads ==")
    print(
        "| offered/s | sent/s | accepted | achieved/s | p50 submit→scored | p99 | backlog at end"
        " (kafka+bridge / parse / score) | HTTP p99 | unfinished after drain |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in loads:
        b = list(r.backlog.values())
        print(
            f"| {r.rate:g} | {r.offered_rate:.1f} | {r.accepted} | **{r.achieved:.1f}** |"
            f" {_fmt(r.p50_ms, ' ms')} | {_fmt(r.p99_ms, ' ms')} | {b[0]} / {b[1]} / {b[2]} |"
            f" {_fmt(r.http_p99_ms, ' ms')} | {r.unfinished_after_drain} |"
        )
    names = list(loads[0].cpu_ms_per_app) if loads else []
    print("\n== CPU per finished application by stage (ms), and cores used ==")
    print("| stage | " + " | ".join(f"{r.rate:g}/s ms/app (cores)" for r in loads) + " |")
    print("|---|" + "---|" * len(loads))
    for name in names:
        cells = [f"{r.cpu_ms_per_app[name]:.2f} ({r.cores[name]:.2f})" for r in loads]
        print(f"| {name} | " + " | ".join(cells) + " |")
    totals = [sum(r.cpu_ms_per_app.values()) for r in loads]
    print(
        "| **total** | "
        + " | ".join(
            f"{t:.2f} ({sum(r.cores.values()):.2f})" for t, r in zip(totals, loads, strict=True)
        )
        + " |"
    )
    print("\n== Largest RSS per process (MB) ==")
    over = []
    for stage in stages:
        if not stage.peak_rss:
            continue
        cells = sorted(stage.peak_rss.values(), reverse=True)
        top = ", ".join(f"{mb:.0f} ({cmd[:38]})" for mb, cmd in cells[:6])
        more = f" … {len(cells) - 6} more" if len(cells) > 6 else ""
        print(f"  {stage.name:<12} {len(cells):>3} processes: {top}{more}")
        if stage.name not in ("postgres", "redis", "kafka"):
            over += [(stage.name, mb, cmd) for mb, cmd in cells if mb > RSS_GOAL_MB]
    print(
        f"  our processes over {RSS_GOAL_MB} MB: "
        + (", ".join(f"{n} {mb:.0f} MB ({c})" for n, mb, c in over) or "none")
    )
    best = max(loads, key=lambda r: r.achieved) if loads else None
    out: dict[str, Any] = {"loads": [vars(r) for r in loads], "cores": cores}
    if ceiling:
        per_app = ceiling["total_ms"]
        ceiling_rate = cores * 1000 / per_app
        print("\n== In-process ceiling (same run, no queues) ==")
        print(
            "  CPU per application: "
            + ", ".join(f"{k[:-3]} {v:.2f} ms" for k, v in ceiling.items() if k != "total_ms")
            + f"; total {per_app:.2f} ms"
        )
        print(f"  ceiling = {cores} cores ÷ {per_app:.2f} ms = {ceiling_rate:.0f} applications/s")
        if best is not None:
            print(
                f"  best achieved {best.achieved:.1f}/s (offered {best.rate:g}/s) ÷ ceiling"
                f" = **{best.achieved / ceiling_rate:.2f}**"
            )
        out["ceiling"] = {**ceiling, "rate": ceiling_rate}
    if best is not None:
        held = [r for r in loads if r.rate >= 50 and r.p99_ms is not None]
        at50 = next((r for r in loads if r.rate == 50), None)
        print("\n== Goals ==")
        print(f"  ≥ 100 applications/s end to end: best {best.achieved:.1f}/s")
        if at50 is not None:
            print(f"  p99 submit→scored ≤ 5 s at 50/s: {_fmt(at50.p99_ms, ' ms')}")
        bottlenecks = _bottlenecks(loads, stages)
        for line in bottlenecks:
            print(f"  {line}")
        out["bottlenecks"] = bottlenecks
        del held
    return out


def _bottlenecks(loads: list[LoadResult], stages: list[Stage]) -> list[str]:
    """Per load short of its offered rate: the stage with a backlog, and the busiest stages."""
    lines = []
    limits = {s.name: s.processes for s in stages}
    for r in loads:
        if r.achieved >= 0.95 * r.rate and sum(r.backlog.values()) < r.rate * 2:
            continue
        worst = max(r.backlog.items(), key=lambda kv: kv[1])
        busy = sorted(
            ((name, c, limits.get(name, 1)) for name, c in r.cores.items()),
            key=lambda t: t[1] / max(t[2], 1),
            reverse=True,
        )[:3]
        lines.append(
            f"at {r.rate:g}/s: achieved {r.achieved:.1f}/s; largest backlog {worst[0]} "
            f"({worst[1]}); busiest: "
            + ", ".join(f"{n} {c:.2f} cores of {p} process(es)" for n, c, p in busy)
            + f"; whole machine {sum(r.cores.values()):.2f} cores"
        )
    return lines


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", default="25,50,100,150", help="offered applications/s")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long each load is held")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds not counted")
    parser.add_argument("--jobs", type=int, default=10, help="jobs the load spreads over")
    parser.add_argument("--samples", type=int, default=400, help="distinct base résumés")
    parser.add_argument("--api-workers", type=int, default=None, help="pvara api --workers")
    parser.add_argument("--drain-s", type=float, default=300.0, help="wait for the backlog")
    parser.add_argument("--ceiling-apps", type=int, default=300)
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rates = [float(r) for r in args.loads.split(",") if r.strip()]
    cores = os.cpu_count() or 1

    settings = get_settings()
    for service in all_services(settings):
        service.up()
    migrate(settings)
    ensure_topics(settings)
    started = time.perf_counter()
    samples = [
        (s.media_type, s.filename or "resume.txt", s.data, s.text)
        for s in generate_samples(args.samples, seed=11)
    ]
    print(f"{len(samples)} base résumés generated in {time.perf_counter() - started:.1f}s")
    ceiling = None
    if not args.no_ceiling:
        ceiling = measure_ceiling(settings, samples, args.ceiling_apps)

    work = Path(tempfile.mkdtemp(prefix="pvara-bench-"))
    samples_path = work / "samples.pickle"
    samples_path.write_bytes(pickle.dumps(samples))
    port = free_port()
    env = {
        **os.environ,
        "PVARA_API_PORT": str(port),
        # One load generator on one address: the per-IP limit would answer 429 (its check runs).
        "PVARA_RATE_LIMIT_IP_PER_MIN": "1000000000",
    }
    log_dir = settings.home / "bench-logs"
    api_args = ["api", "--port", str(port)]
    if args.api_workers:
        api_args += ["--workers", str(args.api_workers)]
    launched = time.time()
    children = {"api": Child("api", pvara_command(*api_args), env, log_dir)}
    children["bridge"] = Child("bridge", pvara_command("bridge"), env, log_dir)
    for pool, argv in pool_commands(settings).items():
        children[pool] = Child(f"pool-{pool}", argv, env, log_dir)
    services = {s.name: s.status() for s in all_services(settings)}
    stages = [Stage(name, [child.proc.pid], 1) for name, child in children.items()]
    for name in ("postgres", "redis", "kafka"):
        pid = services[name].pid if name in services else None
        if pid:
            stages.append(Stage(name, [int(pid)], cores))
    results: list[LoadResult] = []
    try:
        if not wait_for_http(f"http://127.0.0.1:{port}/health/ready", 90):
            raise RuntimeError(f"the API did not become ready; see {log_dir}")
        if not wait_workers(settings, launched, POOLS, 120):
            raise RuntimeError(f"the pools did not start; see {log_dir}")
        _set_parallelism(stages)
        print(
            f"pipeline up: api, bridge, pools {', '.join(POOLS)} (logs in {log_dir}); "
            f"{cores} cores; loads {', '.join(f'{r:g}' for r in rates)}/s, "
            f"{args.seconds:g}s each ({args.warmup:g}s warm-up)",
            flush=True,
        )
        for index, rate in enumerate(rates):
            jobs = create_jobs(settings, args.jobs)
            result = run_load(
                settings,
                rate=rate,
                seconds=args.seconds,
                warmup=args.warmup,
                samples_path=samples_path,
                jobs=jobs,
                port=port,
                stages=stages,
                cnic_prefix=int(time.time()) % 100_000 * 10_000_000 + index * 1_000_000,
                drain_s=args.drain_s,
                work=work,
            )
            results.append(result)
            print(
                f"load {rate:g}/s: achieved {result.achieved:.1f}/s, p50 "
                f"{_fmt(result.p50_ms, ' ms')}, p99 {_fmt(result.p99_ms, ' ms')}, backlog "
                f"{result.backlog}, refused {result.refused}",
                flush=True,
            )
    finally:
        for child in reversed(list(children.values())):
            child.stop()
    out = report(results, stages, ceiling, cores, args)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


def _set_parallelism(stages: list[Stage]) -> None:
    """How many processes of each stage do the work (its cores cannot exceed that)."""
    ppids = _ppids()
    for stage in stages:
        if stage.name in ("postgres", "redis", "kafka"):
            continue
        pids = stage.pids(ppids)
        stage.processes = max(1, len(pids) - 1) if len(pids) > 1 else 1


if __name__ == "__main__":
    statistics.mean([1.0])  # keep the import used where the report grows
    sys.exit(main())
