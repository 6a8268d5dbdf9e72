"""``pvara api --workers N``: N processes serve the same port (the API is stateless)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg

from core.settings import Settings
from ops.processes import Child, free_port, pvara_command, wait_for_http
from tests.conftest import create_org_and_job


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _is_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_two_api_processes_accept_submissions_on_one_port(
    services_up: Settings, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    job = create_org_and_job(db).job_id
    port = free_port()
    env = {**os.environ, "PVARA_API_PORT": str(port)}
    api = Child("api-workers", pvara_command("api", "--workers", "2"), env, tmp_path)
    try:
        assert wait_for_http(f"http://127.0.0.1:{port}/health/ready", 240), api.log_path.read_text()
        assert len([p for p in _children(api.proc.pid) if _is_worker(p)]) == 2
        url = f"http://127.0.0.1:{port}/api/v1/jobs/{job}/applications"
        with httpx.Client(timeout=30) as client:
            for _ in range(4):
                cnic = f"{uuid.uuid4().int % 10**13:013d}"
                response = client.post(
                    url,
                    json={
                        "candidate_cnic": cnic,
                        "candidate_name": "Two Processes",
                        "candidate_email": f"w{cnic}@example.com",
                        "resume_text": "Python and PostgreSQL developer.",
                    },
                )
                assert response.status_code == 202, response.text
    finally:
        api.stop()
    assert not any(_is_worker(p) for p in _children(api.proc.pid))
