"""Ingress benchmark: accepted applications/s, latency and CPU per request with Kafka
acknowledgement, side by side with the same app without Kafka and a bare Litestar app.

    .venv/bin/python bench/ingress.py [--seconds 10] [--rounds 3] [--connections 64]
                                      [--workers 2] [--linger 0,2,5,10,20]

Three servers run in their own processes (``--workers`` uvicorn processes each): **kafka** (the
ingress as shipped, acks=all), **null** (the same app, a producer that answers at once) and
**bare** (a bare Litestar route answering 202: the framework's ceiling). Load comes from
``wrk`` in another process; the servers are measured in turn, round after round, so machine
noise hits all three. Each run also reads the CPU the server's processes and the Kafka broker
spent per accepted request (/proc). Then the Kafka ingress is driven at half its maximum to
read its p99 there; ``--linger`` repeats the Kafka runs for each producer linger.
Targets: ratio kafka/null >= 0.5 (issue #3); >= 2,000 accepted/s with acks=all on the
machine's cores and p99 < 50 ms at half that rate (issue #13).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._procs import tree_cpu  # noqa: E402
from core.events import APPLICATIONS_SUBMITTED  # noqa: E402
from core.migrate import migrate  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from ops.processes import free_port, wait_for_http  # noqa: E402
from ops.services import all_services  # noqa: E402

_LUA = """
local counter = 0
local threads = 0
local pause = %(pause_ms)d
math.randomseed(os.time())
function setup(thread)
  threads = threads + 1
  thread:set("thread_base", %(base)d + threads * 100000000)
end
request = function()
  counter = counter + 1
  local cnic = string.format("%%013d", tonumber(thread_base) + counter)
  local body = '{"candidate_cnic":"' .. cnic .. '","candidate_name":"Bench Candidate",' ..
    '"candidate_email":"bench' .. cnic .. '@example.com","resume_text":' ..
    '"Python developer since 2017. PostgreSQL, Docker, Kubernetes. BSc Computer Science."}'
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
function delay()
  -- Uniformly random pauses with the wanted mean: fixed pauses keep all connections in
  -- step, and their requests then arrive in bursts of one per connection.
  if pause == 0 then return 0 end
  return math.random(0, 2 * pause)
end
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %%d, "seconds": %%f, "errors": %%d, "non2xx": %%d,' ..
    ' "p50_ms": %%f, "p99_ms": %%f, "mean_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000))
end
"""


def _job(settings: Settings) -> uuid.UUID:
    org_id, job_id = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Bench', %s)",
            (org_id, f"bench-{org_id.hex}"),
        )
        conn.execute(
            "INSERT INTO jobs (id, organization_id, title) VALUES (%s, %s, 'Bench')",
            (job_id, org_id),
        )
    return job_id


def _bench_topic(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.effective_kafka_bootstrap)
    try:
        admin.create_topics(
            [NewTopic("bench." + APPLICATIONS_SUBMITTED, settings.submitted_partitions, 1)]
        )
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def _wrk(
    port: int, path: str, seconds: int, connections: int, pause_ms: int, base: int
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % {"path": path, "pause_ms": pause_ms, "base": base})
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "1",
                "-c",
                str(connections),
                "-d",
                f"{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"wrk failed: {out.stdout}{out.stderr}")
    finally:
        os.unlink(script.name)
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{out.stdout}")
    result: dict[str, float] = json.loads(match.group(1))
    # Only 202s count as accepted.
    result["rps"] = (result["requests"] - result["non2xx"] - result["errors"]) / result["seconds"]
    return result


_MODES = ("kafka", "null", "bare")
_LABELS = {
    "kafka": "Litestar + Kafka acks=all (real)",
    "null": "same app, no Kafka",
    "bare": "bare Litestar answering 202 (ceiling)",
}


def _start(
    mode: str, workers: int, linger_ms: int | None = None
) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # One load generator on one IP: lift the per-IP limits so the run measures the
        # ingress, not the rate limiter's 429s (whose checks still run).
        "PVARA_RATE_LIMIT_IP_PER_MIN": "1000000000",
        "PVARA_RATE_LIMIT_SUBMIT_PER_MIN": "1000000000",
    }
    if linger_ms is not None:
        env["PVARA_KAFKA_LINGER_MS"] = str(linger_ms)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "_ingress_server.py"), mode, str(port), str(workers)],
        cwd=ROOT,
        env=env,
    )
    return port, proc


def _measured(
    port: int,
    server: subprocess.Popen[bytes],
    kafka_pid: int | None,
    path: str,
    seconds: int,
    connections: int,
    pause_ms: int,
    base: int,
) -> dict[str, float]:
    """One wrk run, with the CPU the server (all its processes) and the broker spent per
    accepted request."""
    server_cpu, broker_cpu = tree_cpu(server.pid), tree_cpu(kafka_pid) if kafka_pid else 0.0
    result = _wrk(port, path, seconds, connections, pause_ms, base)
    accepted = max(result["rps"] * result["seconds"], 1)
    result["server_ms"] = (tree_cpu(server.pid) - server_cpu) * 1000 / accepted
    result["broker_ms"] = (tree_cpu(kafka_pid) - broker_cpu) * 1000 / accepted if kafka_pid else 0.0
    return result


def _line(label: str, r: dict[str, float]) -> str:
    return (
        f"{label:<22} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:7.1f} ms"
        f"  CPU/request: server {r['server_ms']:.2f} ms, Kafka broker {r['broker_ms']:.2f} ms"
        f"  non-202 {int(r['non2xx'])}  errors {int(r['errors'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn processes per server")
    parser.add_argument(
        "--linger", default="", help="also sweep PVARA_KAFKA_LINGER_MS, e.g. 0,2,5,10,20"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)

    settings = get_settings()
    for service in all_services(settings):
        service.up()
    migrate(settings)
    _bench_topic(settings)
    job_id = _job(settings)
    path = f"/api/v1/jobs/{job_id}/applications"
    kafka = next((s.status() for s in all_services(settings) if s.name == "kafka"), None)
    kafka_pid = int(kafka.pid) if kafka is not None and kafka.pid else None
    print(
        f"{args.workers} uvicorn process(es) per server; {args.connections} connections;"
        f" linger_ms {settings.kafka_linger_ms} (PVARA_KAFKA_LINGER_MS)",
        flush=True,
    )

    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    base = 1_000_000_000_000
    try:
        for mode in _MODES:  # one after the other: starting them all at once is slow here
            port, proc = servers[mode] = _start(mode, args.workers)
            if not wait_for_http(f"http://127.0.0.1:{port}/health/live", 300):
                raise RuntimeError(f"{mode} server did not start")
            _wrk(port, path, 3, 16, 0, base=9_000_000_000_000 + _MODES.index(mode) * 10**9)
        runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in _MODES}
        for round_no in range(args.rounds):
            for mode in _MODES:
                base += 1_000_000_000
                port, proc = servers[mode]
                result = _measured(
                    port, proc, kafka_pid, path, args.seconds, args.connections, 0, base
                )
                runs[mode].append(result)
                print(f"round {round_no + 1} " + _line(mode, result), flush=True)
        best = {m: statistics.median(r["rps"] for r in runs[m]) for m in _MODES}
        target = best["kafka"] / 2
        connections = 16
        # Each connection pauses, then waits for its answer (~15 ms): aim at half the max.
        pause_ms = max(1, int(1000 * connections / target) - 15)
        base += 1_000_000_000
        port, proc = servers["kafka"]
        half = _measured(port, proc, kafka_pid, path, args.seconds, connections, pause_ms, base)
    finally:
        for _, proc in servers.values():
            proc.terminate()
            proc.wait(30)

    sweep = []
    for linger in [int(v) for v in args.linger.split(",") if v.strip()]:
        port, proc = _start("kafka", args.workers, linger)
        try:
            if not wait_for_http(f"http://127.0.0.1:{port}/health/live", 300):
                raise RuntimeError("kafka server did not start")
            _wrk(port, path, 3, 16, 0, base=8_000_000_000_000 + linger * 10**9)
            base += 1_000_000_000
            top = _measured(port, proc, kafka_pid, path, args.seconds, args.connections, 0, base)
            base += 1_000_000_000
            pause = max(1, int(1000 * 16 / max(top["rps"] / 2, 1)) - 15)
            low = _measured(port, proc, kafka_pid, path, args.seconds, 16, pause, base)
            sweep.append((linger, top, low))
            print(_line(f"linger {linger} ms max", top), flush=True)
            print(_line(f"linger {linger} ms ½", low), flush=True)
        finally:
            proc.terminate()
            proc.wait(30)

    def median_of(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    print(
        f"\n| ingress ({args.workers} processes) | max accepted/s (median) | CPU/request server |"
        " Kafka broker |"
    )
    print("|---|---|---|---|")
    for mode in _MODES:
        print(
            f"| {_LABELS[mode]} | {best[mode]:.0f} | {median_of(mode, 'server_ms'):.2f} ms |"
            f" {median_of(mode, 'broker_ms'):.2f} ms |"
        )
    print(
        f"\nratio kafka/null = {best['kafka'] / best['null']:.2f}, kafka/bare ="
        f" {best['kafka'] / best['bare']:.2f}, null/bare = {best['null'] / best['bare']:.2f}"
    )
    print(
        f"at ~half the max rate: {half['rps']:.0f} req/s offered by {connections} connections, "
        f"p50 {half['p50_ms']:.1f} ms, p99 {half['p99_ms']:.1f} ms (target < 50 ms), "
        f"non-202 {int(half['non2xx'])}"
    )
    if sweep:
        print(
            "\n| linger_ms | max accepted/s | p99 at max | at ½: rate | p50 | p99 |"
            " CPU/request server + broker at ½ |"
        )
        print("|---|---|---|---|---|---|---|")
        for linger, top, low in sweep:
            print(
                f"| {linger} | {top['rps']:.0f} | {top['p99_ms']:.1f} ms | {low['rps']:.0f}/s |"
                f" {low['p50_ms']:.1f} ms | {low['p99_ms']:.1f} ms |"
                f" {low['server_ms'] + low['broker_ms']:.2f} ms |"
            )
    goal = best["kafka"] >= 2000 and half["p99_ms"] < 50
    print(
        f"\ngoal ≥ 2,000 accepted/s with acks=all and p99 < 50 ms at half that: "
        f"{'PASS' if goal else 'MISS'} ({best['kafka']:.0f}/s, p99 {half['p99_ms']:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
