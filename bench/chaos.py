"""Chaos benchmark (issue #11): the whole platform under faults, with no operator.

    .venv/bin/python bench/chaos.py [--applications 1000] [--clients 6] [--runs 2]
                                    [--faults api,bridge,...] [--json]

Each run brings up a PostgreSQL, Redis and Kafka of its own (a sandbox on free ports, so the
shared services are never touched), starts the platform with ``pvara up`` at its default
settings, and submits the applications from ``--clients`` client threads (80 % JSON, 20 %
PDF/DOCX multipart) that retry a refused connection, a timeout or a 503 as real clients do.
Meanwhile, one after the other:

- ``kill -9`` of the API, the bridge, a pool's main process, a pool's worker process and the
  scheduler, and a bridge frozen with SIGSTOP (a wedged process, found by its liveness file);
- SIGKILL of Redis, PostgreSQL and Kafka, each started again after a few seconds (the only
  thing this benchmark restarts: what it killed itself, as an operator of the backing
  services would; our own processes are restarted by ``pvara up`` alone);
- a Kafka broker frozen with SIGSTOP for a few seconds (requests in flight), then killed;
- poison mixed in: submissions the API must refuse (NUL, lone surrogate, too long: 400
  ``invalid_value``) and records written straight to Kafka that the bridge must dead-letter
  (NUL, an index-busting e-mail, undecodable JSON, an unknown job) while the rest flows.

It then waits for every accepted application to reach a final state and reports: accepted,
lost (accepted, never stored), stuck (stored, not final by the deadline), duplicate rows and
scores, dead letters, operator actions (always 0: nothing of ours is restarted here; the
supervisor's restarts are listed), orphans (processes of the run outside the supervisor's
tree) and the drain time after the last fault (goal: 120 s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.domain import (  # noqa: E402
    PIPELINE_DONE,
    Candidate,
    ResumeRef,
    SubmittedApplication,
)
from core.events import APPLICATIONS_SUBMITTED, DEAD_LETTER  # noqa: E402
from core.migrate import migrate  # noqa: E402
from core.queue import NAMESPACE, POOLS  # noqa: E402
from core.settings import Settings, get_settings  # noqa: E402
from ingest.topics import ensure_topics  # noqa: E402
from ops.platform import state_path  # noqa: E402
from ops.processes import free_port  # noqa: E402
from ops.samples import DOCX, PDF, TEXT, SampleResume, generate_samples  # noqa: E402
from ops.sandbox import Sandbox  # noqa: E402
from screening.criteria import EXAMPLE_CRITERIA  # noqa: E402

#: The fault matrix, in the order it is applied.
FAULTS = (
    "api",
    "bridge",
    "worker_child",
    "wedge_bridge",
    "worker_parent",
    "redis",
    "scheduler",
    "kafka_frozen",
    "postgres",
    "kafka",
)
_FINAL = {str(s) for s in PIPELINE_DONE}


@dataclass
class ChaosConfig:
    applications: int = 1000
    clients: int = 6
    #: Submissions per second, all clients together (spreads them over the fault schedule).
    rate: float = 3.0
    faults: tuple[str, ...] = FAULTS
    first_fault_after_s: float = 20.0
    fault_gap_s: float = 12.0
    outage_s: float = 4.0
    freeze_s: float = 5.0
    api_poison: int = 12
    kafka_poison: int = 12
    drain_timeout_s: float = 900.0
    give_up_s: float = 900.0
    seed: int = 11
    #: Extra environment for ``pvara up`` (empty: the defaults, as shipped).
    env: dict[str, str] = field(default_factory=dict)
    #: Where ``pvara up``'s log of the run is copied (None: not kept).
    keep_log: Path | None = None


@dataclass
class FaultEvent:
    name: str
    at_s: float
    restored_s: float
    detail: str = ""


@dataclass
class ChaosReport:
    submitted: int = 0
    accepted: int = 0
    refused_clean: list[str] = field(default_factory=list)
    gave_up: int = 0
    connection_errors: int = 0
    unavailable_503: int = 0
    server_errors_5xx: int = 0
    api_poison: int = 0
    api_poison_refused: int = 0
    kafka_poison: int = 0
    kafka_poison_dead_lettered: int = 0
    lost: int = 0
    stuck: int = 0
    final: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    parse_failures: dict[str, int] = field(default_factory=dict)
    duplicate_rows: int = 0
    duplicate_scores: int = 0
    dead_letters_kafka: int = 0
    dead_letters_queues: dict[str, int] = field(default_factory=dict)
    operator_actions: int = 0
    supervisor_restarts: dict[str, int] = field(default_factory=dict)
    orphans: list[int] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    submit_s: float = 0.0
    last_fault_s: float = 0.0
    drain_after_last_fault_s: float | None = None
    drain_after_last_submission_s: float | None = None
    total_s: float = 0.0

    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.stuck == 0
            and self.duplicate_rows == 0
            and self.duplicate_scores == 0
            and self.operator_actions == 0
            and not self.orphans
            and not self.refused_clean
            and self.gave_up == 0
            and self.server_errors_5xx == 0
            and self.api_poison_refused == self.api_poison
            and self.kafka_poison_dead_lettered == self.kafka_poison
            and self.drain_after_last_fault_s is not None
        )

    def lines(self) -> list[str]:
        drain = (
            "NOT DRAINED"
            if self.drain_after_last_fault_s is None
            else f"{self.drain_after_last_fault_s:.1f} s"
            if self.faults
            else "n/a (no faults)"
        )
        restarts = ", ".join(f"{k} {v}" for k, v in sorted(self.supervisor_restarts.items()))
        queues = ", ".join(f"{k} {v}" for k, v in sorted(self.dead_letters_queues.items()))
        timeline = "; ".join(
            f"{f.name}@{f.at_s:.0f}s" + (f"+{f.restored_s - f.at_s:.0f}s" if f.restored_s else "")
            for f in self.faults
        )
        return [
            f"  submitted (clean)      {self.submitted} ({self.accepted} accepted, "
            f"{len(self.refused_clean)} refused, {self.gave_up} given up) in {self.submit_s:.0f} s",
            f"  client retries         {self.connection_errors} refused/reset connections, "
            f"{self.unavailable_503} x 503, {self.server_errors_5xx} x other 5xx",
            f"  poison at the API      {self.api_poison_refused}/{self.api_poison}"
            " refused with 400 invalid_value",
            f"  poison in Kafka        {self.kafka_poison_dead_lettered}/{self.kafka_poison}"
            " in the dead-letter topic",
            f"  lost                   {self.lost}",
            f"  stuck                  {self.stuck}",
            f"  final                  {self.final}  {dict(sorted(self.statuses.items()))}",
            f"  parse_failed because   {self.parse_failures or '-'}",
            f"  duplicate rows         {self.duplicate_rows}",
            f"  duplicate scores       {self.duplicate_scores}",
            f"  dead letters           Kafka topic {self.dead_letters_kafka}; queues {queues}",
            f"  operator actions       {self.operator_actions} (supervisor restarts: {restarts})",
            f"  orphan processes       {len(self.orphans)}",
            f"  faults                 {timeline}",
            f"  drain after last fault {drain} (last fault at {self.last_fault_s:.0f} s;"
            f" run {self.total_s:.0f} s)",
            f"  end to end             all final {_seconds(self.drain_after_last_submission_s)}"
            " after the last submission",
            f"  verdict                {'PASS' if self.ok() else 'FAIL'}",
        ]


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


@dataclass
class _Item:
    sample: SampleResume
    job_id: uuid.UUID
    poison: str | None = None


class _Clients:
    """Client threads submitting the items at ``rate``, retrying like real clients."""

    def __init__(self, base: str, items: list[_Item], config: ChaosConfig) -> None:
        self.base = base
        self.items = items
        self.config = config
        self.accepted: dict[str, _Item] = {}
        self.refused: list[tuple[_Item, int, str]] = []
        self.gave_up = 0
        self.counts: Counter[str] = Counter()
        self._next = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self.finished_at = 0.0

    def run(self) -> None:
        threads = [
            threading.Thread(target=self._client, daemon=True) for _ in range(self.config.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.finished_at = time.monotonic()

    def _take(self) -> _Item | None:
        with self._lock:
            if self._next >= len(self.items):
                return None
            index, self._next = self._next, self._next + 1
        due = self._started + index / self.config.rate
        time.sleep(max(0.0, due - time.monotonic()))
        return self.items[index]

    def _client(self) -> None:
        with httpx.Client(timeout=60) as client:
            while (item := self._take()) is not None:
                self._submit(client, item)

    def _submit(self, client: httpx.Client, item: _Item) -> None:
        url = f"{self.base}/api/v1/jobs/{item.job_id}/applications"
        deadline = time.monotonic() + self.config.give_up_s
        delay = 0.5
        while True:
            try:
                response = _post(client, url, item)
            except httpx.TransportError:
                self._count("connection_errors")
            else:
                status = response.status_code
                if status in (200, 202):
                    with self._lock:
                        self.accepted[response.json()["application_id"]] = item
                    return
                if status == 503:
                    self._count("unavailable_503")
                elif status >= 500:
                    self._count("server_errors_5xx")
                elif status != 429:
                    code = _code(response)
                    with self._lock:
                        self.refused.append((item, status, code))
                    return
            if time.monotonic() > deadline:
                with self._lock:
                    self.gave_up += 1
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1


def _post(client: httpx.Client, url: str, item: _Item) -> httpx.Response:
    sample = item.sample
    fields = {
        "candidate_cnic": sample.cnic,
        "candidate_name": sample.name,
        "candidate_email": sample.email,
        "phone": sample.phone,
    }
    if item.poison is not None:
        fields["resume_text"] = sample.text
        field_name, value = _API_POISON[item.poison]
        fields[field_name] = value
        # json.dumps escapes the NUL and the lone surrogate (\\u0000, \\ud800).
        body = json.dumps(fields).encode()
        return client.post(url, content=body, headers={"content-type": "application/json"})
    if sample.media_type == TEXT:
        return client.post(url, json={**fields, "resume_text": sample.text})
    return client.post(
        url, data=fields, files={"resume": (sample.filename, sample.data, sample.media_type)}
    )


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return ""


_API_POISON = {
    "nul-email": ("candidate_email", "x\x00@example.com"),
    "nul-name": ("candidate_name", "Ayesha\x00Khan"),
    "nul-resume": ("resume_text", "Python\x00developer"),
    "surrogate-name": ("candidate_name", "Ayesha\ud800Khan"),
    "surrogate-resume": ("resume_text", "Python\udfffdeveloper"),
    "long-name": ("candidate_name", "A" * 201),
    "long-phone": ("phone", "0" * 33),
}


# --- the platform and its processes ----------------------------------------------------------


def _state(settings: Settings) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(state_path(settings).read_text())
        return state
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == pid and fields[0] not in {"Z", "X"}:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and fields[0] not in {"Z", "X"}:
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _processes_of(home: Path) -> set[int]:
    """Every live process whose environment points at this run's home."""
    marker = f"PVARA_HOME={home}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0") and _alive(int(entry.name)):
                found.add(int(entry.name))
    return found


def _wait_pid(settings: Settings, pick: Any, timeout_s: float = 120) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(KeyError, IndexError, TypeError):
            pid = int(pick(_state(settings)))
            if _alive(pid):
                return pid
        time.sleep(0.5)
    raise RuntimeError("the platform did not report the process in time")


class _Faults:
    """Applies the fault matrix one after the other, in its own thread."""

    def __init__(self, sandbox: Sandbox, config: ChaosConfig, started: float) -> None:
        self.sandbox = sandbox
        self.settings = sandbox.settings
        self.config = config
        self.started = started
        self.events: list[FaultEvent] = []
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.poison_at: list[float] = []

    def run(self) -> None:
        try:
            time.sleep(self.config.first_fault_after_s)
            for name in self.config.faults:
                event = getattr(self, f"_{name}")()
                self.events.append(event)
                time.sleep(self.config.fault_gap_s)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def _now(self) -> float:
        return time.monotonic() - self.started

    def _kill(self, name: str, pick: Any) -> FaultEvent:
        pid = _wait_pid(self.settings, pick)
        at = self._now()
        os.kill(pid, signal.SIGKILL)
        return FaultEvent(name, at, 0.0, f"pid {pid}")

    def _api(self) -> FaultEvent:
        return self._kill("api", lambda s: s["processes"]["api"])

    def _bridge(self) -> FaultEvent:
        return self._kill("bridge", lambda s: s["processes"]["bridge"])

    def _scheduler(self) -> FaultEvent:
        return self._kill("scheduler", lambda s: s["processes"]["scheduler"])

    def _worker_parent(self) -> FaultEvent:
        return self._kill("worker_parent", lambda s: s["pools"]["score"][0])

    def _worker_child(self) -> FaultEvent:
        main = _wait_pid(self.settings, lambda s: s["pools"]["parse"][0])
        deadline = time.monotonic() + 120
        children: list[int] = []
        while not children and time.monotonic() < deadline:
            children = [
                pid
                for pid in _children(main)
                if b"ops.pool_process" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
            time.sleep(0.5)
        at = self._now()
        os.kill(children[0], signal.SIGKILL)
        return FaultEvent("worker_child", at, 0.0, f"pid {children[0]} of {main}")

    def _wedge_bridge(self) -> FaultEvent:
        """SIGSTOP: alive but doing nothing; the supervisor must notice by its liveness."""
        pid = _wait_pid(self.settings, lambda s: s["processes"]["bridge"])
        at = self._now()
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + self.settings.liveness_timeout_s * 4 + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        replaced = not _alive(pid)
        if not replaced:
            os.kill(pid, signal.SIGCONT)
        return FaultEvent("wedge_bridge", at, self._now(), "restarted" if replaced else "NOT")

    def _service(self, name: str, freeze: bool = False) -> FaultEvent:
        at = self._now()
        if freeze:
            self.sandbox.freeze("kafka")
            time.sleep(self.config.freeze_s)
        self.sandbox.kill(name)
        time.sleep(self.config.outage_s)
        self.sandbox.restart(name)
        return FaultEvent(name if not freeze else "kafka_frozen", at, self._now())

    def _redis(self) -> FaultEvent:
        return self._service("redis")

    def _postgres(self) -> FaultEvent:
        return self._service("postgres")

    def _kafka(self) -> FaultEvent:
        return self._service("kafka")

    def _kafka_frozen(self) -> FaultEvent:
        return self._service("kafka", freeze=True)


# --- poison straight into Kafka ----------------------------------------------------------------


def _kafka_poison(jobs: list[tuple[uuid.UUID, uuid.UUID]], n: int) -> dict[str, bytes]:
    """``n`` records the bridge must dead-letter, by marker."""
    # (The API encrypts CNIC, e-mail and phone before Kafka, core.pii_crypto; the bridge stores
    # whatever those hold as ciphertext, so poison lives in the plaintext fields.)
    kinds = ["nul-name", "nul-resume", "undecodable", "surrogate", "unknown-job"]
    found: dict[str, bytes] = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        marker = f"poison-{uuid.uuid4().hex[:12]}"
        org_id, job_id = jobs[i % len(jobs)]
        name, email = f"Poison {marker}", f"{marker}@example.com"
        text = f"Python developer {marker}"
        if kind == "nul-name":
            name = f"Poi\x00son {marker}"
        elif kind == "nul-resume":
            text = f"Python\x00developer {marker}"
        elif kind == "unknown-job":
            job_id = uuid.uuid4()
        record = SubmittedApplication(
            application_id=uuid.uuid4(),
            organization_id=org_id,
            job_id=job_id,
            candidate=Candidate(cnic=f"{i:013d}", name=name, email=email),
            resume=ResumeRef(
                media_type="text/plain", inline_text=text, sha256="0" * 64, size=len(text)
            ),
            submitted_at=datetime.now(UTC),
        )
        value = record.model_dump_json()
        if kind == "undecodable":
            value = value[: len(value) // 2]
        elif kind == "surrogate":
            value = value.replace("Poison", "Poi\\ud800son", 1)
        found[marker] = value.encode()
    return found


def _produce(settings: Settings, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.local_kafka_bootstrap, acks="all")
    try:
        for value in values:
            producer.send(APPLICATIONS_SUBMITTED, value=value, key=uuid.uuid4().bytes)
        producer.flush(60)
    finally:
        producer.close()


def _dead_letters(settings: Settings) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.local_kafka_bootstrap, enable_auto_commit=False
    )
    try:
        parts = [TopicPartition(DEAD_LETTER, p) for p in consumer.partitions_for_topic(DEAD_LETTER)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(parts)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                break
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(json.loads(record.value) for record in batch)
        return found
    finally:
        consumer.close()


# --- one run -----------------------------------------------------------------------------------


def _create_jobs(settings: Settings) -> list[tuple[uuid.UUID, uuid.UUID]]:
    jobs = []
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        for o in range(2):
            org_id = uuid.uuid4()
            conn.execute(
                "INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)",
                (org_id, f"Chaos {o}", f"chaos-{org_id.hex[:12]}"),
            )
            for j in range(2):
                job_id = uuid.uuid4()
                conn.execute(
                    "INSERT INTO jobs (id, organization_id, title, description, tier)"
                    " VALUES (%s, %s, %s, %s, 'basic')",
                    (job_id, org_id, f"Backend Engineer {j}", "Python services on PostgreSQL"),
                )
                conn.execute(
                    "INSERT INTO screening_criteria (organization_id, job_id, version, criteria)"
                    " VALUES (%s, %s, 1, %s)",
                    (org_id, job_id, Jsonb(EXAMPLE_CRITERIA)),
                )
                jobs.append((org_id, job_id))
    return jobs


def _final_counts(settings: Settings, ids: list[str]) -> dict[str, int]:
    try:
        with psycopg.connect(settings.effective_database_url, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM applications WHERE id = ANY(%s::uuid[])"
                " GROUP BY status",
                (ids,),
            ).fetchall()
    except psycopg.OperationalError:
        return {}
    return {str(status): int(n) for status, n in rows}


def run_chaos(config: ChaosConfig, source: Settings | None = None, log: Any = print) -> ChaosReport:
    """One chaos run in a fresh sandbox; see the module docstring."""
    source = source or get_settings()
    report = ChaosReport()
    with Sandbox(source) as sandbox:
        settings = sandbox.settings
        log(f"  sandbox services starting in {sandbox.home}")
        sandbox.up()
        migrate(settings)
        ensure_topics(settings)
        jobs = _create_jobs(settings)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        # The clients stand for many candidates but all submit from 127.0.0.1: lift the
        # per-address submission limit (30/min), as the demo does; the per-IP limit stays.
        limits = {"PVARA_RATE_LIMIT_SUBMIT_PER_MIN": "0"}
        env = sandbox.env(dict(os.environ), **{**limits, **config.env})
        up_log = (settings.home / "up.log").open("ab")
        platform = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "up", "--no-services", "--port", str(port)],
            env=env,
            stdout=up_log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _run(config, sandbox, platform, base, jobs, report, log)
        finally:
            platform.send_signal(signal.SIGTERM)
            try:
                platform.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(platform.pid, signal.SIGKILL)
            up_log.close()
            if config.keep_log is not None:
                config.keep_log.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(settings.home / "up.log", config.keep_log)
            for pid in _processes_of(sandbox.home):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    return report


def _run(
    config: ChaosConfig,
    sandbox: Sandbox,
    platform: subprocess.Popen[bytes],
    base: str,
    jobs: list[tuple[uuid.UUID, uuid.UUID]],
    report: ChaosReport,
    log: Any,
) -> None:
    settings = sandbox.settings
    deadline = time.monotonic() + 240
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health/ready", timeout=5).status_code == 200:
                break
        if time.monotonic() > deadline or platform.poll() is not None:
            raise RuntimeError(f"the platform did not become ready; see {settings.home}/up.log")
        time.sleep(0.5)
    _wait_pid(settings, lambda s: min(len(s["pools"][p]) for p in POOLS) and s["pools"]["score"][0])
    log("  platform ready; submitting and breaking things")

    mix = {TEXT: 0.8, PDF: 0.1, DOCX: 0.1}
    samples = generate_samples(config.applications + config.api_poison, seed=config.seed, mix=mix)
    items = [_Item(s, jobs[i % len(jobs)][1]) for i, s in enumerate(samples)]
    poison_kinds = sorted(_API_POISON)
    for i in range(config.api_poison):
        item = items[config.applications + i]
        item.poison = poison_kinds[i % len(poison_kinds)]
    # Poison spread through the stream.
    step = max(1, config.applications // (config.api_poison + 1))
    ordered = items[: config.applications]
    for i, poison in enumerate(items[config.applications :]):
        ordered.insert((i + 1) * step + i, poison)
    kafka_poison = _kafka_poison(jobs, config.kafka_poison)
    poison_values = list(kafka_poison.values())
    thirds = [poison_values[i::3] for i in range(3)]

    started = time.monotonic()
    clients = _Clients(base, ordered, config)
    faults = _Faults(sandbox, config, started)
    client_thread = threading.Thread(target=clients.run, daemon=True)
    fault_thread = threading.Thread(target=faults.run, daemon=True)
    client_thread.start()
    fault_thread.start()
    _produce(settings, thirds[0])
    sent_poison = 1
    while client_thread.is_alive() or fault_thread.is_alive():
        elapsed = time.monotonic() - started
        if sent_poison < 3 and not faults.done.is_set() and elapsed > 60 * sent_poison:
            with contextlib.suppress(Exception):  # Kafka may be down right now: next time
                _produce(settings, thirds[sent_poison])
                sent_poison += 1
        time.sleep(1)
    for values in thirds[sent_poison:]:
        _produce(settings, values)
    if faults.error is not None:
        raise faults.error
    report.submit_s = clients.finished_at - started
    report.faults = faults.events
    last_fault = max([0.0, *(max(f.at_s, f.restored_s) for f in faults.events)])
    report.last_fault_s = last_fault
    log(f"  submissions done in {report.submit_s:.0f} s; faults done; draining")

    clean = {app_id: item for app_id, item in clients.accepted.items() if item.poison is None}
    ids = list(clean)
    drained_at = None
    wait_until = time.monotonic() + config.drain_timeout_s
    counts: dict[str, int] = {}
    while time.monotonic() < wait_until:
        counts = _final_counts(settings, ids)
        if sum(n for s, n in counts.items() if s in _FINAL) >= len(ids):
            drained_at = time.monotonic() - started
            break
        time.sleep(1)
    report.drain_after_last_fault_s = (
        max(0.0, drained_at - last_fault) if drained_at is not None else None
    )
    report.drain_after_last_submission_s = (
        max(0.0, drained_at - report.submit_s) if drained_at is not None else None
    )
    report.total_s = time.monotonic() - started
    _collect(config, settings, clients, clean, kafka_poison, jobs, counts, report)
    state = _state(settings)
    report.supervisor_restarts = {
        k: int(v) for k, v in state.get("restarts", {}).items() if isinstance(v, int)
    }
    tree = _descendants(int(state.get("supervisor", platform.pid)))
    report.orphans = sorted(_processes_of(sandbox.home) - tree - {platform.pid})


def _collect(
    config: ChaosConfig,
    settings: Settings,
    clients: _Clients,
    clean: dict[str, _Item],
    kafka_poison: dict[str, bytes],
    jobs: list[tuple[uuid.UUID, uuid.UUID]],
    counts: dict[str, int],
    report: ChaosReport,
) -> None:
    report.submitted = config.applications
    report.accepted = len(clean)
    report.refused_clean = [
        f"{status} {code}" for item, status, code in clients.refused if item.poison is None
    ]
    report.gave_up = clients.gave_up
    report.connection_errors = clients.counts["connection_errors"]
    report.unavailable_503 = clients.counts["unavailable_503"]
    report.server_errors_5xx = clients.counts["server_errors_5xx"]
    report.api_poison = config.api_poison
    report.api_poison_refused = sum(
        1
        for item, status, code in clients.refused
        if item.poison is not None and (status, code) == (400, "invalid_value")
    )
    report.statuses = counts
    report.final = sum(n for s, n in counts.items() if s in _FINAL)
    in_db = sum(counts.values())
    report.lost = len(clean) - in_db
    report.stuck = in_db - report.final
    job_ids = [job_id for _, job_id in jobs]
    with psycopg.connect(settings.effective_database_url) as conn:
        row = conn.execute(
            "SELECT count(*) - count(DISTINCT id) FROM applications WHERE job_id = ANY(%s)",
            (job_ids,),
        ).fetchone()
        report.duplicate_rows = int(row[0]) if row else 0
        row = conn.execute(
            "SELECT count(*) FROM (SELECT payload->>'application_id' FROM event_outbox"
            "  WHERE topic = 'applications.screened' AND job_id = ANY(%s)"
            "  GROUP BY 1 HAVING count(*) > 1) d",
            (job_ids,),
        ).fetchone()
        report.duplicate_scores = int(row[0]) if row else 0
        rows = conn.execute(
            "SELECT split_part(status_reason, ':', 1) AS why, count(*) FROM applications"
            " WHERE id = ANY(%s::uuid[]) AND status = 'parse_failed' GROUP BY 1",
            (list(clean),),
        ).fetchall()
        report.parse_failures = {str(why): int(n) for why, n in rows}
    letters = _dead_letters(settings)
    report.dead_letters_kafka = len(letters)
    report.kafka_poison = len(kafka_poison)
    report.kafka_poison_dead_lettered = sum(
        1 for marker in kafka_poison if any(marker in letter.get("value", "") for letter in letters)
    )
    client = redis.Redis.from_url(settings.effective_redis_url)
    report.dead_letters_queues = {
        pool: int(client.zcard(f"{NAMESPACE}:{pool}.XQ")) for pool in POOLS
    }
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=ChaosConfig.applications)
    parser.add_argument("--clients", type=int, default=ChaosConfig.clients)
    parser.add_argument("--rate", type=float, default=ChaosConfig.rate)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--json", action="store_true", help="also print each report as JSON")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the baseline run (same load, no faults) that the runs are compared with",
    )
    parser.add_argument(
        "--logs",
        default=str(get_settings().home / "chaos"),
        help="folder for each run's `pvara up` log (default: <home>/chaos)",
    )
    args = parser.parse_args()
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip())
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    config = ChaosConfig(
        applications=args.applications, clients=args.clients, rate=args.rate, faults=faults
    )
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    print(
        f"chaos: {config.applications} applications (80 % JSON, 20 % PDF/DOCX multipart), "
        f"{config.clients} clients at {config.rate}/s, faults: {', '.join(faults)}; "
        f"{args.runs} run(s)"
    )
    verdicts = []
    logs = Path(args.logs)
    baseline: ChaosReport | None = None
    if not args.no_baseline:
        print("\nbaseline (same load, no faults):")
        quiet = replace(config, faults=(), keep_log=logs / "baseline.log")
        baseline = run_chaos(quiet, log=lambda m: print(m, flush=True))
        for line in baseline.lines():
            print(line)
    for run in range(1, args.runs + 1):
        print(f"\nrun {run}:")
        config.keep_log = logs / f"run-{run}.log"
        report = run_chaos(config, log=lambda m: print(m, flush=True))
        for line in report.lines():
            print(line)
        if args.json:
            print(json.dumps(asdict(report), default=str))
        if baseline is not None and baseline.drain_after_last_submission_s is not None:
            chaos_s = report.total_s
            print(
                f"  vs baseline            run {chaos_s:.0f} s vs {baseline.total_s:.0f} s"
                f" ({chaos_s / max(baseline.total_s, 1e-9):.2f}x), all final"
                f" {_seconds(report.drain_after_last_submission_s)} vs"
                f" {_seconds(baseline.drain_after_last_submission_s)} after the last submission"
            )
        verdicts.append(report.ok())
    print(f"\n{sum(verdicts)}/{len(verdicts)} runs passed")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
