"""End-to-end pipeline benchmark: fixed offered loads through the real API, Kafka, bridge and
pools, against the in-process ceiling measured in the same run.

    .venv/bin/python bench/pipeline.py [--loads 25,50,100,150] [--seconds 180] [--json PATH]

What runs: the local PostgreSQL, Redis and Kafka; ``pvara api --workers N``; ``pvara bridge``;
one ``pvara worker --pool P`` per pool with the pool's default processes and threads (what a
Deployment per pool runs); and the load, in a process of its own (``bench/_pipeline_load.py``):
the demo's mix of résumés (45 % PDF, 45 % DOCX, 10 % text; every upload with bytes of its
own, every one a new candidate) at a fixed rate, open loop, spread over ``--jobs`` jobs with
the demo's criteria. Each load is held ``--seconds``; the first ``--warmup`` seconds are not
counted. Per load it prints:

- achieved: applications that reached a final state per second inside the window;
- submit→scored p50/p99 of the applications submitted inside the window (``ai_screened_at -
  submitted_at``, both stamped by our processes), read once the pipeline has drained;
- the backlog of each stage at the end of the window and how much it grew over the window:
  accepted but not yet in PostgreSQL (Kafka + bridge), ``received`` (parse), ``screening``
  (score). The first stage whose backlog grows is the one holding the pipeline back;
- CPU per application of each stage (each process tree's user + system time over the window,
  children included, divided by what that stage got through), and the cores it used;
- the largest RSS of each process.

The ceiling: before the pipeline starts, the same résumés go through parse (in process, no
sandbox), the local screener and the database writes of bridge, parse and score (client and
server CPU) with no queue in between (``bench/_pipeline_ceiling.py``); ceiling = cores ÷ CPU
per application, and the report gives achieved ÷ ceiling for the best load.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._procs import command_of, cpu_seconds, ppids, rss_mb, tree  # noqa: E402
from core.migrate import migrate  # noqa: E402
from core.queue import NAMESPACE, POOLS  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from ingest.topics import ensure_topics  # noqa: E402
from ops.pools import default_processes, default_threads  # noqa: E402
from ops.processes import Child, free_port, pvara_command, wait_for_http  # noqa: E402
from ops.samples import generate_samples  # noqa: E402
from ops.services import all_services  # noqa: E402
from screening.criteria import EXAMPLE_CRITERIA  # noqa: E402

_FINAL = ("screened", "shortlisted", "parse_failed", "rejected", "withdrawn")
_SERVICES = ("postgres", "redis", "kafka")
RSS_GOAL_MB = 150
#: The pipeline's stages in order, and the status an application waits in before each.
BACKLOGS = ("kafka+bridge", "parse", "score")


@dataclass
class Stage:
    """A group of process trees whose CPU is counted together."""

    name: str
    roots: list[int]
    peak_rss: dict[int, tuple[float, str]] = field(default_factory=dict)

    def pids(self, parents: dict[int, int]) -> list[int]:
        return sorted({pid for root in self.roots for pid in tree(root, parents)})

    def sample_rss(self, parents: dict[int, int]) -> None:
        for pid in self.pids(parents):
            mb = rss_mb(pid)
            if mb > self.peak_rss.get(pid, (0.0, ""))[0]:
                self.peak_rss[pid] = (mb, command_of(pid))


def cpu_by_stage(stages: list[Stage]) -> dict[str, float]:
    parents = ppids()
    return {s.name: cpu_seconds(s.pids(parents)) for s in stages}


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
    unfinished_in_window: int
    unfinished_after_drain: int
    backlog_end: dict[str, int]
    backlog_growth: dict[str, int]
    through: dict[str, int]
    queues: dict[str, int]
    cpu_ms_per_app: dict[str, float | None]
    cores: dict[str, float]
    http_p50_ms: float | None
    http_p99_ms: float | None
    behind_p99_ms: float | None


@dataclass
class _Snapshot:
    """Where the load's applications are at one moment."""

    at: float
    counts: dict[str, int]
    scored: int

    @property
    def in_db(self) -> int:
        return sum(self.counts.values())

    def backlogs(self, accepted: int) -> dict[str, int]:
        return {
            "kafka+bridge": max(0, accepted - self.in_db),
            "parse": self.counts.get("received", 0),
            "score": self.counts.get("screening", 0),
        }


def _snapshot(settings: Settings, jobs: list[uuid.UUID]) -> _Snapshot:
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT status, count(*) AS n, count(ai_screened_at) AS scored FROM applications"
            " WHERE job_id = ANY(%s) GROUP BY status",
            (jobs,),
        ).fetchall()
    return _Snapshot(
        time.time(),
        {r["status"]: int(r["n"]) for r in rows},
        sum(int(r["scored"]) for r in rows),
    )


def _finished(snapshot: _Snapshot) -> int:
    return sum(n for status, n in snapshot.counts.items() if status in _FINAL)


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


def _known(value: float | None) -> float | None:
    return None if value is None or value == float("inf") else value


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
    all_stages = [*stages, Stage("load generator", [load.pid])]
    time.sleep(max(0.0, t0 + warmup - time.time()))
    cpu_a = cpu_by_stage(all_stages)
    start = _snapshot(settings, jobs)
    window_end = t0 + seconds
    while time.time() < window_end:
        parents = ppids()
        for stage in all_stages:
            stage.sample_rss(parents)
        time.sleep(min(2.0, max(0.0, window_end - time.time())))
    cpu_b = cpu_by_stage(all_stages)
    end = _snapshot(settings, jobs)
    queues = _queue_depths(settings)
    load.wait()
    result = json.loads(result_path.read_text())
    accepted_at = [(uuid.UUID(a), t) for a, t in result["accepted_ids"]]
    accepted_by = {
        "start": sum(1 for _, t in accepted_at if t < start.at),
        "end": sum(1 for _, t in accepted_at if t < end.at),
    }
    backlog_start = start.backlogs(accepted_by["start"])
    backlog_end = end.backlogs(accepted_by["end"])
    # What each stage got through inside the window.
    through = {
        "api": accepted_by["end"] - accepted_by["start"],
        "bridge": end.in_db - start.in_db,
        "parse": (end.in_db - end.counts.get("received", 0))
        - (start.in_db - start.counts.get("received", 0)),
        "score": end.scored - start.scored,
        "finished": _finished(end) - _finished(start),
    }
    window = end.at - start.at
    # Drain, then read the latency of every application submitted inside the window.
    deadline = time.monotonic() + drain_s
    window_ids = [a for a, t in accepted_at if start.at <= t < end.at]
    while time.monotonic() < deadline:
        if _finished(_snapshot(settings, jobs)) >= len(accepted_at):
            break
        time.sleep(1.0)
    with psycopg.connect(settings.effective_database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM ai_screened_at - submitted_at) * 1000 AS ms"
            " FROM applications WHERE id = ANY(%s) AND ai_screened_at IS NOT NULL",
            (window_ids,),
        ).fetchall()
    drained = _snapshot(settings, jobs)
    latencies = [float(r["ms"]) for r in rows]
    # Applications still unfinished after the drain are slower than any finished one: a
    # percentile they would move is not known.
    unfinished = max(0, len(window_ids) - len(latencies))
    ranked = latencies + [float("inf")] * unfinished
    per_stage = {
        "api": through["api"],
        "bridge": through["bridge"],
        "parse": through["parse"],
        "score": through["score"],
    }
    cpu_ms: dict[str, float | None] = {}
    for name in cpu_a:
        done = per_stage.get(name, through["finished"])
        # Too little got through to divide by (the stage was starved, or held up).
        small = done < max(10, 0.05 * rate * window)
        cpu_ms[name] = None if small else (cpu_b[name] - cpu_a[name]) * 1000 / done
    return LoadResult(
        rate=rate,
        offered_rate=result["offered_rate"],
        accepted=result["accepted"],
        refused={k: v for k, v in result["statuses"].items() if k not in ("200", "202")},
        window_s=window,
        finished_in_window=through["finished"],
        achieved=through["finished"] / window,
        p50_ms=_known(_pct(ranked, 50)),
        p99_ms=_known(_pct(ranked, 99)),
        unfinished_in_window=unfinished,
        unfinished_after_drain=max(0, len(accepted_at) - _finished(drained)),
        backlog_end=backlog_end,
        backlog_growth={k: backlog_end[k] - backlog_start[k] for k in BACKLOGS},
        through=through,
        queues=queues,
        cpu_ms_per_app=cpu_ms,
        cores={k: (cpu_b[k] - cpu_a[k]) / window for k in cpu_a},
        http_p50_ms=result["http_p50_ms"],
        http_p99_ms=result["http_p99_ms"],
        behind_p99_ms=result["behind_p99_ms"],
    )


# --- report ----------------------------------------------------------------------------------


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.0f}{unit}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _total(values: dict[str, float | None]) -> float | None:
    known = list(values.values())
    return None if any(v is None for v in known) else sum(v for v in known if v is not None)


def _latency(r: LoadResult, value: float | None) -> str:
    if value is None and r.unfinished_in_window:
        return f"> drain ({r.unfinished_in_window} unfinished)"
    return _fmt(value, " ms")


def holding_back(result: LoadResult, processes: dict[str, int]) -> str:
    """Which stage holds a load back: the first whose backlog grew over the window; else the
    ingress when it could not take the offered rate; else none."""
    for stage in BACKLOGS:
        growth = result.backlog_growth[stage]
        if growth > max(5, 0.02 * result.rate * result.window_s):
            pools = "bridge" if stage == "kafka+bridge" else stage
            return (
                f"{stage} (backlog +{growth} over the window; {pools} used"
                f" {result.cores.get(pools, 0):.2f} cores with"
                f" {processes.get(pools, 1)} process(es))"
            )
    if result.through["api"] < 0.95 * result.rate * result.window_s:
        return f"api (took {result.through['api'] / result.window_s:.1f}/s of {result.rate:g}/s)"
    return "none: every stage kept up"


def report(
    loads: list[LoadResult],
    stages: list[Stage],
    ceiling: dict[str, float] | None,
    cores: int,
    processes: dict[str, int],
) -> dict[str, Any]:
    print("\n== Offered loads ==")
    print(
        "| offered/s | sent/s | accepted | achieved/s | p50 submit→scored | p99 | backlog at end"
        " (kafka+bridge / parse / score) | grew by | HTTP p99 | unfinished after drain |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in loads:
        b, g = r.backlog_end, r.backlog_growth
        print(
            f"| {r.rate:g} | {r.offered_rate:.1f} | {r.accepted} | **{r.achieved:.1f}** |"
            f" {_latency(r, r.p50_ms)} | {_latency(r, r.p99_ms)} |"
            f" {' / '.join(str(b[k]) for k in BACKLOGS)} |"
            f" {' / '.join(f'{g[k]:+d}' for k in BACKLOGS)} |"
            f" {_fmt(r.http_p99_ms, ' ms')} | {r.unfinished_after_drain} |"
        )
    names = list(loads[0].cpu_ms_per_app) if loads else []
    print(
        "\n== CPU per application by stage: ms (cores used) =="
        "\n(api, bridge, parse, score: per application that stage got through; the rest: per"
        " finished application)"
    )
    print("| stage | processes | " + " | ".join(f"at {r.rate:g}/s" for r in loads) + " |")
    print("|---|---|" + "---|" * len(loads))
    for name in names:
        cells = [f"{_ms(r.cpu_ms_per_app[name])} ({r.cores[name]:.2f})" for r in loads]
        print(f"| {name} | {processes.get(name, '-')} | " + " | ".join(cells) + " |")
    totals = [f"{sum(r.cpu_ms_per_app.values()):.2f} ({sum(r.cores.values()):.2f})" for r in loads]
    print("| **all** | | " + " | ".join(totals) + " |")
    print("\n== Largest RSS per process (MB) ==")
    over = []
    for stage in stages:
        if not stage.peak_rss:
            continue
        cells = sorted(stage.peak_rss.values(), reverse=True)
        top = ", ".join(f"{mb:.0f} ({cmd[:40]})" for mb, cmd in cells[:4])
        more = f" … {len(cells) - 4} more" if len(cells) > 4 else ""
        print(f"  {stage.name:<12} {len(cells):>3} processes, largest: {top}{more}")
        if stage.name not in _SERVICES:
            over += [(stage.name, mb, cmd) for mb, cmd in cells if mb > RSS_GOAL_MB]
    print(
        f"  our processes over {RSS_GOAL_MB} MB: "
        + (", ".join(f"{n} {mb:.0f} MB ({c})" for n, mb, c in over) or "none")
    )
    out: dict[str, Any] = {"loads": [asdict(r) for r in loads], "cores": cores}
    best = max(loads, key=lambda r: r.achieved) if loads else None
    if ceiling:
        ceiling_rate = cores * 1000 / ceiling["total_ms"]
        print("\n== In-process ceiling (same run, no queues) ==")
        parts = ", ".join(f"{k[:-3]} {v:.2f} ms" for k, v in ceiling.items() if k != "total_ms")
        print(f"  CPU per application: {parts}; total {ceiling['total_ms']:.2f} ms")
        print(
            f"  ceiling = {cores} cores ÷ {ceiling['total_ms']:.2f} ms ="
            f" {ceiling_rate:.0f} applications/s"
        )
        if best is not None:
            print(
                f"  best achieved {best.achieved:.1f}/s (offered {best.rate:g}/s) ÷ ceiling"
                f" = **{best.achieved / ceiling_rate:.2f}**"
            )
        out["ceiling"] = {**ceiling, "rate": ceiling_rate}
    if best is not None:
        print("\n== Goals and what holds each load back ==")
        print(f"  ≥ 100 applications/s end to end: best {best.achieved:.1f}/s")
        at50 = next((r for r in loads if r.rate == 50), None)
        if at50 is not None:
            print(f"  p99 submit→scored ≤ 5 s at 50/s: {_latency(at50, at50.p99_ms)}")
        out["holding_back"] = {}
        for r in loads:
            verdict = holding_back(r, processes)
            used = sum(r.cores.values())
            if not verdict.startswith("none") and used < 0.8 * cores:
                # The stage could have used more CPU, but the pipeline as a whole did not get
                # it: something outside the pipeline ran on the same cores.
                verdict += (
                    f"; the whole pipeline got {used:.2f} of {cores} cores, so the machine"
                    " was shared"
                )
            out["holding_back"][f"{r.rate:g}"] = verdict
            print(f"  at {r.rate:g}/s: {verdict}")
    return out


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", default="25,50,100,150", help="offered applications/s")
    parser.add_argument("--seconds", type=float, default=180.0, help="how long each load is held")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds not counted")
    parser.add_argument("--jobs", type=int, default=10, help="jobs the load spreads over")
    parser.add_argument("--samples", type=int, default=400, help="distinct base résumés")
    parser.add_argument("--api-workers", type=int, default=2, help="pvara api --workers")
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
        from bench._pipeline_ceiling import measure

        ceiling = measure(settings, samples, args.ceiling_apps)
        print(
            "in-process ceiling measured: " + ", ".join(f"{k} {v:.2f}" for k, v in ceiling.items()),
            flush=True,
        )

    work = Path(tempfile.mkdtemp(prefix="pvara-bench-"))
    samples_path = work / "samples.json"
    samples_path.write_text(
        json.dumps([(m, f, base64.b64encode(d).decode(), t) for m, f, d, t in samples])
    )
    port = free_port()
    env = {
        **os.environ,
        "PVARA_API_PORT": str(port),
        # One load generator on one address: the per-IP limit would answer 429 (its check runs).
        "PVARA_RATE_LIMIT_IP_PER_MIN": "1000000000",
        "PVARA_RATE_LIMIT_SUBMIT_PER_MIN": "1000000000",
    }
    log_dir = settings.home / "bench-logs"
    launched = time.time()
    api = ["api", "--port", str(port), "--workers", str(args.api_workers)]
    children = {"api": Child("api", pvara_command(*api), env, log_dir)}
    children["bridge"] = Child("bridge", pvara_command("bridge"), env, log_dir)
    for pool in POOLS:
        children[pool] = Child(
            f"pool-{pool}", pvara_command("worker", "--pool", pool), env, log_dir
        )
    services = {s.name: s.status() for s in all_services(settings)}
    stages = [Stage(name, [child.proc.pid]) for name, child in children.items()]
    for name in _SERVICES:
        pid = services[name].pid if name in services else None
        if pid:
            stages.append(Stage(name, [int(pid)]))
    processes = {"api": args.api_workers, "bridge": 1}
    processes |= {pool: default_processes(settings, pool) for pool in POOLS}
    results: list[LoadResult] = []
    try:
        if not wait_for_http(f"http://127.0.0.1:{port}/health/ready", 120):
            raise RuntimeError(f"the API did not become ready; see {log_dir}")
        if not wait_workers(settings, launched, POOLS, 180):
            raise RuntimeError(f"the pools did not start; see {log_dir}")
        layout = ", ".join(
            f"{p} {default_processes(settings, p)}×{default_threads(settings, p)}" for p in POOLS
        )
        print(
            f"pipeline up: api ×{args.api_workers}, bridge, pools (processes×threads) {layout};"
            f" {cores} cores; loads {', '.join(f'{r:g}' for r in rates)}/s, {args.seconds:g} s"
            f" each ({args.warmup:g} s warm-up); logs in {log_dir}",
            flush=True,
        )
        for index, rate in enumerate(rates):
            result = run_load(
                settings,
                rate=rate,
                seconds=args.seconds,
                warmup=args.warmup,
                samples_path=samples_path,
                jobs=create_jobs(settings, args.jobs),
                port=port,
                stages=stages,
                cnic_prefix=int(time.time()) % 100_000 * 10_000_000 + index * 1_000_000,
                drain_s=args.drain_s,
                work=work,
            )
            results.append(result)
            print(
                f"load {rate:g}/s: achieved {result.achieved:.1f}/s, p50"
                f" {_latency(result, result.p50_ms)}, p99 {_latency(result, result.p99_ms)},"
                f" backlog at end {result.backlog_end}, refused {result.refused}",
                flush=True,
            )
            higher = rates[index + 1 :]
            if result.unfinished_after_drain and higher:
                print(
                    f"load {rate:g}/s did not drain in {args.drain_s:g} s: the higher loads"
                    f" ({', '.join(f'{r:g}' for r in higher)}/s) would measure its backlog,"
                    " not their own; not run",
                    flush=True,
                )
                break
    finally:
        for child in reversed(list(children.values())):
            child.stop()
    out = report(results, stages, ceiling, cores, processes)
    out["command"] = " ".join(sys.argv)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
