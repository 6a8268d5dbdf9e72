"""The load of bench/pipeline.py: submits applications at a fixed offered rate, open loop.

Run by bench/pipeline.py in its own process (never inside a server's process):

    python bench/_pipeline_load.py SAMPLES.json CONFIG.json RESULT.json

Arrivals are scheduled at ``t0 + i / rate`` whatever the server answers (open loop: a slow
server builds a backlog instead of slowing the load down), over a pool of keep-alive HTTP/1.1
connections. Each submission is a new candidate, and each résumé file gets bytes of its own
(a PDF comment after ``%%EOF``, a ZIP comment in a DOCX), so the blob store stores every
upload as the real ingress would. The client is a few lines of asyncio on purpose: a full
HTTP library costs more CPU per request than the server it measures, on the same cores.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PDF = "application/pdf"
TEXT = "text/plain"


@dataclass(frozen=True)
class Sample:
    """One base résumé (bench/pipeline.py writes them as JSON rows, the bytes in base64)."""

    media_type: str
    filename: str
    data: bytes
    text: str


def unique_bytes(sample: Sample, tag: bytes) -> bytes:
    """The sample's file with ``tag`` added where readers ignore it."""
    if sample.media_type == PDF:
        return sample.data + b"\n%" + tag + b"\n"
    # DOCX: the end-of-central-directory record's comment (the generated files have none).
    data = sample.data
    if data[-22:-18] != b"PK\x05\x06":
        return data
    return data[:-2] + len(tag).to_bytes(2, "little") + tag


def multipart(
    fields: dict[str, str], filename: str, media_type: str, data: bytes
) -> tuple[bytes, bytes]:
    """The Content-Type header value and the body of a multipart/form-data request."""
    boundary = b"pvarabench" + uuid.uuid4().hex.encode()
    parts = []
    for name, value in fields.items():
        parts.append(
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="'
            + name.encode()
            + b'"\r\n\r\n'
            + value.encode()
            + b"\r\n"
        )
    parts.append(
        b"--"
        + boundary
        + b'\r\nContent-Disposition: form-data; name="resume"; filename="'
        + filename.encode()
        + b'"\r\nContent-Type: '
        + media_type.encode()
        + b"\r\n\r\n"
        + data
        + b"\r\n"
    )
    parts.append(b"--" + boundary + b"--\r\n")
    return b"multipart/form-data; boundary=" + boundary, b"".join(parts)


class Connection:
    """One keep-alive HTTP/1.1 connection; answers carry Content-Length (uvicorn's do)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, content_type: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            b"POST "
            + path.encode()
            + b" HTTP/1.1\r\nHost: "
            + self.host.encode()
            + b"\r\nContent-Type: "
            + content_type
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        self.writer.write(head + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            length = 0
            close = False
            while True:
                line = await self.reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise
        if close:
            self.close()
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


async def run(samples: list[Sample], config: dict[str, Any]) -> dict[str, Any]:
    host, port = config["host"], int(config["port"])
    rate, seconds = float(config["rate"]), float(config["seconds"])
    jobs: list[str] = config["jobs"]
    prefix: int = int(config["cnic_prefix"])
    total = int(rate * seconds)
    idle: list[Connection] = []
    opened = 0
    limit = int(config.get("connections", 512))
    gate = asyncio.Semaphore(limit)
    statuses: dict[str, int] = {}
    http_ms: list[float] = []
    behind_ms: list[float] = []
    accepted: list[tuple[str, float]] = []

    async def one(i: int, due: float) -> None:
        nonlocal opened
        sample = samples[i % len(samples)]
        job = jobs[i % len(jobs)]
        cnic = f"{prefix + i:013d}"
        fields = {
            "candidate_cnic": cnic,
            "candidate_name": f"Bench Candidate {i}",
            "candidate_email": f"bench{cnic}@example.com",
        }
        if sample.media_type == TEXT:
            content_type = b"application/json"
            body = json.dumps({**fields, "resume_text": sample.text}).encode()
        else:
            data = unique_bytes(sample, f"pvara-bench-{cnic}".encode())
            content_type, body = multipart(fields, sample.filename, sample.media_type, data)
        async with gate:
            started = time.time()
            behind_ms.append((started - due) * 1000)
            for attempt in (1, 2):
                conn = idle.pop() if idle and attempt == 1 else None
                reused = conn is not None
                if conn is None:
                    opened += 1
                    conn = Connection(host, port)
                try:
                    status, payload = await conn.request(
                        f"/api/v1/jobs/{job}/applications", content_type, body
                    )
                except (OSError, asyncio.IncompleteReadError) as exc:
                    # The server closes idle keep-alive connections: a request that met a
                    # closed one is sent again on a new connection (the id makes it harmless).
                    if reused and attempt == 1:
                        continue
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                    return
                finally:
                    if conn.writer is not None:
                        idle.append(conn)
                break
        http_ms.append((time.time() - started) * 1000)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status in (200, 202):
            accepted.append((json.loads(payload)["application_id"], started))

    t0 = time.time() + 0.5
    print(f"START {t0:.6f}", flush=True)
    tasks = []
    for i in range(total):
        due = t0 + i / rate
        pause = due - time.time()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.ensure_future(one(i, due)))
    sent_until = time.time()
    print(f"SENT {sent_until:.6f}", flush=True)
    _, pending = await asyncio.wait(tasks, timeout=float(config.get("grace_s", 30)))
    for task in pending:
        task.cancel()
    for conn in idle:
        conn.close()
    ok = statuses.get("202", 0) + statuses.get("200", 0)
    return {
        "t0": t0,
        "sent_until": sent_until,
        "offered": total,
        "offered_rate": total / max(sent_until - t0, 1e-9),
        "accepted": ok,
        "statuses": statuses,
        "unanswered": len(pending),
        "connections_opened": opened,
        "http_p50_ms": _percentile(http_ms, 50),
        "http_p99_ms": _percentile(http_ms, 99),
        "behind_p99_ms": _percentile(behind_ms, 99),
        "accepted_ids": accepted,
    }


def main() -> int:
    samples_path, config_path, result_path = (Path(a) for a in sys.argv[1:4])
    samples = [
        Sample(media_type, filename, base64.b64decode(data), text)
        for media_type, filename, data, text in json.loads(samples_path.read_text())
    ]
    config = json.loads(config_path.read_text())
    try:
        import uvloop

        result = uvloop.run(run(samples, config))
    except ImportError:
        result = asyncio.run(run(samples, config))
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
